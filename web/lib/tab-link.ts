// Every tab of the app is a full client: one tab runs the peer (it holds the Web Lock, see
// app.svelte.ts) and answers the others over a BroadcastChannel. `PeerApi` is what the app's UI
// uses; the tab that runs the peer hands it the BrowserPeer itself, every other tab a `TabClient`
// that forwards each call to that tab and mirrors its status, Library and fetch progress.
//
// A call in flight when the peer's tab closes fails with UnavailableError (the UI says so; the
// user presses again, by then this or another tab runs the peer). Streams (view, download) do not
// go through here: the service worker hands them to whichever tab runs the peer, and resumes them
// with the next one (peer-stream.ts).

import { Emitter } from '../../src/net/emitter.js';
import { MycelError, RemoteTabError, UnavailableError, abortedBy, type MycelErrorCode } from '../../src/errors.js';
import type { BlockId } from '../../src/content/format.js';
import type { LibraryEntry } from '../../src/store/library.js';
import type { AddProgress, BrowserPeerEvents, FileInfo, PeerStatus, WipeNotice } from './browser-peer.js';
import type { KeepingSettings, KeepingState } from './keeper.js';
import type { LiveCopies } from './durability.js';
import type { CommitTerms } from '../../src/net/wire.js';
import type { LinkKind, PickedFile } from './collection-peer.js';

/** What the app's UI uses of the peer, wherever it runs. */
export interface PeerApi {
  readonly status: PeerStatus;
  entries(): Promise<LibraryEntry[]>;
  /** `terms`: the copies and expiry the person chose (sent with the commit). */
  addFile(
    file: File,
    onProgress?: (progress: AddProgress) => void,
    signal?: AbortSignal,
    terms?: CommitTerms,
  ): Promise<LibraryEntry>;
  /** Several files, or a folder: one collection, one link. */
  addCollection(
    picked: readonly PickedFile[],
    onProgress?: (bytesRead: number) => void,
    signal?: AbortSignal,
    terms?: CommitTerms,
  ): Promise<LibraryEntry>;
  openInfo(link: string): Promise<FileInfo>;
  /**
   * Resolves when someone holding `root` is online (or this device holds it whole).
   * @throws OfflineError, ServerUnreachableError, NoHolderError
   */
  checkAvailable(root: BlockId): Promise<void>;
  /** Opens a link as a file or a collection (listed); fetches report through 'progress'. */
  openLink(link: string): Promise<LinkKind>;
  /** Fetches a collection's file entry into IndexedDB, for the service worker to serve. */
  fetchEntry(link: string, index: number, signal?: AbortSignal): Promise<void>;
  /** Fetches a whole collection into IndexedDB: then this device holds it. */
  fetchCollection(link: string, signal?: AbortSignal): Promise<void>;
  /** Stops every fetch of `root` (a cancelled download); blocks already stored stay. */
  stopFetching(root: BlockId): Promise<void>;
  countCopies(root: BlockId): Promise<{ peers: number; here: boolean }>;
  pin(root: BlockId): Promise<void>;
  unpin(root: BlockId): Promise<void>;
  remove(root: BlockId): Promise<void>;
  /** Keeping copies for others: the setting and the files kept. */
  keeping(): Promise<KeepingState>;
  /** Saves the setting (off releases every copy kept for others). */
  setKeeping(settings: KeepingSettings): Promise<KeepingState>;
  /** Announces keeping again (after the browser granted persistent storage, say). */
  announceKeeping(): Promise<KeepingState>;
  /** A wipe of this browser's storage noticed at start, if any. */
  wipeStatus(): Promise<WipeNotice | undefined>;
  /** Live copies of each of `roots`, from a seed's report or signaling lookups. */
  liveCopies(roots: readonly BlockId[]): Promise<LiveCopies[]>;
  on<K extends keyof BrowserPeerEvents>(event: K, listener: (value: BrowserPeerEvents[K]) => void): () => void;
}

const CHANNEL = 'mycel-peer';

type Method =
  | 'entries'
  | 'addFile'
  | 'addCollection'
  | 'openInfo'
  | 'checkAvailable'
  | 'openLink'
  | 'fetchEntry'
  | 'fetchCollection'
  | 'stopFetching'
  | 'countCopies'
  | 'pin'
  | 'unpin'
  | 'remove'
  | 'keeping'
  | 'setKeeping'
  | 'announceKeeping'
  | 'wipeStatus'
  | 'liveCopies';
const METHODS: ReadonlySet<string> = new Set<Method>([
  'entries',
  'addFile',
  'addCollection',
  'openInfo',
  'checkAvailable',
  'openLink',
  'fetchEntry',
  'fetchCollection',
  'stopFetching',
  'countCopies',
  'pin',
  'unpin',
  'remove',
  'keeping',
  'setKeeping',
  'announceKeeping',
  'wipeStatus',
  'liveCopies',
]);

