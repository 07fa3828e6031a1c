// Collecting blocks nothing needs (issue 12): a block held here that no pin names and no Library
// entry or kept file lists (a leftover of a removal whose index block was gone, of an add or a
// fetch that stopped half-way) takes space the quota would rather give to files. A sweep every
// COLLECT_SWEEP_MS notes such blocks; one still unneeded COLLECT_DELAY_MS later is deleted, at most
// COLLECT_BATCH a sweep. The delay is what keeps a fetch or an add in progress from being raced:
// its blocks are written before the Library names them. While the peer says it is busy (an add is
// running) nothing is noted or deleted, and what was noted starts over.

import type { BlockId } from '../../src/content/format.js';
import type { BlockStore } from '../../src/store/block-store.js';

/** How often the sweep looks. */
export const COLLECT_SWEEP_MS = 10 * 60_000;
/** How long a block stays unneeded before it is deleted. */
export const COLLECT_DELAY_MS = 10 * 60_000;
/** Blocks deleted per sweep at most (the rest wait for the next one). */
export const COLLECT_BATCH = 256;
/** Unneeded blocks remembered at most (the store's block count bounds it too). */
export const MAX_COLLECT_CANDIDATES = 65_536;

export interface CollectorOptions {
  readonly store: BlockStore;
  /** Blocks the Library's entries and the kept files list (pins are checked here). */
  needed(): Promise<ReadonlySet<BlockId>>;
  /** Whether something is writing blocks the Library does not name yet (an add in progress). */
  busy(): boolean;
  readonly delayMs?: number;
  readonly now?: () => number;
}

export class BlockCollector {
  /** Unneeded blocks, with when a sweep first saw them so. */
  private readonly candidates = new Map<BlockId, number>();
  private readonly now: () => number;
  private readonly delayMs: number;

  constructor(private readonly options: CollectorOptions) {
    this.now = options.now ?? Date.now;
    this.delayMs = options.delayMs ?? COLLECT_DELAY_MS;
  }

  /** One sweep; returns how many blocks it deleted. */
  async sweep(): Promise<number> {
    const { store } = this.options;
    if (this.options.busy()) {
      this.candidates.clear();
      return 0;
    }
    const needed = await this.options.needed();
    const now = this.now();
    const held = new Set<BlockId>();
    for await (const id of store.ids()) {
      held.add(id);
      if (store.isPinned(id) || needed.has(id)) this.candidates.delete(id);
      else if (!this.candidates.has(id) && this.candidates.size < MAX_COLLECT_CANDIDATES) this.candidates.set(id, now);
    }
    for (const id of this.candidates.keys()) if (!held.has(id)) this.candidates.delete(id);
    let deleted = 0;
    for (const [id, since] of [...this.candidates]) {
      if (deleted >= COLLECT_BATCH) break;
      if (now - since < this.delayMs) continue;
      // Checked again at the last moment: a pin or an add may have come while the sweep listed.
      if (this.options.busy()) break;
      this.candidates.delete(id);
      if (store.isPinned(id)) continue;
      if (await store.delete(id)) deleted++;
    }
    return deleted;
  }
}
