// What one fetch asks for, in which order, and of whom: the queue of wanted blocks, the window of
// requests out over all holders, priorities, the reader's position, and what to do with an answer.
// Who the holders are is the holder pool's business (holder-pool.ts), behind the Holders interface.
//
// Dev docs. `queue` holds the ids still wanted, in the order they are needed; `inflight` maps ids
// being asked for to the peer asked. The pump keeps up to `window` requests out, each to the holder
// with the most free slots, so a file held by several peers is drawn from all of them. The pump runs
// when something of ours happens (an answer, a new holder, a get, a move of the reader); slots freed
// by requests not ours (an upload to the same peer) wake nothing, so when every holder's slots are
// taken and none of ours is out, one request waits in a holder's queue, and its answer pumps again.
// Order: ids a get() waits for first (`urgent`), then ids a reader will need next (prioritize), then
// the rest in fetchAll order. Positions are indices in fetchAll's list (for a file's data blocks, chunk
// indices): requests go no further than the read limit (setReadPosition) unless a get() waits, and
// a ReadCursor moves that limit and the priorities with a reader. A request that times out, fails,
// or meets a closed session goes back to the front of the queue for another holder (a session that
// got a bad block closes itself, so it is not picked again); a not-found answer is the pool's to
// act on, and the block is asked of another holder. Blocks come verified from the session (marked
// so: content/verified.ts, the store does not hash them again). A get() waiting for one is handed
// it at once, and a get() while it is being stored finds it in `storing`: readers never wait for
// the store's write, so the store may take its time to group writes (a lazy put: block-store.ts).
// fetchAll and the progress count a block once it is stored. A block fetched within HANDOFF_BLOCKS
// positions past the reader is also kept in `handoff` until the reader asks for it, so the reader
// is handed the very bytes the session verified instead of reading them back; the reader's get
// takes them out. Blocks already in the store are never asked for, so a fetch that is interrupted
// and started again only asks for what is missing.

import { ClosedError, QuotaError } from '../errors.js';
import type { BlockId } from '../content/format.js';
import type { BlockStore } from '../store/block-store.js';
import { DOWNLOAD_AHEAD, FETCH_WINDOW, HANDOFF_BLOCKS, READ_PRIORITY_BLOCKS } from './limits.js';
import { quietLog, type Logger } from '../log.js';
import type { FetchSession, Holders } from './holder-pool.js';

export interface FetchProgress {
  readonly blocksDone: number;
  readonly blocksTotal: number;
  readonly bytesFetched: number;
  readonly sources: number;
}

export interface SchedulerOptions {
  readonly holders: Holders;
  readonly store: BlockStore;
  /** Passed to every request. */
  readonly signal?: AbortSignal;
  /** Requests out at once over all holders; default FETCH_WINDOW. */
  readonly window?: number;
  readonly onProgress?: (progress: FetchProgress) => void;
  /** The fetch cannot go on (the store refused a block: QuotaError). */
  readonly onFatal: (error: Error) => void;
  readonly log?: Logger;
}

interface Waiter {
  resolve: (bytes: Uint8Array) => void;
  reject: (error: unknown) => void;
  /** Told once the block is stored (fetchAll's count), not as soon as it arrived (a get). */
  readonly stored?: boolean;
}

export class FetchScheduler {
  private readonly queue: BlockId[] = [];
  private readonly queued = new Set<BlockId>();
  private readonly inflight = new Map<BlockId, string>();
  private readonly waiters = new Map<BlockId, Waiter[]>();
  /** Position of each id given to fetchAll. */
  private readonly order = new Map<BlockId, number>();
  /** The latest list fetchAll was given: position → id. */
  private positions: readonly BlockId[] = [];
  /** Blocks fetched for the reader, not yet read: at most HANDOFF_BLOCKS, at positions near it. */
  private readonly handoff = new Map<BlockId, Uint8Array>();
  /** Blocks fetched and verified whose put has not ended: at most the window's worth. */
  private readonly storing = new Map<BlockId, Uint8Array>();
  /** The reader's position (setReadPosition's index). */
  private readIndex = 0;
  /** Ids asked for through get(): fetched whatever the read limit. */
  private readonly urgent = new Set<BlockId>();
  private readLimit = Infinity;
  private stopped = false;
  private failure: unknown;
  private readonly log: Logger;
  private total = 0;
  /** Ids fetchAll was given that are now stored: progress counts these and nothing else (not the
   * root and index blocks fetched to open the file, which no total includes). */
  private readonly done = new Set<BlockId>();
  private bytes = 0;
  /** Blocks received per peer id. */
  readonly blocksFrom = new Map<string, number>();

  constructor(private readonly options: SchedulerOptions) {
    this.log = options.log ?? quietLog;
  }

  /** Whether any block is still wanted. */
  get hasWork(): boolean {
    return this.queue.length > 0 || this.inflight.size > 0;
  }

