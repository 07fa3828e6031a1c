// The app's reactive state (Svelte 5 runes) over the BrowserPeer: connection status, the Library,
// files being added, storage figures, and whether a new version is waiting.

import { Workbox } from 'workbox-window';
import type { LibraryEntry } from '../../src/store/library.js';
import { BrowserPeer, type PeerStatus } from './browser-peer.js';
import { addCollection, collectionName, type PickedFile } from './collection-peer.js';
import { consoleLog } from '../../src/log.js';

export interface Upload {
  readonly id: number;
  readonly name: string;
  readonly size: number;
  bytesRead: number;
  entry?: LibraryEntry;
  error?: string;
  /** Stops the add; its blocks are released (add-cleanup.ts). */
  readonly controller?: AbortController;
  cancelled?: boolean;
}

export interface StorageInfo {
  used?: number;
  quota?: number;
  persisted?: boolean;
  /** The answer to our request for persistent storage, once asked. */
  persistAnswer?: 'granted' | 'denied' | 'unsupported';
}

let nextUpload = 1;
const TAB_LOCK = 'mycel-peer';

export class AppState {
  peer = $state<BrowserPeer | undefined>();
  startError = $state<string | undefined>();
  status = $state<PeerStatus>({ signaling: 'connecting', peers: 0 });
  files = $state<LibraryEntry[]>([]);
  uploads = $state<Upload[]>([]);
  storage = $state<StorageInfo>({});
  updateWaiting = $state(false);
  /** The part after # when it holds a link. */
  fragment = $state(location.hash.slice(1));
  private workbox: Workbox | undefined;

  /** Only one tab of the app runs the peer (one ledger over the shared IndexedDB). */
  tab = $state<'starting' | 'active' | 'elsewhere' | 'moved'>('starting');

  async start(): Promise<void> {
    addEventListener('hashchange', () => (this.fragment = location.hash.slice(1)));
    // Leaving during an add asks first. (An add abandoned anyway, the tab closed, leaves the
    // blocks it stored so far: no file names them, and nothing collects them yet.)
    addEventListener('beforeunload', (event) => {
      if (this.adding) event.preventDefault();
    });
    this.registerServiceWorker();
    if (navigator.locks && !(await this.takeLock(false))) {
      this.tab = 'elsewhere';
      await this.refreshStorage();
      return;
    }
    await this.startPeer();
  }

  /** Takes the app over from the tab that runs it now. */
  async useHere(): Promise<void> {
    if (navigator.locks) await this.takeLock(true);
    await this.startPeer();
  }

  /**
   * Holds the Web Lock that says "this tab runs Mycel" for as long as the tab lives. Resolves
   * false if another tab holds it (unless `steal`). If a later tab steals it, this one stops.
   */
  private takeLock(steal: boolean): Promise<boolean> {
    return new Promise((resolve) => {
      navigator.locks
        .request(TAB_LOCK, steal ? { steal: true } : { ifAvailable: true }, async (lock) => {
          if (!lock) return resolve(false);
          resolve(true);
          // Held until the tab goes away or another tab steals it.
          await new Promise<void>(() => {
            // Never settles: the lock is released only with the tab.
          });
        })
        .catch(() => {
          // Stolen by another tab.
          const peer = this.peer;
          this.peer = undefined;
          this.tab = 'moved';
          peer?.close().catch(() => {
            // This tab no longer runs the peer: nothing is left to tell.
          });
        });
    });
  }

  private async startPeer(): Promise<void> {
    this.tab = 'active';
    try {
      // localStorage['mycel:debug'] = '1' logs the network layer to the console.
      const debug = localStorage.getItem('mycel:debug') !== null;
      const peer = await BrowserPeer.start({ log: debug ? consoleLog : undefined });
      peer.on('status', (status) => (this.status = status));
      peer.on('library', (files) => {
        this.files = files;
        this.refreshStorage().catch(() => {
          // Storage figures are only shown: the next refresh tries again.
        });
      });
      this.peer = peer;
      this.status = peer.status;
      this.files = await peer.entries();
    } catch (error) {
      this.startError = (error as Error).message;
    }
    await this.refreshStorage();
  }

