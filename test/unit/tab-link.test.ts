// Every tab a full client (web/lib/tab-link.ts, over real BroadcastChannels): a tab that does not
// run the peer forwards its calls to the one that does and mirrors its status and Library; a call
// made before any tab runs the peer waits for one; a call the peer's tab never answered (it closed)
// goes to the tab that takes over; an error keeps its code across the trip.
import { afterEach, describe, expect, it } from 'vitest';
import { Emitter } from '../../src/net/emitter.js';
import {
  NoHolderError,
  OfflineError,
  ServerUnreachableError,
  TimeoutError,
  abortedBy,
  type MycelError,
} from '../../src/errors.js';
import type { LibraryEntry } from '../../src/store/library.js';
import type { BrowserPeerEvents, FileInfo, PeerStatus, WipeNotice } from '../../web/lib/browser-peer.js';
import { DEFAULT_KEEPING, type KeepingSettings, type KeepingState } from '../../web/lib/keeper.js';
import type { LiveCopies } from '../../web/lib/durability.js';
import type { LinkKind } from '../../web/lib/collection-peer.js';
import { unavailableKind } from '../../web/lib/availability.js';
import { serveTabs, TabClient, type PeerApi } from '../../web/lib/tab-link.js';

const ROOT = 'ef'.repeat(32);

function entry(name: string): LibraryEntry {
  return {
    root: ROOT,
    link: `http://x/#${name}`,
    name,
    size: 1,
    mediaType: 'text/plain',
    source: 'added',
    addedAt: 1,
    pinned: false,
    complete: true,
  };
}

/** A peer that records the roots it was asked to pin, and never finds a holder for `countCopies`. */
class FakePeer extends Emitter<BrowserPeerEvents> implements PeerApi {
  readonly status: PeerStatus = { signaling: 'connected', peers: 2, relayed: 0, direct: 2 };
  readonly pinned: string[] = [];
  constructor(private readonly name: string) {
    super();
  }
  entries = async () => [entry(this.name)];
  /** The settings it was given, as received (plain data across the channel). */
  readonly keepingSet: KeepingSettings[] = [];
  keeping = async (): Promise<KeepingState> => ({ ...DEFAULT_KEEPING, persisted: false, used: 0, files: [] });
  setKeeping = async (settings: KeepingSettings): Promise<KeepingState> => {
    this.keepingSet.push(settings);
    const state = { ...settings, persisted: false, used: 0, files: [] };
    this.emit('keeping', state);
    return state;
  };
  announceKeeping = () => this.keeping();
  wipeStatus = async (): Promise<WipeNotice | undefined> => ({ lost: 2, reported: 0 });
  liveCopies = async (roots: readonly string[]): Promise<LiveCopies[]> =>
    roots.map((root) => ({
      root,
      live: 3,
      byKind: { seed: 2, 'persisted-browser': 0, browser: 1 },
      target: 3,
      atRisk: false,
      fromSeed: true,
    }));
  addFile = async () => entry(this.name);
  /** An add that reports some progress, then runs until it is aborted. */
  addCollection = (_picked: unknown, onProgress?: (bytesRead: number) => void, signal?: AbortSignal) =>
    new Promise<LibraryEntry>((_resolve, reject) => {
      onProgress?.(1024);
      signal?.addEventListener('abort', () => reject(abortedBy(signal)), { once: true });
    });
  openInfo = async (): Promise<FileInfo> => {
    throw new Error('not used');
  };
  countCopies = async (): Promise<{ peers: number; here: boolean }> => {
    throw new NoHolderError(ROOT, 5000);
  };
  /** What checkAvailable throws, if anything. */
  unavailable: Error | undefined;
  checkAvailable = async () => {
    if (this.unavailable) throw this.unavailable;
  };
  /** A collection of one folder and one file. */
  openLink = async (link: string): Promise<LinkKind> => ({
    kind: 'collection',
    root: ROOT,
    link,
    totalSize: 5,
    entries: [
      { kind: 'folder', index: 0, path: 'empty' },
      { kind: 'file', index: 1, path: 'a.txt', size: 5, mediaType: 'text/plain' },
    ],
  });
  readonly fetched: string[] = [];
  /** Reports progress on the collection's root as its blocks arrive, as BrowserPeer does. */
  fetchEntry = async (link: string, index: number) => {
    this.fetched.push(`${link}#${index}`);
    this.emit('progress', { root: ROOT, blocksDone: 1, blocksTotal: 2, bytesFetched: 1, sources: 1 });
  };
  /** A link ending in #slow fetches until its call is aborted. */
  fetchCollection = async (link: string, signal?: AbortSignal) => {
    this.fetched.push(link);
    if (!link.endsWith('#slow')) return;
    await new Promise((_resolve, reject) =>
      signal?.addEventListener('abort', () => reject(abortedBy(signal)), { once: true }),
    );
  };
  readonly stopped: string[] = [];
  stopFetching = async (root: string) => {
    this.stopped.push(root);
  };
  pin = async (root: string) => {
    this.pinned.push(root);
  };
  unpin = async () => undefined;
  remove = async () => undefined;
  changeLibrary(entries: LibraryEntry[]): void {
    this.emit('library', entries);
  }
}

const closers: Array<() => void> = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

function client(): TabClient {
  const tab = new TabClient();
  closers.push(() => tab.close());
  return tab;
}

function leader(peer: FakePeer): () => void {
  const stop = serveTabs(peer, [entry('first')]);
  closers.push(stop);
  return stop;
}

