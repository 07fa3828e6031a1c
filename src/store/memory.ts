// A block store in a Map: for tests, and for peers that should keep nothing once they exit.

import type { BlockId } from '../content/format.js';
import type { BlockStore } from './block-store.js';
import { Ledger } from './ledger.js';
import { ManagedBlockStore, type ManagedStoreOptions, type RawBlocks } from './managed-store.js';

export interface MemoryStoreOptions extends ManagedStoreOptions {
  readonly quota?: number;
}

export function createMemoryBlockStore(options: MemoryStoreOptions = {}): BlockStore {
  const blocks = new Map<BlockId, Uint8Array>();
  const raw: RawBlocks = {
    async read(id) {
      return blocks.get(id);
    },
    async write(id, bytes, evict) {
      blocks.set(id, bytes.slice());
      for (const victim of evict) blocks.delete(victim);
    },
    async remove(ids) {
      for (const id of ids) blocks.delete(id);
    },
    // Pins live in the ledger alone: nothing outlives the process.
    addPins: () => Promise.resolve(),
    dropPins: () => Promise.resolve(),
    async close() {
      blocks.clear();
    },
  };
  return new ManagedBlockStore(raw, new Ledger(options.quota), options);
}
