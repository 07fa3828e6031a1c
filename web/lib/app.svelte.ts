// The app's reactive state (Svelte 5 runes) over the peer (run by this tab or reached through the tab
// that runs it): connection status, the Library, files being added, storage figures, and whether a
// new version is waiting.

import { Workbox } from 'workbox-window';
import type { LibraryEntry } from '../../src/store/library.js';
import { BrowserPeer, type PeerStatus, type WipeNotice } from './browser-peer.js';
import { pageAuditInterval } from './page-audit.js';
import type { KeepingSettings, KeepingState } from './keeper.js';
import { feedStreams } from './stream-feeder.js';
import { CLAIM_ME, type StreamOffer } from './stream-protocol.js';
import { serveTabs, TabClient, type PeerApi } from './tab-link.js';
import { collectionName, type PickedFile } from './collection-peer.js';
import { SHARE_PARAM, takeShared } from './shared-files.js';
import { consoleLog } from '../../src/log.js';
import { Downloads } from './downloads.svelte.js';
import { RateMeter, type Rate } from './transfer-rate.js';
import { DEFAULT_ADD_CHOICES, termsOf, type AddChoices } from './add-terms.js';

export interface Upload {
  readonly id: number;
  readonly name: string;
  readonly size: number;
  bytesRead: number;
  /** Speed and time left, from the recent bytes read. */
  rate: Rate;
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
/** While bytes move (an add, a download), the storage figure is read again at most this often. */
const STORAGE_REFRESH_MS = 1_000;
/** While the server is not reached, how often the page asks the browser again whether it is online. */
const ONLINE_RECHECK_MS = 2_000;
/** How long the look at the network waits for an answer from the server. */
const ONLINE_PROBE_MS = 3_000;
/** A path the server answers and the service worker never does (it is not precached). */
const HEALTH_PATH = '/health';
/** The browser's answer to our one request for persistent storage (asked once, remembered). */
const PERSIST_ANSWER_KEY = 'mycel:persist-answer';

function savedPersistAnswer(): StorageInfo['persistAnswer'] {
  try {
    const saved = localStorage.getItem(PERSIST_ANSWER_KEY);
    return saved === 'granted' || saved === 'denied' || saved === 'unsupported' ? saved : undefined;
  } catch {
    return undefined;
  }
}

export class AppState {
  /** The peer: run by this tab, or by another tab and reached through it (tab-link.ts). */
  peer = $state<PeerApi | undefined>();
  startError = $state<string | undefined>();
  status = $state<PeerStatus>({ signaling: 'connecting', peers: 0, relayed: 0, direct: 0 });
  files = $state<LibraryEntry[]>([]);
  uploads = $state<Upload[]>([]);
  storage = $state<StorageInfo>({ persistAnswer: savedPersistAnswer() });
  /** Keeping copies for others (keeper.ts), once the peer said. */
  keeping = $state<KeepingState | undefined>();
  /** A wipe of this browser's storage noticed at start. */
  wipe = $state<WipeNotice | undefined>();
  updateWaiting = $state(false);
  /** Whether this device reaches the network (the browser says so, and the server answers). */
  online = $state(navigator.onLine);
  /** Why files sent through the share sheet were not added, if they were not. */
  shareProblem = $state<string | undefined>();
  /** Downloads this tab started, with their progress. */
  readonly downloads = new Downloads(startDownload, () => this.storageFollows());
  private lastStorageRefresh = 0;
  /** Copies and expiry chosen for the next adds. */
  addTerms = $state<AddChoices>(DEFAULT_ADD_CHOICES);
  /** The part after # when it holds a link. */
  fragment = $state(location.hash.slice(1));
  private workbox: Workbox | undefined;

  /**
   * One tab runs the peer (one ledger over the shared IndexedDB, one signaling identity); every
   * other tab uses it through that tab, and takes over when it closes.
   */
  tab = $state<'starting' | 'runs-peer' | 'uses-other-tab'>('starting');
  /** Set once this tab holds the lock: the peer it starts (streams wait for it). */
  private ownPeer: Promise<BrowserPeer> | undefined;
  private client: TabClient | undefined;

  async start(): Promise<void> {
    addEventListener('hashchange', () => (this.fragment = location.hash.slice(1)));
    addEventListener('online', () => (this.online = true));
    addEventListener('offline', () => (this.online = false));
    // A page that loaded offline may hear no 'offline' event, and navigator.onLine may still say
    // true: while the server is not reached, the page looks for itself.
    const recheck = () => {
      if (this.status.signaling !== 'connected') this.recheckOnline().catch(() => (this.online = false));
    };
    recheck();
    setInterval(recheck, ONLINE_RECHECK_MS);
    // Leaving during an add asks first. (An add abandoned anyway, the tab closed, leaves the
    // blocks it stored so far: no file names them, and nothing collects them yet.)
    addEventListener('beforeunload', (event) => {
      if (this.adding) event.preventDefault();
    });
    this.registerServiceWorker();
    feedStreams((offer) => this.readRange(offer));
    if (!navigator.locks || (await this.takeLock(true))) {
      await this.startPeer();
      await this.receiveShared();
      return;
    }
    this.useOtherTab();
    await this.receiveShared();
    // Waits in line: when the tab that runs the peer closes, this one takes over, without a reload.
    this.takeLock(false)
      .then(() => {
        this.client?.close();
        this.client = undefined;
        return this.startPeer();
      })
      .catch((error: unknown) => (this.startError = (error as Error).message));
    await this.refreshStorage();
  }

