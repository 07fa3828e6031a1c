// Fetching a file's blocks from every peer that holds it.
//
// Dev docs. A BlockFetcher serves one topic (a file's root). `queue` holds the ids still wanted, in
// the order they are needed; `inflight` maps ids being fetched to the peer asked. `sourcesByPeer`
// are the sessions of holders found by signaling lookups. The pump keeps up to FETCH_WINDOW
// requests out, each to the holder with the most free slots, so a file held by several peers is
// drawn from all of them. A request that times out, fails, or meets a closed session goes back to
// the front of the queue for another holder; a holder that sends a bad block is closed and banned
// by its session/swarm. Verified blocks go to the store before anyone waiting for them is told.
// Blocks already in the store are never asked for, so a fetch that is interrupted and started
// again only asks for what is missing.
//
// Holders announce files they hold whole, so a holder that answers not-found for a block of the
// file does not hold it (a liar, or a peer that lost it): it is dropped as a source for this file
// (`failed`; its session is left alone, it may serve other files), and a fresh lookup (at most
// every REPLACE_LOOKUP_MS) finds others, skipping the failed ones. Lookups return a random sample
// of holders, so repeating them reaches an honest holder among many liars; `tried` bounds the
// distinct holders one fetch connects to (MAX_HOLDERS_TRIED). A failed holder that later tells us
// with a `have` that it now holds the file gets one more chance (`readmitted`), never two. With no
// holder at all, the fetcher asks the signaling server again every LOOKUP_RETRY_MS, and gives up
// after noHolderTimeoutMs. Holders found but never connected to (every attempt failed: no direct
// path, no working relay) are `unreachable`: once every holder of the latest lookup is, the fetch
// stops at once with PeerUnreachableError, which says whether a relay was configured, rather than
// looking up the same unreachable holders until noHolderTimeoutMs.

import {
  BlockMissingError,
  ClosedError,
  NoHolderError,
  PeerUnreachableError,
  ProtocolError,
  QuotaError,
  abortedBy,
} from '../errors.js';
import type { BlockId } from '../content/format.js';
import type { BlockStore } from '../store/block-store.js';
import {
  FETCH_WINDOW,
  LOOKUP_RETRY_MS,
  MAX_HOLDERS_TRIED,
  MAX_SOURCES,
  NO_HOLDER_TIMEOUT_MS,
  REPLACE_LOOKUP_MS,
  MORE_SOURCES_EVERY_MS,
  RECENT_BLOCKS,
} from './limits.js';
import { quietLog, type Logger } from '../log.js';
import type { RequestOptions } from './session.js';

export interface FetchProgress {
  readonly blocksDone: number;
  readonly blocksTotal: number;
  readonly bytesFetched: number;
  readonly sources: number;
}

/** What a fetch needs of a session with a holder (a PeerSession). */
export interface FetchSession {
  readonly peer: string;
  readonly closed: boolean;
  readonly freeSlots: number;
  want(id: BlockId, options?: RequestOptions): Promise<Uint8Array | undefined>;
  on(event: 'close', listener: (value: { error?: Error }) => void): () => void;
}

/** What a fetch needs of the swarm (a Swarm). */
export interface FetchSwarm {
  /** Holders of `topic` by the signaling server's word (banned peers left out). */
  holders(topic: string): Promise<string[]>;
  connect(peer: string): Promise<FetchSession>;
  on(event: 'have', listener: (value: { session: FetchSession; topics: BlockId[] }) => void): () => void;
  /** Whether a TURN relay is configured (for the error when no holder can be connected to). */
  readonly hasRelay?: boolean;
}

export interface FetcherOptions {
  readonly swarm: FetchSwarm;
  readonly store: BlockStore;
  /** The file's root id: whom to look up. */
  readonly topic: BlockId;
  readonly signal?: AbortSignal;
  readonly noHolderTimeoutMs?: number;
  readonly window?: number;
  readonly onProgress?: (progress: FetchProgress) => void;
  readonly log?: Logger;
}

