// What every BlockStore promises, as one suite run against each implementation: memory (Node),
// the file system (Node, a real disk) and IndexedDB (real Chromium).

import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/content/bytes.js';
import { sha256Sync } from '../../src/content/crypto.js';
import { MAX_BLOCK_BYTES, type BlockId } from '../../src/content/format.js';
import { IdMismatchError, QuotaError } from '../../src/errors.js';
import type { BlockStore } from '../../src/store/block-store.js';
import { pseudoRandomBytes } from '../helpers/data.js';

export interface StoreUnderTest {
  store: BlockStore;
  /** Closes the store and opens it again on the same data, if the implementation persists. */
  reopen?: () => Promise<BlockStore>;
}

export type StoreFactory = (options: {
  quota?: number;
  onEvict?: (ids: readonly BlockId[]) => void;
}) => Promise<StoreUnderTest>;

export function block(size: number, seed: number): { id: BlockId; bytes: Uint8Array } {
  const bytes = pseudoRandomBytes(size, seed);
  return { id: toHex(sha256Sync(bytes)), bytes };
}

async function bytesOf(store: BlockStore, id: BlockId): Promise<Uint8Array | undefined> {
  const bytes = await store.get(id);
  return bytes && new Uint8Array(bytes);
}

export function blockStoreContract(name: string, open: StoreFactory, { persistent = true } = {}): void {
  describe(`${name} block store`, () => {
    it('keeps a block and gives it back', async () => {
      const { store } = await open({});
      const a = block(1000, 1);
      expect(await store.has(a.id)).toBe(false);
      expect(await store.get(a.id)).toBeUndefined();
      await store.put(a.id, a.bytes);
      expect(await store.has(a.id)).toBe(true);
      expect(await bytesOf(store, a.id)).toEqual(a.bytes);
      const ids: BlockId[] = [];
      for await (const id of store.ids()) ids.push(id);
      expect(ids).toEqual([a.id]);
      expect(await store.usage()).toMatchObject({ bytes: 1000, blocks: 1 });
      expect(await store.delete(a.id)).toBe(true);
      expect(await store.delete(a.id)).toBe(false);
      expect(await store.has(a.id)).toBe(false);
      await store.close();
    });

    it('refuses bytes that do not hash to the id, and stores nothing', async () => {
      const { store } = await open({});
      const a = block(500, 2);
      const b = block(500, 3);
      await expect(store.put(a.id, b.bytes)).rejects.toBeInstanceOf(IdMismatchError);
      await expect(store.put('not-an-id', b.bytes)).rejects.toBeInstanceOf(IdMismatchError);
      expect(await store.has(a.id)).toBe(false);
      expect((await store.usage()).blocks).toBe(0);
      await store.close();
    });

    it('refuses a block larger than any block can be', async () => {
      const { store } = await open({});
      const big = block(MAX_BLOCK_BYTES + 1, 4);
      await expect(store.put(big.id, big.bytes)).rejects.toMatchObject({ code: 'BAD_INPUT' });
      await store.close();
    });

    it('counts a block put twice once', async () => {
      const { store } = await open({});
      const a = block(300, 5);
      await Promise.all([store.put(a.id, a.bytes), store.put(a.id, a.bytes)]);
      await store.put(a.id, a.bytes);
      expect(await store.usage()).toMatchObject({ bytes: 300, blocks: 1 });
      await store.close();
    });

    it('stores many puts in flight at once', async () => {
      const { store } = await open({});
      const blocks = Array.from({ length: 150 }, (_, i) => block(2048, 100 + i));
      await Promise.all(blocks.map((b) => store.put(b.id, b.bytes)));
      expect((await store.usage()).blocks).toBe(150);
      for (const b of blocks.slice(0, 10)) expect(await bytesOf(store, b.id)).toEqual(b.bytes);
      await store.close();
    });

    it('evicts the least recently used unpinned block when the quota is reached', async () => {
      const { store } = await open({ quota: 3000 });
      const [a, b, c, d] = [block(1000, 10), block(1000, 11), block(1000, 12), block(1000, 13)];
      await store.put(a.id, a.bytes);
      await store.put(b.id, b.bytes);
      await store.put(c.id, c.bytes);
      await store.get(a.id); // a is now more recent than b
      await store.put(d.id, d.bytes);
      expect(await store.has(b.id)).toBe(false);
      for (const kept of [a, c, d]) expect(await bytesOf(store, kept.id)).toEqual(kept.bytes);
      expect(await store.usage()).toMatchObject({ bytes: 3000, blocks: 3, quota: 3000 });
      await store.close();
    });

    it('tells which blocks it evicted', async () => {
      const evicted: BlockId[] = [];
      const { store } = await open({ quota: 2000, onEvict: (ids) => evicted.push(...ids) });
      const [a, b, c] = [block(1000, 14), block(1000, 15), block(1000, 16)];
      for (const x of [a, b, c]) await store.put(x.id, x.bytes);
      expect(evicted).toEqual([a.id]);
      await store.close();
    });

    it('never evicts pinned blocks, and refuses a put pinned data leaves no room for', async () => {
      const { store } = await open({ quota: 2500 });
      const [a, b, c] = [block(1000, 20), block(1000, 21), block(1000, 22)];
      await store.pin('file-1', [a.id, b.id]);
      await store.put(a.id, a.bytes);
      await store.put(b.id, b.bytes);
      const error = await store.put(c.id, c.bytes).catch((e) => e);
      expect(error).toBeInstanceOf(QuotaError);
      expect(error.code).toBe('QUOTA_EXCEEDED');
      expect(await bytesOf(store, a.id)).toEqual(a.bytes);
      expect(await bytesOf(store, b.id)).toEqual(b.bytes);
      expect(await store.has(c.id)).toBe(false);
      expect(await store.usage()).toMatchObject({ bytes: 2000, pinnedBytes: 2000, pinnedBlocks: 2 });
      await store.close();
    });

    it('evicts around pinned blocks, and releases them on unpin', async () => {
      const { store } = await open({ quota: 2000 });
      const [a, b, c, d] = [block(1000, 30), block(1000, 31), block(1000, 32), block(1000, 33)];
      await store.put(a.id, a.bytes);
      await store.pin('keep-a', [a.id]);
      await store.put(b.id, b.bytes);
      await store.put(c.id, c.bytes); // evicts b, the only unpinned block
      expect(await store.has(a.id)).toBe(true);
      expect(await store.has(b.id)).toBe(false);
      expect(store.isPinned(a.id)).toBe(true);
      expect(await store.pins()).toEqual(['keep-a']);
      await store.unpin('keep-a');
      expect(store.isPinned(a.id)).toBe(false);
      await store.put(d.id, d.bytes); // a is now the oldest unpinned block
      expect(await store.has(a.id)).toBe(false);
      expect(await store.has(c.id)).toBe(true);
      await store.close();
    });

    it('keeps a block pinned while any pin set names it', async () => {
      const { store } = await open({});
      const a = block(100, 40);
      await store.put(a.id, a.bytes);
      await store.pin('one', [a.id]);
      await store.pin('two', [a.id]);
      await store.unpin('one');
      expect(store.isPinned(a.id)).toBe(true);
      await store.unpin('two');
      expect(store.isPinned(a.id)).toBe(false);
      expect((await store.usage()).pinnedBytes).toBe(0);
      await store.close();
    });

    it("tells a held block's size and a pin set's ids without reading anything", async () => {
      const { store } = await open({});
      const [a, b] = [block(700, 45), block(10, 46)];
      await store.put(a.id, a.bytes);
      await store.pin('p', [a.id, b.id]);
      expect(store.blockSize(a.id)).toBe(700);
      expect(store.blockSize(b.id)).toBeUndefined(); // pinned, never stored
      expect([...store.pinSet('p')!].sort()).toEqual([a.id, b.id].sort());
      expect(store.pinSet('none')).toBeUndefined();
      await store.close();
    });

    if (!persistent) return;

    it('keeps blocks, pins and recency across a reopen', async () => {
      const under = await open({ quota: 3000 });
      const [a, b, c, d] = [block(1000, 50), block(1000, 51), block(1000, 52), block(1000, 53)];
      for (const x of [a, b, c]) await under.store.put(x.id, x.bytes);
      await under.store.pin('p', [b.id]);
      const store = await under.reopen!();
      expect(await store.usage()).toMatchObject({ bytes: 3000, blocks: 3, pinnedBytes: 1000 });
      expect(store.isPinned(b.id)).toBe(true);
      await store.put(d.id, d.bytes); // a is the oldest unpinned block
      expect(await store.has(a.id)).toBe(false);
      expect(await bytesOf(store, b.id)).toEqual(b.bytes);
      expect(await bytesOf(store, c.id)).toEqual(c.bytes);
      await store.close();
    });
  });
}