  private registerServiceWorker(): void {
    if (!('serviceWorker' in navigator)) return;
    const wb = new Workbox('/sw.js', { scope: '/' });
    wb.addEventListener('waiting', () => (this.updateWaiting = true));
    wb.register().catch(() => {
      // Without a service worker the app still runs; downloads and views say what they need.
    });
    this.workbox = wb;
  }

  /** Lets the waiting version take over; the page reloads when it does. */
  applyUpdate(): void {
    navigator.serviceWorker.addEventListener('controllerchange', () => location.reload(), { once: true });
    this.workbox?.messageSkipWaiting();
  }

  async refreshStorage(): Promise<void> {
    const estimate = await navigator.storage?.estimate?.().catch(() => undefined);
    const persisted = await navigator.storage?.persisted?.().catch(() => undefined);
    this.storage = { ...this.storage, used: estimate?.usage, quota: estimate?.quota, persisted };
  }

  async requestPersistence(): Promise<void> {
    if (!navigator.storage?.persist) {
      this.storage = { ...this.storage, persistAnswer: 'unsupported' };
      return;
    }
    const granted = await navigator.storage.persist().catch(() => false);
    this.storage = { ...this.storage, persisted: granted, persistAnswer: granted ? 'granted' : 'denied' };
  }

  async add(files: Iterable<File>): Promise<void> {
    const peer = this.peer;
    if (!peer) return;
    await Promise.all(
      [...files].map(async (file) => {
        const controller = new AbortController();
        const upload: Upload = { id: nextUpload++, name: file.name, size: file.size, bytesRead: 0, controller };
        this.uploads = [upload, ...this.uploads];
        const live = () => this.uploads.find((u) => u.id === upload.id)!;
        try {
          const entry = await peer.addFile(file, ({ bytesRead }) => (live().bytesRead = bytesRead), controller.signal);
          live().bytesRead = file.size;
          live().entry = entry;
        } catch (error) {
          if (controller.signal.aborted) live().cancelled = true;
          else live().error = (error as Error).message;
        }
        await this.refreshStorage();
      }),
    );
  }

  /** Several files, or a folder: one collection, one link, one row. */
  async addCollection(picked: PickedFile[]): Promise<void> {
    const peer = this.peer;
    if (!peer || picked.length === 0) return;
    const size = picked.reduce((n, p) => n + p.file.size, 0);
    const controller = new AbortController();
    const upload: Upload = {
      id: nextUpload++,
      name: collectionName(picked.map((p) => p.path)),
      size,
      bytesRead: 0,
      controller,
    };
    this.uploads = [upload, ...this.uploads];
    const live = () => this.uploads.find((u) => u.id === upload.id)!;
    try {
      live().entry = await addCollection(
        peer,
        picked,
        (bytesRead) => (live().bytesRead = bytesRead),
        controller.signal,
      );
      live().bytesRead = size;
    } catch (error) {
      if (controller.signal.aborted) live().cancelled = true;
      else live().error = (error as Error).message;
    }
    await this.refreshStorage();
  }

  /** Adds still running: leaving the page now would abandon them. */
  get adding(): boolean {
    return this.uploads.some((u) => !u.entry && !u.error && !u.cancelled);
  }

  dismissUpload(id: number): void {
    this.uploads = this.uploads.filter((u) => u.id !== id);
  }
}

/** Waits (up to `timeoutMs`) for a service worker to control this page: it serves file downloads. */
export async function serviceWorkerControl(timeoutMs = 10_000): Promise<boolean> {
  if (!('serviceWorker' in navigator)) return false;
  if (navigator.serviceWorker.controller) return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(Boolean(navigator.serviceWorker.controller)), timeoutMs);
    navigator.serviceWorker.addEventListener(
      'controllerchange',
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      { once: true },
    );
  });
}

/** Starts an ordinary browser download of `url` (served by the service worker as an attachment). */
export function startDownload(url: string): void {
  const frame = document.createElement('iframe');
  frame.hidden = true;
  frame.src = url;
  document.body.append(frame);
  setTimeout(() => frame.remove(), 60_000);
}