  /** The service worker wants a range of a file not held whole: only the tab that runs the peer reads it. */
  private readRange(offer: StreamOffer): AsyncIterator<Uint8Array> | undefined {
    const own = this.ownPeer;
    if (!own) return undefined;
    return (async function* () {
      yield* (await own).readRange(offer.root, offer.start, offer.end);
    })();
  }

  /**
   * Holds the Web Lock that says "this tab runs Mycel" for as long as the tab lives. With
   * `ifAvailable`, resolves false at once if another tab holds it; otherwise waits for it.
   */
  private takeLock(ifAvailable: boolean): Promise<boolean> {
    return new Promise((resolve, reject) => {
      navigator.locks
        .request(TAB_LOCK, { ifAvailable }, async (lock) => {
          if (!lock) return resolve(false);
          resolve(true);
          // Held until the tab goes away.
          await new Promise<void>(() => {
            // Never settles: the lock is released only with the tab.
          });
        })
        .catch(reject);
    });
  }

  private useOtherTab(): void {
    const client = new TabClient();
    client.on('status', (status) => (this.status = status));
    client.on('library', (files) => this.libraryChanged(files));
    this.client = client;
    this.peer = client;
    this.downloads.follow(client);
    this.tab = 'uses-other-tab';
    this.followKeeping(client);
  }

  /** Mirrors the keeping setting and any wipe notice of `peer`. */
  private followKeeping(peer: PeerApi): void {
    peer.on('keeping', (keeping) => (this.keeping = keeping));
    peer.on('wipe', (wipe) => (this.wipe = wipe));
    const shown = () => {
      // Only figures shown: the next event brings them.
    };
    peer.keeping().then((keeping) => (this.keeping = keeping), shown);
    peer.wipeStatus().then((wipe) => (this.wipe = wipe), shown);
  }

  private libraryChanged(files: LibraryEntry[]): void {
    this.files = files;
    // Once a person adds or pins something, the browser is asked to keep this origin's storage.
    if (files.some((f) => f.source === 'added' || f.pinned)) {
      this.askPersistenceOnce().catch(() => {
        // Asked again at the next change.
      });
    }
  }

  /** Saves the setting for keeping copies for others (through the peer, wherever it runs). */
  async setKeeping(settings: KeepingSettings): Promise<void> {
    const peer = this.peer;
    if (!peer) return;
    this.keeping = await peer.setKeeping(settings);
  }

  /**
   * Asks the browser once (ever, on this origin) to keep this origin's storage, remembers its
   * answer, and lets the peer announce itself as a persisted keeper if it was granted.
   */
  askPersistenceOnce(): Promise<void> {
    if (this.storage.persistAnswer || this.storage.persisted) return Promise.resolve();
    this.persistAsk ??= this.askPersistence().finally(() => (this.persistAsk = undefined));
    return this.persistAsk;
  }

  private persistAsk: Promise<void> | undefined;

  private async askPersistence(): Promise<void> {
    await this.requestPersistence();
    try {
      localStorage.setItem(PERSIST_ANSWER_KEY, this.storage.persistAnswer ?? 'denied');
    } catch {
      // Not remembered: asked again on the next visit.
    }
    if (this.storage.persisted) this.keeping = await this.peer?.announceKeeping();
    await this.refreshStorage();
  }

