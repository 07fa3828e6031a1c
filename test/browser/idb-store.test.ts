// Runs in real Chromium (vitest browser mode): the IndexedDB store against the browser's own
// IndexedDB, not a fake.
import { describe, expect, it } from 'vitest';
import { blockStoreContract, block } from '../contracts/block-store.js';
import { IdbLibrary, openIdbBlockStore, openMycelDatabase } from '../../src/store/idb.browser.js';
import { libraryContract } from '../contracts/library.js';

let counter = 0;
const freshName = () => `mycel-test-${Date.now()}-${counter++}`;

blockStoreContract('IndexedDB', async ({ quota, onEvict }) => {
  const name = freshName();
  const store = await openIdbBlockStore({ name, quota, onEvict });
  return {
    store,
    reopen: async () => {
      await store.close();
      return openIdbBlockStore({ name, quota });
    },
  };
});

describe('IndexedDB store in Chromium', () => {
  it('group-commits concurrent puts into few transactions', async () => {
    const name = freshName();
    const db = await openMycelDatabase(name);
    let transactions = 0;
    const realTransaction = db.transaction.bind(db);
    db.transaction = ((...args: Parameters<typeof db.transaction>) => {
      if (args[1] === 'readwrite') transactions++;
      return realTransaction(...args);
    }) as typeof db.transaction;
    const store = await openIdbBlockStore({ db });
    const blocks = Array.from({ length: 200 }, (_, i) => block(4096, 1000 + i));
    await Promise.all(blocks.map((b) => store.put(b.id, b.bytes)));
    expect(transactions).toBeLessThanOrEqual(10);
    expect((await store.usage()).blocks).toBe(200);
    await store.close();
    db.close();
  });

  it('lets blocks that stream in one by one share transactions, and keeps them all', async () => {
    // Blocks from a peer arrive a few ms apart, each after the last commit ended: without lingering
    // every one would take a transaction of its own.
    const name = freshName();
    const db = await openMycelDatabase(name);
    let transactions = 0;
    const realTransaction = db.transaction.bind(db);
    db.transaction = ((...args: Parameters<typeof db.transaction>) => {
      if (args[1] === 'readwrite') transactions++;
      return realTransaction(...args);
    }) as typeof db.transaction;
    const store = await openIdbBlockStore({ db });
    const blocks = Array.from({ length: 40 }, (_, i) => block(64 * 1024, 2000 + i));
    const puts: Promise<void>[] = [];
    for (const b of blocks) {
      puts.push(store.put(b.id, b.bytes));
      await new Promise((resolve) => setTimeout(resolve, 2)); // the next block's arrival, not a wait for an event
    }
    await Promise.all(puts);
    expect(transactions).toBeLessThanOrEqual(blocks.length / 2);
    // Closed at once after the last put: every block is there when the store opens again.
    await store.close();
    const again = await openIdbBlockStore({ db });
    for (const b of blocks) {
      const got = await again.get(b.id);
      // Compared in a loop: toEqual on 64 KiB arrays takes seconds each.
      expect(got?.length === b.bytes.length && got.every((x, i) => x === b.bytes[i])).toBe(true);
    }
    await again.close();
    db.close();
  });

  it('stores exactly the block bytes of a view into a larger buffer', async () => {
    const name = freshName();
    const store = await openIdbBlockStore({ name });
    const a = block(1000, 7);
    const big = new Uint8Array(10_000);
    big.set(a.bytes, 500);
    await store.put(a.id, big.subarray(500, 1500));
    await store.close();
    const again = await openIdbBlockStore({ name });
    const bytes = (await again.get(a.id))!;
    expect(bytes.byteLength).toBe(1000);
    expect(bytes.buffer.byteLength).toBe(1000);
    await again.close();
  });
});

libraryContract('IndexedDB', async () => {
  const name = freshName();
  const db = await openMycelDatabase(name);
  return {
    library: new IdbLibrary(db),
    reopen: async () => {
      db.close();
      return new IdbLibrary(await openMycelDatabase(name));
    },
  };
});
