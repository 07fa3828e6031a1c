import { describe, expect, it } from 'vitest';
import { blockStoreContract, block } from '../contracts/block-store.js';
import { defaultBackend, type CryptoBackend } from '../../src/content/crypto.js';
import { verifyBlock, type VerifiedBlock } from '../../src/content/verified.js';
import { IdMismatchError } from '../../src/errors.js';
import { createMemoryBlockStore } from '../../src/store/memory.js';

blockStoreContract('memory', async ({ quota, onEvict }) => ({ store: createMemoryBlockStore({ quota, onEvict }) }), {
  persistent: false,
});

describe('a store given bytes already verified (content/verified.ts)', () => {
  /** The default backend, counting its hashes. */
  function countingBackend(): CryptoBackend & { hashes: number } {
    const inner = defaultBackend();
    const counting = {
      name: inner.name,
      hashes: 0,
      importKey: (raw: Uint8Array) => inner.importKey(raw),
      sha256: (data: Uint8Array) => {
        counting.hashes++;
        return inner.sha256(data);
      },
    };
    return counting;
  }

  it('keeps a block a session verified without hashing it again', async () => {
    const backend = countingBackend();
    const store = createMemoryBlockStore({ backend });
    const { id, bytes } = block(4096, 1);
    const verified = await verifyBlock(bytes, id, backend);
    expect(backend.hashes).toBe(1);
    await store.put(id, verified!);
    expect(backend.hashes).toBe(1);
    expect(await store.get(id)).toEqual(bytes);
  });

  it('still refuses verified bytes offered under another id, and keeps nothing under it', async () => {
    const store = createMemoryBlockStore();
    const { id, bytes } = block(4096, 2);
    const other = block(4096, 3).id;
    const verified = await verifyBlock(bytes, id, defaultBackend());
    await expect(store.put(other, verified!)).rejects.toBeInstanceOf(IdMismatchError);
    expect(await store.has(other)).toBe(false);
  });

  it('hashes bytes that were only cast to VerifiedBlock, and refuses them if they are not the block', async () => {
    const store = createMemoryBlockStore();
    const { id } = block(4096, 4);
    const forged = block(4096, 5).bytes as VerifiedBlock;
    await expect(store.put(id, forged)).rejects.toBeInstanceOf(IdMismatchError);
    expect(await store.has(id)).toBe(false);
  });
});
