import { blockStoreContract } from '../contracts/block-store.js';
import { createMemoryBlockStore } from '../../src/store/memory.js';

blockStoreContract('memory', async ({ quota }) => ({ store: createMemoryBlockStore({ quota }) }), {
  persistent: false,
});