describe('a tab that does not run the peer', () => {
  it('mirrors the status and the Library of the tab that does', async () => {
    const peer = new FakePeer('first');
    leader(peer);
    const tab = client();
    const libraries: string[][] = [];
    tab.on('library', (entries) => libraries.push(entries.map((e) => e.name)));
    await expect.poll(() => tab.status.signaling).toBe('connected');
    peer.changeLibrary([entry('first'), entry('second')]);
    await expect.poll(() => libraries.at(-1)).toEqual(['first', 'second']);
  });

  it('holds a call made before any tab runs the peer, and sends it once one does', async () => {
    const tab = client();
    const pinned = tab.pin(ROOT);
    const peer = new FakePeer('late');
    leader(peer);
    await pinned;
    expect(peer.pinned).toEqual([ROOT]);
  });

  it('sends a call the closed tab never answered to the tab that takes over', async () => {
    const tab = client();
    const gone = new FakePeer('gone');
    // The first tab runs the peer, then closes before it answers: its pin is never served.
    let received = false;
    gone.pin = () => {
      received = true;
      return new Promise<void>(() => undefined);
    };
    const stopGone = leader(gone);
    await expect.poll(() => tab.status.signaling).toBe('connected');
    const pinned = tab.pin(ROOT);
    await expect.poll(() => received).toBe(true);
    stopGone();
    const next = new FakePeer('next');
    leader(next);
    await pinned;
    expect(next.pinned).toEqual([ROOT]);
  });

  it('changes the keeping setting in the tab that runs the peer, and sees the change and any wipe notice', async () => {
    const peer = new FakePeer('first');
    leader(peer);
    const tab = client();
    const seen: KeepingState[] = [];
    tab.on('keeping', (state) => seen.push(state));
    const state = await tab.setKeeping({ enabled: true, limit: 2 ** 30 });
    expect(peer.keepingSet).toEqual([{ enabled: true, limit: 2 ** 30 }]);
    expect(state).toMatchObject({ enabled: true, limit: 2 ** 30 });
    await expect.poll(() => seen.at(-1)?.enabled).toBe(true);
    expect(await tab.wipeStatus()).toEqual({ lost: 2, reported: 0 });
  });

  it("asks the peer's tab for live copies and gets them as plain data", async () => {
    leader(new FakePeer('first'));
    const tab = client();
    const [copies] = await tab.liveCopies([ROOT]);
    expect(copies).toMatchObject({ root: ROOT, live: 3, byKind: { seed: 2, browser: 1 }, target: 3 });
  });

  it('gets an error with the code it had in the tab that runs the peer', async () => {
    leader(new FakePeer('first'));
    const tab = client();
    const error = (await tab.countCopies(ROOT).catch((e: unknown) => e)) as MycelError;
    expect(error.code).toBe('NO_HOLDER');
  });

  it("cancels an add it started: the add stops in the tab that runs the peer, and this tab's call ends as aborted", async () => {
    leader(new FakePeer('first'));
    const tab = client();
    const controller = new AbortController();
    let progress = 0;
    const adding = tab.addCollection([], (bytesRead) => (progress = bytesRead), controller.signal);
    await expect.poll(() => progress).toBe(1024);
    controller.abort();
    const error = (await adding.catch((e: unknown) => e)) as MycelError;
    expect(error.code).toBe('ABORTED');
  });

  it('opens a collection link through the tab that runs the peer and gets its listing', async () => {
    leader(new FakePeer('first'));
    const tab = client();
    const opened = await tab.openLink('http://x/#collection');
    expect(opened).toEqual({
      kind: 'collection',
      root: ROOT,
      link: 'http://x/#collection',
      totalSize: 5,
      entries: [
        { kind: 'folder', index: 0, path: 'empty' },
        { kind: 'file', index: 1, path: 'a.txt', size: 5, mediaType: 'text/plain' },
      ],
    });
  });

  it("fetches one entry, or the whole collection, in the peer's tab, and sees its fetch progress", async () => {
    const peer = new FakePeer('first');
    leader(peer);
    const tab = client();
    const progress: number[] = [];
    tab.on('progress', (p) => progress.push(p.blocksDone));
    await tab.fetchEntry('http://x/#collection', 1);
    await tab.fetchCollection('http://x/#collection');
    expect(peer.fetched).toEqual(['http://x/#collection#1', 'http://x/#collection']);
    await expect.poll(() => progress).toEqual([1]);
  });

  it("cancels a fetch it started: the fetch stops in the peer's tab, and this tab's call ends as aborted", async () => {
    const peer = new FakePeer('first');
    leader(peer);
    const tab = client();
    const controller = new AbortController();
    const fetching = tab.fetchCollection('http://x/#slow', controller.signal);
    await expect.poll(() => peer.fetched).toEqual(['http://x/#slow']);
    controller.abort();
    const error = (await fetching.catch((e: unknown) => e)) as MycelError;
    expect(error.code).toBe('ABORTED');
    await tab.stopFetching(ROOT);
    expect(peer.stopped).toEqual([ROOT]);
  });

  it('tells offline, server unreachable and nobody holding it apart when the peer runs in another tab', async () => {
    const peer = new FakePeer('first');
    leader(peer);
    const tab = client();
    const kinds = [];
    for (const error of [
      new OfflineError(),
      new ServerUnreachableError('https://mycel.test'),
      new NoHolderError(ROOT, 4000),
      // Shares the server's code, but is not about the server.
      new TimeoutError('a block', 1000),
      undefined,
    ]) {
      peer.unavailable = error;
      kinds.push(unavailableKind(await tab.checkAvailable(ROOT).catch((e: unknown) => e)));
    }
    expect(kinds).toEqual(['offline', 'server', 'nobody', undefined, undefined]);
  });
});
