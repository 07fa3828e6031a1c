// The account a block store keeps of its blocks (sizes, recency, pins, quota), as an interface:
// the in-memory `Ledger` (ledger.ts) has exactly this shape, and a persistent ledger (the seed's,
// in an embedded database) adds what a store needs to keep its disk and its account in agreement.
// `ManagedBlockStore` needs nothing beyond `BlockLedger`.

import type { BlockId } from '../content/format.js';
import type { StoreUsage } from './block-store.js';

/**
 * Synchronous, so a decision (planPut) and its bookkeeping (remove, add) cannot interleave with
 * another put. Every change is visible to the next call at once, persistent or not.
 */
export interface BlockLedger {
  readonly quota: number;
  /** True for a block added (even if its write is still running) and not removed since. */
  has(id: BlockId): boolean;
  sizeOf(id: BlockId): number | undefined;
  isPinned(id: BlockId): boolean;
  /** Marks `id` most recently used (nothing if it is not held). */
  touch(id: BlockId): void;
  /** Counts a block of `size` bytes as held, most recently used; touches it if already held. */
  add(id: BlockId, size: number): void;
  /** Stops counting `id`; false if it was not held. */
  remove(id: BlockId): boolean;
  /**
   * The unpinned blocks to evict, least recently used first, to make room for a new block of
   * `size` bytes (usually none).
   * @throws QuotaError when even evicting every unpinned block leaves too little room.
   */
  planPut(id: BlockId, size: number): BlockId[];
  /** Adds ids to pin set `name` (creating it, even empty); returns the ids newly added to it. */
  pin(name: string, ids: Iterable<BlockId>): BlockId[];
  /** Drops pin set `name`; false if there was none. */
  unpin(name: string): boolean;
  /** The ids the set names (held or not), or undefined if there is no such set. Do not modify. */
  pinSet(name: string): ReadonlySet<BlockId> | undefined;
  pinNames(): string[];
  /** Every held id, in no promised order. */
  ids(): Iterable<BlockId>;
  usage(): StoreUsage;
}

/**
 * A ledger that outlives the process. Its changes are written behind (in order, batched); a store
 * that writes files must wait for `durable()` before it touches the disk, and say when the disk has
 * caught up (`settle`), so that a crash at any point leaves the two in agreement after `reconcile`.
 */
export interface DurableBlockLedger extends BlockLedger {
  /** Resolves once every change made so far is on disk (synced, or only committed if not durable). */
  durable(): Promise<void>;
  /**
   * The disk now agrees with the ledger for these ids: each of `written` is a whole file, each of
   * `removed` is gone. Ids whose account changed again meanwhile are left as they are.
   */
  settle(written: readonly BlockId[], removed: readonly BlockId[]): void;
  close(): Promise<void>;
}
