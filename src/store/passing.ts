// A block store for blocks passing through: a get that writes a file keeps the blocks it fetched
// for that file in memory until it wrote them (then drops them), while everything else (the root,
// what was put before the switch) goes to the store it wraps, a disk cache. Writing every byte once
// (to the file) instead of twice (to the file and the cache) is the point: see `mycel get`.

import { BadInputError, IdMismatchError } from '../errors.js';
import { defaultBackend, type CryptoBackend } from '../content/crypto.js';
import { isBlockId, type BlockId } from '../content/format.js';
import { verifyBlock } from '../content/verified.js';
import type { BlockStore, StoreUsage } from './block-store.js';

export interface PassingStore extends BlockStore {
  /** From now on blocks put go to memory (up to `maxBlocks`; past it, still to the wrapped store). */
  passThrough(maxBlocks: number): void;
  /** Forgets a block held in memory (it was written where it belongs). */
  drop(id: BlockId): void;
  /** Blocks held in memory now. */
  readonly passingCount: number;
}

export function createPassingStore(inner: BlockStore, backend: CryptoBackend = defaultBackend()): PassingStore {
  const passing = new Map<BlockId, Uint8Array>();
  let maxBlocks = 0;
  let passBytes = 0;
  const drop = (id: BlockId): boolean => {
    const bytes = passing.get(id);
    if (!bytes) return false;
    passing.delete(id);
    passBytes -= bytes.length;
    return true;
  };
  return {
    passThrough(max: number) {
      maxBlocks = max;
    },
    drop,
    get passingCount() {
      return passing.size;
    },
    async put(id, bytes) {
      if (maxBlocks === 0) return inner.put(id, bytes);
      if (!isBlockId(id)) throw new IdMismatchError(String(id));
      if (passing.has(id)) return;
      // Past the bound (index blocks of a very large file add up: one per 2 GiB), blocks go where
      // they went before the switch, the disk cache, rather than grow memory or fail the get.
      if (passing.size >= maxBlocks) return inner.put(id, bytes);
      // Blocks from a session come verified (content/verified.ts): no second hash.
      if (!(await verifyBlock(bytes, id, backend))) throw new IdMismatchError(id);
      // Not copied: nothing writes into a verified block, and the reader is handed these bytes.
      passing.set(id, bytes);
      passBytes += bytes.length;
    },
    async get(id) {
      return passing.get(id) ?? inner.get(id);
    },
    async has(id) {
      return passing.has(id) || inner.has(id);
    },
    async delete(id) {
      const held = drop(id);
      return (await inner.delete(id)) || held;
    },
    async *ids() {
      yield* passing.keys();
      yield* inner.ids();
    },
    async usage(): Promise<StoreUsage> {
      const usage = await inner.usage();
      return { ...usage, bytes: usage.bytes + passBytes, blocks: usage.blocks + passing.size };
    },
    pin: (name, ids) => {
      if (maxBlocks > 0) throw new BadInputError('blocks passing through a get are not pinned');
      return inner.pin(name, ids);
    },
    unpin: (name) => inner.unpin(name),
    pins: () => inner.pins(),
    isPinned: (id) => inner.isPinned(id),
    blockSize: (id) => passing.get(id)?.length ?? inner.blockSize(id),
    pinSet: (name) => inner.pinSet(name),
    async close() {
      passing.clear();
      passBytes = 0;
      await inner.close();
    },
  };
}