interface Source {
  session: FetchSession;
  inflight: number;
  offClose: () => void;
}

interface Waiter {
  resolve: (bytes: Uint8Array) => void;
  reject: (error: unknown) => void;
}

export class BlockFetcher {
  private readonly queue: BlockId[] = [];
  private readonly queued = new Set<BlockId>();
  private readonly inflight = new Map<BlockId, string>();
  private readonly waiters = new Map<BlockId, Waiter[]>();
  private readonly sourcesByPeer = new Map<string, Source>();
  private readonly connectingTo = new Set<string>();
  /** Holders this fetch connected to or used, ever (at most MAX_HOLDERS_TRIED). */
  private readonly tried = new Set<string>();
  /** Holders that answered not-found: not used again for this file (unless readmitted once). */
  private readonly failed = new Set<string>();
  private readonly readmitted = new Set<string>();
  /** Holders every connect attempt to which failed (at most MAX_HOLDERS_TRIED, being `tried`). */
  private readonly unreachable = new Set<string>();
  /** The holders the latest lookup named. */
  private lastHolders: string[] = [];
  /** The last block a holder said it lacked, for the error if no one else has it. */
  private lastMissing: BlockId | undefined;
  private readonly order = new Map<BlockId, number>();
  private readonly recent = new Map<BlockId, Uint8Array>();
  /** Ids asked for through get(): fetched whatever the read limit. */
  private readonly urgent = new Set<BlockId>();
  private readLimit = Infinity;
  private lookingUp = false;
  private lookupAgain = false;
  private lastLookupAt = 0;
  private lookupTimer: ReturnType<typeof setTimeout> | undefined;
  private replaceTimer: ReturnType<typeof setTimeout> | undefined;
  private moreSourcesTimer: ReturnType<typeof setInterval> | undefined;
  private lastHadSource = Date.now();
  private stopped = false;
  private failure: unknown;
  private readonly log: Logger;
  private readonly offSwarm: () => void;
  private total = 0;
  /** Ids fetchAll was given that are now stored: progress counts these and nothing else (not the
   * root and index blocks fetched to open the file, which no total includes). */
  private readonly done = new Set<BlockId>();
  private bytes = 0;
  /** Blocks received per peer id. */
  readonly blocksFrom = new Map<string, number>();

  constructor(private readonly options: FetcherOptions) {
    this.log = options.log ?? quietLog;
    this.offSwarm = options.swarm.on('have', ({ session, topics }) => {
      if (topics.includes(options.topic)) this.onHave(session);
    });
    options.signal?.addEventListener('abort', () => this.stop(abortedBy(options.signal!, 'fetch aborted')), {
      once: true,
    });
    this.moreSourcesTimer = setInterval(() => {
      if (this.sourcesByPeer.size < MAX_SOURCES && (this.queue.length > 0 || this.inflight.size > 0)) this.lookup();
    }, MORE_SOURCES_EVERY_MS);
  }

  /** Sessions currently used as sources. */
  get sourceCount(): number {
    return this.sourcesByPeer.size;
  }

  /** Starts connecting to holders now, before any block is wanted. */
  warmUp(): void {
    this.lookup();
  }

  /**
   * One block: from the store if held, else fetched (ahead of anything queued), verified and stored.
   * @throws NoHolderError, BlockMissingError, AbortError
   */
  async get(id: BlockId): Promise<Uint8Array> {
    const fresh = this.recent.get(id);
    if (fresh) return fresh;
    const held = await this.options.store.get(id);
    if (held) return held;
    this.urgent.add(id);
    try {
      return await new Promise<Uint8Array>((resolve, reject) => this.enqueue([id], true, () => ({ resolve, reject })));
    } finally {
      this.urgent.delete(id);
    }
  }

