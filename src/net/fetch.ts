// Fetching a file's blocks from every peer that holds it: a holder pool (holder-pool.ts: lookups,
// connects, retries, giving up) feeding a scheduler (fetch-scheduler.ts: queue, window, priorities,
// read position). A BlockFetcher is the two put together for one topic (a file's root), stopped
// as one: by its signal, by the pool when no holder can be had, by the scheduler when the store
// refuses a block.

import { ClosedError, abortedBy } from '../errors.js';
import type { BlockId } from '../content/format.js';
import type { BlockStore } from '../store/block-store.js';
import type { Logger } from '../log.js';
import { FetchScheduler, type FetchProgress, type ReadCursor } from './fetch-scheduler.js';
import { HolderPool, type HolderSource } from './holder-pool.js';

export type { FetchProgress, ReadCursor } from './fetch-scheduler.js';
export type { FetchSession, HolderSource } from './holder-pool.js';

export interface FetcherOptions {
  /** Where holders come from (a Swarm). */
  readonly swarm: HolderSource;
  readonly store: BlockStore;
  /** The file's root id: whom to look up. */
  readonly topic: BlockId;
  readonly signal?: AbortSignal;
  readonly noHolderTimeoutMs?: number;
  readonly window?: number;
  readonly onProgress?: (progress: FetchProgress) => void;
  readonly log?: Logger;
}

export class BlockFetcher {
  private readonly pool: HolderPool;
  private readonly scheduler: FetchScheduler;

  constructor(options: FetcherOptions) {
    const { signal, log } = options;
    this.pool = new HolderPool({
      source: options.swarm,
      topic: options.topic,
      noHolderTimeoutMs: options.noHolderTimeoutMs,
      log,
      hasWork: () => this.scheduler.hasWork,
      onSource: () => this.scheduler.pump(),
      onGiveUp: (error) => this.stop(error),
    });
    this.scheduler = new FetchScheduler({
      holders: this.pool,
      store: options.store,
      signal,
      window: options.window,
      onProgress: options.onProgress,
      onFatal: (error) => this.stop(error),
      log,
    });
    signal?.addEventListener('abort', () => this.stop(abortedBy(signal, 'fetch aborted')), { once: true });
  }

  /** Sessions currently used as sources. */
  get sourceCount(): number {
    return this.pool.size;
  }

  /** Blocks received per peer id. */
  get blocksFrom(): ReadonlyMap<string, number> {
    return this.scheduler.blocksFrom;
  }

  /** Starts connecting to holders now, before any block is wanted. */
  warmUp(): void {
    this.pool.warmUp();
  }

  /**
   * One block: from the store if held, else fetched (ahead of anything queued), verified and stored.
   * @throws NoHolderError, BlockMissingError, PeerUnreachableError, AbortError
   */
  get(id: BlockId): Promise<Uint8Array> {
    return this.scheduler.get(id);
  }

  /**
   * Fetches every id in `ids` that the store lacks, in that order of preference. Resolves once all
   * are stored. Requests go no further than setReadPosition allows.
   */
  fetchAll(ids: readonly BlockId[]): Promise<void> {
    return this.scheduler.fetchAll(ids);
  }

  /** Requests stay within `ahead` blocks past `index` (in fetchAll order). */
  setReadPosition(index: number, ahead: number): void {
    this.scheduler.setReadPosition(index, ahead);
  }

  /** Moves the queued ids among `ids` to the front (behind what a get() waits for). */
  prioritize(ids: readonly BlockId[]): void {
    this.scheduler.prioritize(ids);
  }

  /** A reader's position (in fetchAll order): moves the read limit and the priorities with it. */
  cursor(ahead?: number, span?: number): ReadCursor {
    return this.scheduler.cursor(ahead, span);
  }

  /** Stops fetching; everything still waiting is rejected with `error`. */
  stop(error: unknown = new ClosedError('fetch')): void {
    this.pool.stop();
    this.scheduler.stop(error);
  }
}