type Message =
  | { readonly t: 'hello' }
  | { readonly t: 'call'; readonly tab: string; readonly id: number; readonly method: Method; readonly args: unknown[] }
  | { readonly t: 'added'; readonly tab: string; readonly id: number; readonly progress: AddProgress }
  | { readonly t: 'cancel'; readonly tab: string; readonly id: number }
  | {
      readonly t: 'reply';
      readonly tab: string;
      readonly id: number;
      readonly value?: unknown;
      /** `name`: the error's class in the peer's tab, which tells apart errors sharing a code. */
      readonly error?: { readonly code?: MycelErrorCode; readonly name?: string; readonly message: string };
    }
  | { readonly t: 'ready'; readonly leader: string; readonly status: PeerStatus; readonly entries: LibraryEntry[] }
  | { readonly t: 'status'; readonly status: PeerStatus }
  | { readonly t: 'library'; readonly entries: LibraryEntry[] }
  | { readonly t: 'progress'; readonly progress: BrowserPeerEvents['progress'] }
  | { readonly t: 'keeping'; readonly keeping: KeepingState }
  | { readonly t: 'wipe'; readonly wipe: WipeNotice };

/** In the tab that runs the peer: answers the other tabs' calls and tells them what changes. */
export function serveTabs(peer: PeerApi, entries: LibraryEntry[]): () => void {
  const channel = new BroadcastChannel(CHANNEL);
  const post = (message: Message) => channel.postMessage(message);
  let library = entries;
  const leader = crypto.randomUUID();
  const offs = [
    peer.on('status', (status) => post({ t: 'status', status })),
    peer.on('library', (latest) => {
      library = latest;
      post({ t: 'library', entries: latest });
    }),
    peer.on('progress', (progress) => post({ t: 'progress', progress })),
    peer.on('keeping', (keeping) => post({ t: 'keeping', keeping })),
    peer.on('wipe', (wipe) => post({ t: 'wipe', wipe })),
  ];
  // Calls in progress for other tabs, by "tab:id": their Cancel (an add, a fetch) aborts them here.
  const adds = new Map<string, AbortController>();
  const run = (message: Extract<Message, { t: 'call' }>, signal: AbortSignal): Promise<unknown> => {
    const [a, b] = message.args as [unknown, unknown];
    const added = (progress: AddProgress) => post({ t: 'added', tab: message.tab, id: message.id, progress });
    switch (message.method) {
      case 'entries':
        return peer.entries();
      case 'addFile':
        return peer.addFile(a as File, added, signal, b as CommitTerms | undefined);
      case 'addCollection':
        return peer.addCollection(
          a as PickedFile[],
          (bytesRead) => added({ bytesRead, size: 0 }),
          signal,
          b as CommitTerms | undefined,
        );
      case 'openInfo':
        return peer.openInfo(String(a));
      case 'checkAvailable':
        return peer.checkAvailable(String(a));
      case 'openLink':
        return peer.openLink(String(a));
      case 'fetchEntry':
        return peer.fetchEntry(String(a), Number(b), signal);
      case 'fetchCollection':
        return peer.fetchCollection(String(a), signal);
      case 'stopFetching':
        return peer.stopFetching(String(a));
      case 'countCopies':
        return peer.countCopies(String(a));
      case 'pin':
        return peer.pin(String(a));
      case 'unpin':
        return peer.unpin(String(a));
      case 'remove':
        return peer.remove(String(a));
      case 'keeping':
        return peer.keeping();
      case 'setKeeping':
        return peer.setKeeping(a as KeepingSettings);
      case 'announceKeeping':
        return peer.announceKeeping();
      case 'wipeStatus':
        return peer.wipeStatus();
      case 'liveCopies':
        return peer.liveCopies((a as unknown[]).map(String));
    }
    return Promise.reject(new UnavailableError(`no such call: ${String(message.method)}`));
  };
  channel.onmessage = (event: MessageEvent<Message>) => {
    const message = event.data;
    if (message?.t === 'hello') {
      post({ t: 'ready', leader, status: peer.status, entries: library });
      return;
    }
    if (message?.t === 'cancel') {
      adds.get(`${message.tab}:${message.id}`)?.abort();
      return;
    }
    if (message?.t !== 'call' || !METHODS.has(message.method)) return;
    const key = `${message.tab}:${message.id}`;
    const controller = new AbortController();
    adds.set(key, controller);
    run(message, controller.signal)
      .then(
        (value) => post({ t: 'reply', tab: message.tab, id: message.id, value }),
        (error: unknown) => {
          const mycel = error instanceof MycelError ? error : undefined;
          const { message: text } = error as Error;
          const sent = { code: mycel?.code, name: mycel?.name, message: text };
          post({ t: 'reply', tab: message.tab, id: message.id, error: sent });
        },
      )
      .finally(() => adds.delete(key));
  };
  post({ t: 'ready', leader, status: peer.status, entries: library });
  return () => {
    for (const off of offs) off();
    for (const controller of adds.values()) controller.abort();
    channel.close();
  };
}

/** The error a call failed with in the peer's tab, as this tab sees it: same code, message and name. */
function remoteError(sent: { readonly code?: MycelErrorCode; readonly name?: string; readonly message: string }) {
  const error = new RemoteTabError(sent.code ?? 'UNAVAILABLE', sent.message);
  if (sent.name) error.name = sent.name;
  return error;
}