  /**
   * Fetches every id in `ids` that the store lacks, in that order of preference. Resolves once all
   * are stored. Requests go no further than setReadPosition allows.
   */
  async fetchAll(ids: readonly BlockId[]): Promise<void> {
    ids.forEach((id, i) => this.order.set(id, i));
    const missing: BlockId[] = [];
    for (const id of ids) {
      if (await this.options.store.has(id)) this.done.add(id);
      else missing.push(id);
    }
    this.total += ids.length;
    this.report();
    if (missing.length === 0) return;
    // One waiter per id that only counts down: holding every block's bytes until the last one
    // arrived would hold the whole file in memory.
    await new Promise<void>((resolve, reject) => {
      let remaining = missing.length;
      const countdown: Waiter = {
        resolve: () => {
          if (--remaining === 0) resolve();
        },
        reject,
      };
      this.enqueue(missing, false, () => countdown);
    });
  }

  /** Requests stay within `ahead` blocks past `index` (in fetchAll order). */
  setReadPosition(index: number, ahead: number): void {
    this.readLimit = index + ahead;
    this.pump();
  }

  /**
   * Moves the queued ids among `ids` to the front of the queue, in that order (behind only the ids
   * a get() waits for): what a reader needs next, after a seek, goes before the rest of the file.
   * Ids not queued (held, in flight, or not asked for yet) are left alone.
   */
  prioritize(ids: readonly BlockId[]): void {
    const first = ids.filter((id) => this.queued.has(id));
    if (first.length === 0) return;
    const moved = new Set(first);
    const rest = this.queue.filter((id) => !moved.has(id));
    const waitedFor = rest.filter((id) => this.urgent.has(id));
    this.queue.length = 0;
    for (const part of [waitedFor, first, rest.filter((id) => !this.urgent.has(id))]) {
      for (const id of part) this.queue.push(id);
    }
    this.pump();
  }

  private enqueue(ids: BlockId[], urgent: boolean, waiterFor: (id: BlockId) => Waiter): void {
    if (this.stopped) {
      for (const id of ids) waiterFor(id).reject(this.failure ?? new ClosedError('fetch'));
      return;
    }
    for (const id of ids) {
      let list = this.waiters.get(id);
      if (!list) this.waiters.set(id, (list = []));
      list.push(waiterFor(id));
    }
    const fresh = ids.filter((id) => !this.queued.has(id) && !this.inflight.has(id));
    for (const id of fresh) this.queued.add(id);
    if (urgent) this.queue.unshift(...fresh);
    else this.queue.push(...fresh);
    if (urgent) {
      // An urgent id already queued moves to the front.
      for (const id of ids) {
        if (fresh.includes(id) || !this.queued.has(id)) continue;
        this.queue.splice(this.queue.indexOf(id), 1);
        this.queue.unshift(id);
      }
    }
    if (this.sourcesByPeer.size === 0) this.lookup();
    this.pump();
  }

  /** A peer says it now holds the file: a source, unless it failed us twice or the budget is spent. */
  private onHave(session: FetchSession): void {
    const peer = session.peer;
    if (this.stopped || this.sourcesByPeer.has(peer)) return;
    if (this.failed.has(peer)) {
      if (this.readmitted.has(peer)) return;
      this.readmitted.add(peer);
      this.failed.delete(peer);
    } else if (!this.tried.has(peer)) {
      if (this.tried.size >= MAX_HOLDERS_TRIED) return;
      this.tried.add(peer);
    }
    this.addSource(session);
  }

  private addSource(session: FetchSession): void {
    if (this.stopped || session.closed || this.sourcesByPeer.has(session.peer) || this.failed.has(session.peer)) return;
    const source: Source = { session, inflight: 0, offClose: () => undefined };
    source.offClose = session.on('close', () => {
      if (this.sourcesByPeer.get(session.peer) !== source) return;
      this.sourcesByPeer.delete(session.peer);
      this.lastHadSource = Date.now();
      if (this.sourcesByPeer.size === 0 && this.pendingWork()) this.lookup();
    });
    this.sourcesByPeer.set(session.peer, source);
    this.lastHadSource = Date.now();
    this.log.debug('fetch source added', { peer: session.peer, sources: this.sourcesByPeer.size });
    this.pump();
  }

