// The in-memory account of a store: which blocks it holds and their sizes in least-recently-used
// order, which pin sets name which ids, and the quota. It decides evictions; the stores carry them
// out. Kept synchronous so a decision and its bookkeeping cannot interleave with another put.

import { QuotaError } from '../errors.js';
import type { BlockId } from '../content/format.js';
import type { StoreUsage } from './block-store.js';

/**
 * Milliseconds since the epoch, strictly increasing across calls: persisted last-use stamps must
 * keep their order after a reload even for blocks written in the same millisecond.
 */
export function recencyStamp(): number {
  lastStamp = Math.max(Date.now(), lastStamp + 1);
  return lastStamp;
}
let lastStamp = 0;

export class Ledger {
  /** id → size; Map order is recency order, oldest first. */
  private readonly sizes = new Map<BlockId, number>();
  /** id → number of pin sets naming it. */
  private readonly pinRefs = new Map<BlockId, number>();
  private readonly pinSets = new Map<string, Set<BlockId>>();
  private totalBytes = 0;
  private pinnedBytesHeld = 0;
  private pinnedBlocksHeld = 0;

  constructor(readonly quota: number = Infinity) {
    if (!(quota > 0)) throw new RangeError('quota must be positive');
  }

  has(id: BlockId): boolean {
    return this.sizes.has(id);
  }

  sizeOf(id: BlockId): number | undefined {
    return this.sizes.get(id);
  }

  isPinned(id: BlockId): boolean {
    return (this.pinRefs.get(id) ?? 0) > 0;
  }

  /** Marks `id` most recently used. */
  touch(id: BlockId): void {
    const size = this.sizes.get(id);
    if (size === undefined) return;
    this.sizes.delete(id);
    this.sizes.set(id, size);
  }

  add(id: BlockId, size: number): void {
    if (this.sizes.has(id)) return this.touch(id);
    this.sizes.set(id, size);
    this.totalBytes += size;
    if (this.isPinned(id)) {
      this.pinnedBytesHeld += size;
      this.pinnedBlocksHeld++;
    }
  }

  remove(id: BlockId): boolean {
    const size = this.sizes.get(id);
    if (size === undefined) return false;
    this.sizes.delete(id);
    this.totalBytes -= size;
    if (this.isPinned(id)) {
      this.pinnedBytesHeld -= size;
      this.pinnedBlocksHeld--;
    }
    return true;
  }

  /**
   * Decides how to make room for a new block of `size` bytes: returns the unpinned blocks to evict,
   * least recently used first (often none).
   * @throws QuotaError when even evicting every unpinned block leaves too little room.
   */
  planPut(id: BlockId, size: number): BlockId[] {
    if (this.sizes.has(id) || this.totalBytes + size <= this.quota) return [];
    if (this.pinnedBytesHeld + size > this.quota) {
      throw new QuotaError(
        size,
        this.quota,
        `a ${size}-byte block does not fit: ${this.pinnedBytesHeld} of ${this.quota} bytes are pinned`,
      );
    }
    const victims: BlockId[] = [];
    let bytes = this.totalBytes;
    for (const [victim, victimSize] of this.sizes) {
      if (bytes + size <= this.quota) break;
      if (this.isPinned(victim)) continue;
      victims.push(victim);
      bytes -= victimSize;
    }
    return victims;
  }

  /** Adds ids to a pin set; returns the ids newly added to it. */
  pin(name: string, ids: Iterable<BlockId>): BlockId[] {
    let set = this.pinSets.get(name);
    if (!set) this.pinSets.set(name, (set = new Set()));
    const added: BlockId[] = [];
    for (const id of ids) {
      if (set.has(id)) continue;
      set.add(id);
      added.push(id);
      const refs = (this.pinRefs.get(id) ?? 0) + 1;
      this.pinRefs.set(id, refs);
      const size = this.sizes.get(id);
      if (refs === 1 && size !== undefined) {
        this.pinnedBytesHeld += size;
        this.pinnedBlocksHeld++;
      }
    }
    return added;
  }

  unpin(name: string): boolean {
    const set = this.pinSets.get(name);
    if (!set) return false;
    this.pinSets.delete(name);
    for (const id of set) {
      const refs = (this.pinRefs.get(id) ?? 1) - 1;
      if (refs > 0) {
        this.pinRefs.set(id, refs);
        continue;
      }
      this.pinRefs.delete(id);
      const size = this.sizes.get(id);
      if (size !== undefined) {
        this.pinnedBytesHeld -= size;
        this.pinnedBlocksHeld--;
      }
    }
    return true;
  }

  pinSet(name: string): ReadonlySet<BlockId> | undefined {
    return this.pinSets.get(name);
  }

  pinNames(): string[] {
    return [...this.pinSets.keys()];
  }

  ids(): IterableIterator<BlockId> {
    return this.sizes.keys();
  }

  usage(): StoreUsage {
    return {
      bytes: this.totalBytes,
      blocks: this.sizes.size,
      pinnedBytes: this.pinnedBytesHeld,
      pinnedBlocks: this.pinnedBlocksHeld,
      quota: this.quota,
    };
  }
}
