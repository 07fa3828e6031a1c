import { blockStoreContract } from '../contracts/block-store.js';
import { createMemoryBlockStore } from '../../src/store/memory.js';

blockStoreContract('memory', async ({ quota, onEvict }) => ({ store: createMemoryBlockStore({ quota, onEvict }) }), {
  persistent: false,
});