  /** `source` answered not-found for `id`: it does not hold the file. Find someone else. */
  private dropFailedSource(source: Source, id: BlockId): void {
    const peer = source.session.peer;
    this.lastMissing = id;
    if (this.sourcesByPeer.get(peer) !== source) return;
    this.sourcesByPeer.delete(peer);
    source.offClose();
    this.failed.add(peer);
    this.lastHadSource = Date.now();
    this.log.debug('fetch source dropped: it lacks a block of the file', {
      peer,
      block: id.slice(0, 12),
      failed: this.failed.size,
    });
    this.lookupSoon();
  }

  /** A lookup now, or as soon as REPLACE_LOOKUP_MS has passed since the last one. */
  private lookupSoon(): void {
    if (this.stopped || this.replaceTimer) return;
    const wait = this.lastLookupAt + REPLACE_LOOKUP_MS - Date.now();
    if (wait <= 0) {
      this.lookup();
      return;
    }
    this.replaceTimer = setTimeout(() => {
      this.replaceTimer = undefined;
      this.lookup();
    }, wait);
  }

  private pendingWork(): boolean {
    return this.queue.length > 0 || this.inflight.size > 0;
  }

  private lookup(): void {
    if (this.stopped) return;
    if (this.lookingUp) {
      this.lookupAgain = true;
      return;
    }
    this.lookingUp = true;
    this.lastLookupAt = Date.now();
    clearTimeout(this.lookupTimer);
    this.options.swarm
      .holders(this.options.topic)
      .then((peers) => {
        this.lastHolders = peers;
        for (const peer of peers) {
          if (this.sourcesByPeer.size + this.connectingTo.size >= MAX_SOURCES) break;
          if (this.sourcesByPeer.has(peer) || this.connectingTo.has(peer) || this.failed.has(peer)) continue;
          if (!this.tried.has(peer)) {
            if (this.tried.size >= MAX_HOLDERS_TRIED) continue;
            this.tried.add(peer);
          }
          this.connectingTo.add(peer);
          this.options.swarm
            .connect(peer)
            .then((session) => {
              this.unreachable.delete(peer);
              this.addSource(session);
            })
            .catch((error) => {
              this.log.debug('could not reach holder', { peer, error: (error as Error).message });
              if (!(error instanceof ProtocolError)) this.unreachable.add(peer);
            })
            .finally(() => {
              this.connectingTo.delete(peer);
              if (this.sourcesByPeer.size > 0) return;
              if (this.allUnreachable()) {
                this.stop(
                  new PeerUnreachableError(
                    this.options.topic,
                    this.unreachable.size,
                    Boolean(this.options.swarm.hasRelay),
                  ),
                );
                return;
              }
              this.retryLookupLater();
            });
        }
        this.retryLookupLater();
      })
      .catch(() => this.retryLookupLater())
      .finally(() => {
        this.lookingUp = false;
        if (this.lookupAgain) {
          this.lookupAgain = false;
          this.lookupSoon();
        }
      });
  }

  /** Nothing in progress, and every holder the latest lookup named could not be connected to. */
  private allUnreachable(): boolean {
    if (this.stopped || this.connectingTo.size > 0 || this.lastHolders.length === 0) return false;
    return this.lastHolders.every((peer) => this.unreachable.has(peer));
  }