interface Pending {
  readonly message: Message;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  onProgress?: (progress: AddProgress) => void;
}

/** In every other tab: the peer of the tab that runs it, reached over the channel. */
export class TabClient extends Emitter<BrowserPeerEvents> implements PeerApi {
  private readonly channel = new BroadcastChannel(CHANNEL);
  private readonly tab = crypto.randomUUID();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private leader: string | undefined;
  status: PeerStatus = { signaling: 'connecting', peers: 0, relayed: 0, direct: 0 };

  constructor() {
    super();
    this.channel.onmessage = (event: MessageEvent<Message>) => this.receive(event.data);
    this.channel.postMessage({ t: 'hello' } satisfies Message);
  }

  private receive(message: Message): void {
    switch (message?.t) {
      case 'ready':
        // A tab runs the peer (a new one, if the last closed): calls it has not seen are sent to it.
        if (message.leader !== this.leader) {
          this.leader = message.leader;
          for (const call of this.pending.values()) this.channel.postMessage(call.message);
        }
        this.status = message.status;
        this.emit('status', message.status);
        this.emit('library', message.entries);
        return;
      case 'status':
        this.status = message.status;
        this.emit('status', message.status);
        return;
      case 'library':
        this.emit('library', message.entries);
        return;
      case 'progress':
        this.emit('progress', message.progress);
        return;
      case 'keeping':
        this.emit('keeping', message.keeping);
        return;
      case 'wipe':
        this.emit('wipe', message.wipe);
        return;
      case 'added':
        if (message.tab === this.tab) this.pending.get(message.id)?.onProgress?.(message.progress);
        return;
      case 'reply': {
        if (message.tab !== this.tab) return;
        const call = this.pending.get(message.id);
        if (!call) return;
        this.pending.delete(message.id);
        if (message.error) call.reject(remoteError(message.error));
        else call.resolve(message.value);
        return;
      }
      default:
    }
  }

  private call<T>(
    method: Method,
    args: unknown[],
    onProgress?: (progress: AddProgress) => void,
    signal?: AbortSignal,
  ): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortedBy(signal));
    const id = this.nextId++;
    const message: Message = { t: 'call', tab: this.tab, id, method, args };
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { message, resolve: resolve, reject, onProgress });
      // Before any tab said it runs the peer, the call waits for one (see 'ready').
      if (this.leader !== undefined) this.channel.postMessage(message);
      // The tab running the peer aborts the add; its reply (an abort error) settles this call.
      signal?.addEventListener(
        'abort',
        () => this.channel.postMessage({ t: 'cancel', tab: this.tab, id } satisfies Message),
        {
          once: true,
        },
      );
    });
  }

  entries = () => this.call<LibraryEntry[]>('entries', []);
  addFile = (file: File, onProgress?: (progress: AddProgress) => void, signal?: AbortSignal, terms?: CommitTerms) =>
    this.call<LibraryEntry>('addFile', [file, terms && { ...terms }], onProgress, signal);
  addCollection = (
    picked: readonly PickedFile[],
    onProgress?: (bytesRead: number) => void,
    signal?: AbortSignal,
    terms?: CommitTerms,
  ) =>
    this.call<LibraryEntry>(
      'addCollection',
      [picked, terms && { ...terms }],
      onProgress && ((p) => onProgress(p.bytesRead)),
      signal,
    );
  openInfo = (link: string) => this.call<FileInfo>('openInfo', [link]);
  checkAvailable = (root: BlockId) => this.call<void>('checkAvailable', [root]);
  openLink = (link: string) => this.call<LinkKind>('openLink', [link]);
  fetchEntry = (link: string, index: number, signal?: AbortSignal) =>
    this.call<void>('fetchEntry', [link, index], undefined, signal);
  fetchCollection = (link: string, signal?: AbortSignal) =>
    this.call<void>('fetchCollection', [link], undefined, signal);
  stopFetching = (root: BlockId) => this.call<void>('stopFetching', [root]);
  countCopies = (root: BlockId) => this.call<{ peers: number; here: boolean }>('countCopies', [root]);
  pin = (root: BlockId) => this.call<void>('pin', [root]);
  unpin = (root: BlockId) => this.call<void>('unpin', [root]);
  remove = (root: BlockId) => this.call<void>('remove', [root]);
  keeping = () => this.call<KeepingState>('keeping', []);
  setKeeping = (settings: KeepingSettings) =>
    this.call<KeepingState>('setKeeping', [{ enabled: settings.enabled, limit: settings.limit }]);
  announceKeeping = () => this.call<KeepingState>('announceKeeping', []);
  wipeStatus = () => this.call<WipeNotice | undefined>('wipeStatus', []);
  liveCopies = (roots: readonly BlockId[]) => this.call<LiveCopies[]>('liveCopies', [[...roots]]);

  /** This tab now runs the peer itself (or is going away): calls still waiting fail. */
  close(): void {
    for (const call of this.pending.values()) {
      call.reject(new UnavailableError('the tab that ran Mycel closed: try again'));
    }
    this.pending.clear();
    this.channel.close();
    this.removeAllListeners();
  }
}
