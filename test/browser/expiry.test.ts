// Expiry in the browser (web/lib/expiry.ts) over the real IndexedDB in Chromium: a file whose
// owner's expiry has passed is dropped, entry and blocks, while a file without expiry stays; so is a
// copy kept for others whose commit carried an expiry, and one that expired while the page was closed
// is dropped at the next start. The hostile peer: a seed committing a file whose expiry has passed.
import { afterEach, describe, expect, it } from 'vitest';
import { BrowserPeer, SEED_SEARCH_MS } from '../../web/lib/browser-peer.js';
import { ExpiryClock } from '../../web/lib/expiry.js';
import { Keeper, KEEP_SETTINGS_KEY } from '../../web/lib/keeper.js';
import { openIdbBlockStore, openMycelDatabase } from '../../src/store/idb.browser.js';
import type { BlockStore } from '../../src/store/block-store.js';
import { StoreRefusedError } from '../../src/errors.js';
import { sealToMap } from '../helpers/blocks.js';
import { pseudoRandomBytes } from '../helpers/data.js';

const SEED = 'S'.repeat(43);
const MIB = 2 ** 20;
/** How far ahead the expiring files expire: long enough to add them first (an add offline waits
 * SEED_SEARCH_MS for a server before it keeps the file here only). */
const AHEAD_MS = SEED_SEARCH_MS + 2_500;
const WAIT = { timeout: 15_000, interval: 200 };

class MemoryStorage {
  readonly items = new Map<string, string>();
  getItem(key: string) {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string) {
    this.items.set(key, value);
  }
}

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function visit(dbName: string, storage: MemoryStorage): Promise<BrowserPeer> {
  const peer = await BrowserPeer.start({ dbName, origin: 'http://127.0.0.1:9', storage });
  closers.push(() => peer.close());
  return peer;
}

const file = (name: string, seed: number) =>
  new File([pseudoRandomBytes(300_000, seed)], name, { type: 'application/octet-stream' });

describe('expiry in the browser', () => {
  it('drops an added file once its expiry passes (entry, topic, blocks); a file without expiry stays', async () => {
    const peer = await visit(`mycel-expiry-${Math.random()}`, new MemoryStorage());
    const stays = await peer.addFile(file('stays.bin', 1));
    const blocksOfStays = (await peer.usage()).blocks;
    const goes = await peer.addFile(file('goes.bin', 2), undefined, undefined, { expiresAt: Date.now() + AHEAD_MS });
    expect((await peer.usage()).blocks).toBeGreaterThan(blocksOfStays);
    const shown: string[][] = [];
    peer.on('library', (entries) => shown.push(entries.map((e) => e.root)));

    await expect.poll(async () => (await peer.library.get(goes.root)) === undefined, WAIT).toBe(true);
    expect(await peer.store.has(goes.root)).toBe(false);
    expect((await peer.usage()).blocks).toBe(blocksOfStays);
    expect(peer.swarm.signaling.announced()).not.toContain(goes.root);
    expect(shown.at(-1)).toEqual([stays.root]);
    expect(await peer.library.get(stays.root)).toMatchObject({ complete: true });
    expect(peer.swarm.signaling.announced()).toContain(stays.root);
  });

  it('drops at start a file that expired while the page was closed', async () => {
    const dbName = `mycel-expiry-${Math.random()}`;
    const storage = new MemoryStorage();
    const first = await visit(dbName, storage);
    const expiresAt = Date.now() + AHEAD_MS;
    const goes = await first.addFile(file('goes.bin', 3), undefined, undefined, { expiresAt });
    await first.close();
    // The page stays closed past the expiry: nothing runs meanwhile that could drop it.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now()) + 100));

    const second = await visit(dbName, storage);
    expect(await second.library.get(goes.root)).toBeUndefined();
    expect((await second.usage()).blocks).toBe(0);
    expect(second.swarm.signaling.announced()).not.toContain(goes.root);
  });
});

describe('expiry of copies kept for others', () => {
  async function keeping() {
    const db = await openMycelDatabase(`mycel-keep-expiry-${Math.random()}`);
    const store: BlockStore = await openIdbBlockStore({ db });
    const storage = new MemoryStorage();
    storage.setItem(KEEP_SETTINGS_KEY, JSON.stringify({ enabled: true, limit: 64 * MIB }));
    const announced = new Set<string>();
    const keep = new Keeper({
      store,
      storage,
      seeds: async () => [SEED],
      heldForLibrary: async () => false,
      announce: (roots) => roots.forEach((r) => announced.add(r)),
      withdraw: (roots) => roots.forEach((r) => announced.delete(r)),
      onChange: () => clock.rearm(),
    });
    const clock = new ExpiryClock({
      next: async () => {
        const at = [...(await keep.expiries()).values()];
        return at.length > 0 ? Math.min(...at) : undefined;
      },
      dropDue: async (now) => void (await keep.dropExpired(now)),
      onError: (error) => errors.push(error),
    });
    const errors: unknown[] = [];
    closers.push(async () => {
      clock.close();
      await store.close();
      db.close();
    });
    return { keep, store, announced, clock, errors };
  }

  async function push(keep: Keeper, sealed: Awaited<ReturnType<typeof sealToMap>>, n: number, expiresAt?: number) {
    const upload = new Uint8Array(16).fill(n);
    for (const block of sealed.order) await keep.receiveStore(SEED, upload, block.id, block.bytes);
    await keep.receiveCommit(SEED, upload, sealed.file.root, expiresAt === undefined ? {} : { expiresAt });
  }

  it("drops a kept copy at its commit's expiry (pin, topic, blocks); a copy without expiry stays", async () => {
    const { keep, store, announced, clock, errors } = await keeping();
    const stays = await sealToMap(pseudoRandomBytes(MIB, 11));
    const goes = await sealToMap(pseudoRandomBytes(MIB, 12));
    await push(keep, stays, 1);
    await push(keep, goes, 2, Date.now() + AHEAD_MS);
    expect((await keep.expiries()).has(goes.file.root)).toBe(true);
    await clock.run();

    await expect.poll(async () => (await keep.roots()).includes(goes.file.root), WAIT).toBe(false);
    // The release unpins first and deletes the blocks after: wait for the last of them.
    const held = async () => (await Promise.all(goes.order.map((block) => store.has(block.id)))).filter(Boolean);
    await expect.poll(held, WAIT).toEqual([]);
    expect(announced.has(goes.file.root)).toBe(false);
    expect(await keep.roots()).toEqual([stays.file.root]);
    for (const block of stays.order) expect(store.isPinned(block.id)).toBe(true);
    expect(announced.has(stays.file.root)).toBe(true);
    expect(await keep.expiries()).toEqual(new Map());
    expect(errors).toEqual([]);
  });

  it('refuses a commit whose expiry has passed, and keeps none of its blocks', async () => {
    const { keep, store } = await keeping();
    const sealed = await sealToMap(pseudoRandomBytes(MIB, 13));
    const error = await push(keep, sealed, 3, Date.now() - 1_000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreRefusedError);
    expect((error as StoreRefusedError).reason).toBe('not-allowed');
    expect(await keep.roots()).toEqual([]);
    expect((await store.usage()).blocks).toBe(0);
  });
});
