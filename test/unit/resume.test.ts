// Isomorphic: runs in Node and in Chromium (see vite.config.ts). What a resumed get trusts of the
// file it already wrote in part (content/resume.ts), and where its fetched blocks wait until
// written (store/passing.ts).
import { describe, expect, it } from 'vitest';
import { defaultBackend } from '../../src/content/crypto.js';
import { openManifest } from '../../src/content/open.js';
import { verifiedPrefix, type PartialReader } from '../../src/content/resume.js';
import { identifyBlock } from '../../src/content/verified.js';
import { IdMismatchError } from '../../src/errors.js';
import { createMemoryBlockStore } from '../../src/store/memory.js';
import { createPassingStore } from '../../src/store/passing.js';
import { getterFrom, sealToMap } from '../helpers/blocks.js';
import { pseudoRandomBytes, sameBytes } from '../helpers/data.js';

const CHUNK = 4096;

/** What a crash or a stray write leaves: one byte changed. */
function flip(bytes: Uint8Array, at: number): void {
  bytes[at] = bytes[at]! ^ 0xff;
}

function readerOf(bytes: Uint8Array): PartialReader {
  return async (offset, count) => bytes.slice(offset, offset + count);
}

async function opened(bytes: Uint8Array, options: { idsPerIndexBlock?: number } = {}) {
  const idLayout = options.idsPerIndexBlock
    ? { maxInlineIds: 2, idsPerIndexBlock: options.idsPerIndexBlock }
    : undefined;
  const { file, blocks } = await sealToMap(bytes, { chunkSize: CHUNK, idLayout });
  return openManifest(file.root, file.key, getterFrom(blocks), { idLayout });
}

async function prefixOf(file: Awaited<ReturnType<typeof opened>>, written: Uint8Array) {
  return verifiedPrefix(file, readerOf(written), written.length);
}

describe('the part of a file a get already wrote', () => {
  const content = pseudoRandomBytes(10 * CHUNK + 123, 1);

  it('is trusted chunk by chunk, whole chunks only, the last chunk never', async () => {
    const file = await opened(content);
    expect(await prefixOf(file, content.subarray(0, 4 * CHUNK + 100))).toBe(4);
    // All of it: the last chunk (the 11th) is fetched again all the same.
    expect(await prefixOf(file, content)).toBe(10);
    expect(await prefixOf(file, new Uint8Array(0))).toBe(0);
  });

  it('ends at the first chunk that differs, whatever follows', async () => {
    const file = await opened(content);
    const torn = content.slice(0, 8 * CHUNK);
    flip(torn, 5 * CHUNK + 17);
    expect(await prefixOf(file, torn)).toBe(5);
  });

  it('is not taken from another file, even one with the same chunk size', async () => {
    const file = await opened(content);
    expect(await prefixOf(file, pseudoRandomBytes(content.length, 2))).toBe(0);
  });

  it('is checked against ids listed in index blocks too', async () => {
    const file = await opened(content, { idsPerIndexBlock: 3 });
    expect(file.layout).toBe('indexed');
    const torn = content.slice();
    flip(torn, 7 * CHUNK);
    expect(await prefixOf(file, torn)).toBe(7);
  });
});

describe('a store for blocks passing through a get', () => {
  const block = (seed: number) => identifyBlock(pseudoRandomBytes(1000, seed), defaultBackend());

  it('keeps what is put before the switch in the store it wraps, and what follows in memory until dropped', async () => {
    const inner = createMemoryBlockStore();
    const store = createPassingStore(inner);
    const root = await block(1);
    await store.put(root.id, root.bytes);
    store.passThrough(4);
    const data = await block(2);
    await store.put(data.id, data.bytes);
    expect(await inner.has(root.id)).toBe(true);
    expect(await inner.has(data.id)).toBe(false);
    expect(await store.get(data.id)).toBe(data.bytes);
    store.drop(data.id);
    expect(await store.has(data.id)).toBe(false);
    expect(store.passingCount).toBe(0);
  });

  it('keeps no more blocks in memory than its bound: the rest go to the store it wraps', async () => {
    const inner = createMemoryBlockStore();
    const store = createPassingStore(inner);
    store.passThrough(2);
    for (const seed of [1, 2]) {
      const b = await block(seed);
      await store.put(b.id, b.bytes);
    }
    const third = await block(3);
    await store.put(third.id, third.bytes);
    expect(store.passingCount).toBe(2);
    expect(await inner.has(third.id)).toBe(true);
    expect(sameBytes((await store.get(third.id))!, third.bytes)).toBe(true);
  });

  it('refuses bytes that are not their id', async () => {
    const store = createPassingStore(createMemoryBlockStore());
    store.passThrough(2);
    const other = await block(4);
    await expect(store.put(other.id, pseudoRandomBytes(1000, 5))).rejects.toBeInstanceOf(IdMismatchError);
    expect(store.passingCount).toBe(0);
  });
});