  private async startPeer(): Promise<void> {
    this.tab = 'runs-peer';
    this.peer = undefined;
    // localStorage['mycel:debug'] = '1' logs the network layer to the console.
    const debug = localStorage.getItem('mycel:debug') !== null;
    // localStorage['mycel:audit-every'] (ms) shortens the page's audits of its files' holders.
    this.ownPeer = BrowserPeer.start({
      log: debug ? consoleLog : undefined,
      auditIntervalMs: pageAuditInterval(localStorage),
    });
    try {
      const peer = await this.ownPeer;
      peer.on('status', (status) => (this.status = status));
      peer.on('library', (files) => {
        this.libraryChanged(files);
        this.refreshStorage().catch(() => {
          // Storage figures are only shown: the next refresh tries again.
        });
      });
      this.peer = peer;
      this.downloads.follow(peer);
      this.status = peer.status;
      this.followKeeping(peer);
      const entries = await peer.entries();
      this.libraryChanged(entries);
      // The plain list, not this.files: a reactive proxy cannot be posted to other tabs.
      serveTabs(peer, entries);
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
    askForControl().catch(() => {
      // `ready` waits until a worker is active and never rejects; a failed post changes nothing.
    });
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

  /** Online if the browser says so and a request to this page's server gets any answer at all. */
  private async recheckOnline(): Promise<void> {
    if (!navigator.onLine) {
      this.online = false;
      return;
    }
    await fetch(HEALTH_PATH, { cache: 'no-store', signal: AbortSignal.timeout(ONLINE_PROBE_MS) });
    this.online = true;
  }

  /** The storage figure follows a transfer: read again now and then while bytes move. */
  private storageFollows(): void {
    const now = Date.now();
    if (now - this.lastStorageRefresh < STORAGE_REFRESH_MS) return;
    this.lastStorageRefresh = now;
    this.refreshStorage().catch(() => {
      // Only a figure shown: the next tick reads it again.
    });
  }

  /** Records bytes read by an add: its speed and time left, and the storage figure. */
  private added(upload: Upload, meter: RateMeter, bytesRead: number): void {
    const live = this.uploads.find((u) => u.id === upload.id);
    if (!live) return;
    live.bytesRead = bytesRead;
    live.rate = meter.update(bytesRead, Date.now());
    this.storageFollows();
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
        const upload: Upload = {
          id: nextUpload++,
          name: file.name,
          size: file.size,
          bytesRead: 0,
          rate: {},
          controller,
        };
        this.uploads = [upload, ...this.uploads];
        const live = () => this.uploads.find((u) => u.id === upload.id)!;
        const meter = new RateMeter(file.size);
        try {
          const entry = await peer.addFile(
            file,
            ({ bytesRead }) => this.added(upload, meter, bytesRead),
            controller.signal,
            termsOf(this.addTerms),
          );
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
      rate: {},
      controller,
    };
    this.uploads = [upload, ...this.uploads];
    const live = () => this.uploads.find((u) => u.id === upload.id)!;
    const meter = new RateMeter(size);
    try {
      live().entry = await peer.addCollection(
        picked,
        (bytesRead) => this.added(upload, meter, bytesRead),
        controller.signal,
        termsOf(this.addTerms),
      );
      live().bytesRead = size;
    } catch (error) {
      if (controller.signal.aborted) live().cancelled = true;
      else live().error = (error as Error).message;
    }
    await this.refreshStorage();
  }

  /** What was picked or dropped: one file is shared as a file; several, or a folder, as one link. */
  addPicked(picked: PickedFile[]): Promise<void> {
    if (picked.length === 0) return Promise.resolve();
    const lone = picked.length === 1 && !picked[0]!.path.includes('/');
    return lone ? this.add([picked[0]!.file]) : this.addCollection(picked);
  }

  /** Files sent through the share sheet (see shared-files.ts) are added once the peer is there. */
  private async receiveShared(): Promise<void> {
    // eslint-disable-next-line svelte/prefer-svelte-reactivity -- read once, never rendered
    const id = new URLSearchParams(location.search).get(SHARE_PARAM);
    if (id === null) return;
    // The address goes back to the app's own, so a reload does not look for the share again.
    history.replaceState(null, '', location.pathname + location.hash);
    if (id === 'refused') {
      this.shareProblem = 'Nothing was shared: the share carried no files, or too many.';
      return;
    }
    const picked = await takeShared(id).catch(() => []);
    if (picked.length === 0) this.shareProblem = 'The shared files were no longer here: share them again.';
    await this.addPicked(picked);
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
/**
 * Why downloads and viewing cannot work on this page, or undefined where they can. Browsers run
 * service workers (which Mycel streams files through) only in a secure context: https, or
 * localhost. Reloading never changes that; the operator must serve the app over https.
 */
export function insecureContextReason(): string | undefined {
  if (globalThis.isSecureContext !== false) return undefined;
  return (
    `This page was opened over plain http (${location.origin}), so the browser does not let Mycel download or ` +
    'show files. Open it over https instead; whoever runs this server must serve it over https ' +
    '(mycel serve --tls-cert … --tls-key …, or behind a TLS proxy). On the server machine itself, http://localhost works.'
  );
}

/**
 * Once a worker is active, a page it does not control asks to be claimed: one that was still loading
 * when the worker activated was skipped by its clients.claim().
 */
async function askForControl(): Promise<void> {
  const registration = await navigator.serviceWorker.ready;
  if (!navigator.serviceWorker.controller) registration.active?.postMessage({ type: CLAIM_ME });
}

export async function serviceWorkerControl(timeoutMs = 10_000): Promise<boolean> {
  if (!('serviceWorker' in navigator)) return false;
  if (navigator.serviceWorker.controller) return true;
  askForControl().catch(() => {
    // The wait below ends by itself, claimed or not.
  });
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