  private retryLookupLater(): void {
    if (this.stopped || this.sourcesByPeer.size > 0 || this.connectingTo.size > 0 || !this.pendingWork()) return;
    const waited = Date.now() - this.lastHadSource;
    const limit = this.options.noHolderTimeoutMs ?? NO_HOLDER_TIMEOUT_MS;
    if (waited >= limit) {
      if (this.failed.size === 0 || !this.lastMissing) {
        this.stop(new NoHolderError(this.options.topic, waited));
        return;
      }
      const holders = `${this.failed.size} holder${this.failed.size === 1 ? '' : 's'} of the file`;
      const detail = `${holders} did not have it, and no other holder was found within ${Math.round(waited / 1000)} s`;
      this.stop(new BlockMissingError(this.lastMissing, detail));
      return;
    }
    clearTimeout(this.lookupTimer);
    this.lookupTimer = setTimeout(() => this.lookup(), LOOKUP_RETRY_MS);
  }

  private pickSource(): Source | undefined {
    let best: Source | undefined;
    for (const source of this.sourcesByPeer.values()) {
      if (source.session.closed || source.session.freeSlots <= 0) continue;
      if (!best || source.session.freeSlots > best.session.freeSlots) best = source;
    }
    return best;
  }

  private pump(): void {
    if (this.stopped) return;
    const window = this.options.window ?? FETCH_WINDOW;
    while (this.queue.length > 0 && this.inflight.size < window) {
      const id = this.queue[0]!;
      const position = this.order.get(id);
      // The queue's tail is in fetch order, so past the read limit nothing further may go either.
      if (position !== undefined && position > this.readLimit && !this.urgent.has(id)) break;
      const source = this.pickSource();
      if (!source) break;
      this.queue.shift();
      this.queued.delete(id);
      this.request(id, source);
    }
  }

  private request(id: BlockId, source: Source): void {
    const peer = source.session.peer;
    this.inflight.set(id, peer);
    source.inflight++;
    source.session
      .want(id, { signal: this.options.signal })
      .then(async (bytes) => {
        if (!bytes) {
          this.requeue(id);
          this.dropFailedSource(source, id);
          return;
        }
        await this.options.store.put(id, bytes);
        this.recent.set(id, bytes);
        if (this.recent.size > RECENT_BLOCKS) this.recent.delete(this.recent.keys().next().value!);
        this.inflight.delete(id);
        if (this.order.has(id)) this.done.add(id);
        this.bytes += bytes.length;
        this.blocksFrom.set(peer, (this.blocksFrom.get(peer) ?? 0) + 1);
        const waiters = this.waiters.get(id) ?? [];
        this.waiters.delete(id);
        for (const w of waiters) w.resolve(bytes);
        this.report();
      })
      .catch((error: unknown) => {
        if (this.stopped) return;
        if (error instanceof QuotaError) {
          this.stop(error);
          return;
        }
        this.log.debug('block request failed', { peer, block: id.slice(0, 12), error: (error as Error).message });
        this.requeue(id);
      })
      .finally(() => {
        source.inflight--;
        this.pump();
      });
  }

  private requeue(id: BlockId): void {
    this.inflight.delete(id);
    if (this.stopped || this.queued.has(id)) return;
    this.queued.add(id);
    this.queue.unshift(id);
  }

  private report(): void {
    this.options.onProgress?.({
      blocksDone: this.done.size,
      blocksTotal: this.total,
      bytesFetched: this.bytes,
      sources: this.sourcesByPeer.size,
    });
  }

  /** Stops fetching; everything still waiting is rejected with `error`. */
  stop(error: unknown = new ClosedError('fetch')): void {
    if (this.stopped) return;
    this.stopped = true;
    this.failure = error;
    clearTimeout(this.lookupTimer);
    clearTimeout(this.replaceTimer);
    clearInterval(this.moreSourcesTimer);
    this.offSwarm();
    for (const source of this.sourcesByPeer.values()) source.offClose();
    for (const waiters of this.waiters.values()) for (const w of waiters) w.reject(error);
    this.waiters.clear();
    this.recent.clear();
    this.queue.length = 0;
    this.queued.clear();
  }
}