  /**
   * One block: from the store if held, else fetched (ahead of anything queued), verified and stored.
   * @throws what stopped the fetch (NoHolderError, BlockMissingError, AbortError, …)
   */
  async get(id: BlockId): Promise<Uint8Array> {
    const handed = this.handoff.get(id);
    if (handed) {
      this.handoff.delete(id);
      return handed;
    }
    const arrived = this.storing.get(id);
    if (arrived) return arrived;
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
   * Fetches every id in `ids` that the store lacks, in that order of preference; an id's index in
   * `ids` is its position for setReadPosition and prioritizeFrom. Resolves once all are stored.
   */
  async fetchAll(ids: readonly BlockId[]): Promise<void> {
    ids.forEach((id, i) => this.order.set(id, i));
    this.positions = ids;
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
        stored: true,
      };
      this.enqueue(missing, false, () => countdown);
    });
  }

  /** Requests stay within `ahead` positions past `index` (positions in fetchAll's list). */
  setReadPosition(index: number, ahead: number): void {
    this.readIndex = index;
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

  /** prioritize for the ids at positions [from, from + count) of fetchAll's list. */
  prioritizeFrom(from: number, count: number): void {
    this.prioritize(this.positions.slice(Math.max(0, from), from + count));
  }

  /** A reader's position, moving the read limit and the priorities as it reads on or seeks. */
  cursor(ahead = DOWNLOAD_AHEAD, span = READ_PRIORITY_BLOCKS): ReadCursor {
    return new ReadCursor(this, ahead, span);
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
    this.options.holders.needed();
    this.pump();
  }

  /** Sends requests while the window, the read limit and the holders' free slots allow. */
  pump(): void {
    if (this.stopped) return;
    const window = this.options.window ?? FETCH_WINDOW;
    while (this.queue.length > 0 && this.inflight.size < window) {
      const id = this.queue[0]!;
      const position = this.order.get(id);
      // The queue's tail is in fetch order, so past the read limit nothing further may go either.
      if (position !== undefined && position > this.readLimit && !this.urgent.has(id)) break;
      // Holders whose slots are all taken by requests not ours (an upload on the same session,
      // another fetch) free them without a word to us: with nothing of ours out, no answer of ours
      // would pump again, so one request waits in such a holder's queue for its turn.
      const session = this.pick() ?? (this.inflight.size === 0 ? this.pick(true) : undefined);
      if (!session) break;
      this.queue.shift();
      this.queued.delete(id);
      this.request(id, session);
    }
  }

  /**
   * The open session with the most free slots: a file held by several peers is drawn from all.
   * `busy`: one with none free too (the least busy), whose queue the request then waits in.
   */
  private pick(busy = false): FetchSession | undefined {
    let best: FetchSession | undefined;
    for (const session of this.options.holders.sessions()) {
      if (session.closed || (session.freeSlots <= 0 && !busy)) continue;
      if (!best || session.freeSlots > best.freeSlots) best = session;
    }
    return best;
  }

  private request(id: BlockId, session: FetchSession): void {
    const peer = session.peer;
    this.inflight.set(id, peer);
    session
      .want(id, { signal: this.options.signal })
      .then(async (bytes) => {
        if (!bytes) {
          this.requeue(id);
          this.options.holders.lacks(session, id);
          return;
        }
        // The holder's slot is free as soon as the block arrived: ask again now, not after the
        // store's write, so the peer's queue does not run dry while blocks are being stored (the
        // id stays in flight, within the window, until it is stored).
        this.pump();
        this.arrived(id, bytes);
        try {
          await this.options.store.put(id, bytes, { lazy: true });
        } finally {
          this.storing.delete(id);
        }
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
          this.options.onFatal(error);
          return;
        }
        this.log.debug('block request failed', { peer, block: id.slice(0, 12), error: (error as Error).message });
        this.requeue(id);
      })
      .finally(() => this.pump());
  }

  /** A verified block is here: readers get it now, while the store writes it. */
  private arrived(id: BlockId, bytes: Uint8Array): void {
    if (this.stopped) return;
    this.storing.set(id, bytes);
    this.keepForReader(id, bytes);
    const waiters = this.waiters.get(id);
    if (!waiters) return;
    const later = waiters.filter((w) => w.stored);
    if (later.length > 0) this.waiters.set(id, later);
    else this.waiters.delete(id);
    for (const w of waiters) if (!w.stored) w.resolve(bytes);
  }

  /**
   * Keeps a block just fetched for the reader if it lies within HANDOFF_BLOCKS past the reader's
   * position and there is room (after dropping blocks the reader has passed without taking them,
   * after a seek): the blocks kept are those it needs first, and memory stays bounded.
   */
  private keepForReader(id: BlockId, bytes: Uint8Array): void {
    const position = this.order.get(id);
    // A get() waiting for it has it already.
    if (position === undefined || this.stopped || this.urgent.has(id)) return;
    if (position < this.readIndex || position >= this.readIndex + HANDOFF_BLOCKS) return;
    if (this.handoff.size >= HANDOFF_BLOCKS) {
      for (const kept of this.handoff.keys()) {
        if (this.order.get(kept)! < this.readIndex) this.handoff.delete(kept);
      }
      if (this.handoff.size >= HANDOFF_BLOCKS) return;
    }
    this.handoff.set(id, bytes);
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
      sources: this.options.holders.size,
    });
  }

  /** Stops asking; everything still waiting is rejected with `error`. */
  stop(error: unknown = new ClosedError('fetch')): void {
    if (this.stopped) return;
    this.stopped = true;
    this.failure = error;
    for (const waiters of this.waiters.values()) for (const w of waiters) w.reject(error);
    this.waiters.clear();
    this.handoff.clear();
    this.storing.clear();
    this.queue.length = 0;
    this.queued.clear();
  }
}

/**
 * One reader of a file (a player, a range request, a download), in positions of fetchAll's list:
 * each `at` moves the read limit to `ahead` past it, and each time the reader enters another span
 * of `span` positions (reading on, or a seek), the next `span` go to the front of the queue. A
 * reader that stays within its span reorders nothing, so concurrent readers at different places
 * do not shuffle the queue on every block.
 */
export class ReadCursor {
  private spanAt = -1;

  constructor(
    private readonly scheduler: FetchScheduler,
    private readonly ahead: number,
    private readonly span: number,
  ) {}

  at(index: number): void {
    this.scheduler.setReadPosition(index, this.ahead);
    const spanAt = Math.floor(index / this.span);
    if (spanAt === this.spanAt) return;
    this.spanAt = spanAt;
    this.scheduler.prioritizeFrom(index, this.span);
  }
}
