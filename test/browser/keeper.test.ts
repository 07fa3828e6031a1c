// Keeping copies for others (web/lib/keeper.ts) over the real IndexedDB block store in Chromium:
// only the deployment's seeds may push, only while the person lets this browser keep copies, only
// up to the limit they picked; a committed file is kept whole and pinned, and turning the setting
// off gives the space back. The hostile peers: a stranger (a browser not in the seeds lookup)
// pushing blocks, and a seed pushing more than the limit.
import { afterEach, describe, expect, it } from 'vitest';
import { Keeper, KEEP_SETTINGS_KEY, type KeepingSettings } from '../../web/lib/keeper.js';
import { openIdbBlockStore, openMycelDatabase } from '../../src/store/idb.browser.js';
import type { BlockStore } from '../../src/store/block-store.js';
import { QuotaError, StoreRefusedError } from '../../src/errors.js';
import { sealToMap } from '../helpers/blocks.js';
import { pseudoRandomBytes } from '../helpers/data.js';

const SEED = 'S'.repeat(43);
const STRANGER = 'X'.repeat(43);
const MIB = 2 ** 20;

const stores: BlockStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

class MemoryStorage {
  readonly items = new Map<string, string>();
  getItem(key: string) {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string) {
    this.items.set(key, value);
  }
}

async function keeper(settings?: KeepingSettings) {
  const db = await openMycelDatabase(`mycel-keeper-${Math.random()}`);
  const store = await openIdbBlockStore({ db });
  stores.push(store);
  const storage = new MemoryStorage();
  if (settings) storage.setItem(KEEP_SETTINGS_KEY, JSON.stringify(settings));
  const announced = new Set<string>();
  const keep = new Keeper({
    store,
    storage,
    seeds: async () => [SEED],
    heldForLibrary: async () => false,
    announce: (roots) => roots.forEach((r) => announced.add(r)),
    withdraw: (roots) => roots.forEach((r) => announced.delete(r)),
    onChange: () => undefined,
  });
  return { keep, store, storage, announced };
}

const upload = (n: number) => new Uint8Array(16).fill(n);

/** Pushes every block of a sealed file as `peer` would, then commits it. */
async function push(keep: Keeper, peer: string, sealed: Awaited<ReturnType<typeof sealToMap>>, id = 1) {
  for (const block of sealed.order) await keep.receiveStore(peer, upload(id), block.id, block.bytes);
  await keep.receiveCommit(peer, upload(id), sealed.file.root, {});
}

describe('keeping copies for others', () => {
  it('is off by default: even a seed is refused as not allowed', async () => {
    const { keep, store } = await keeper();
    const sealed = await sealToMap(pseudoRandomBytes(MIB, 1));
    const error = await push(keep, SEED, sealed).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreRefusedError);
    expect((error as StoreRefusedError).reason).toBe('not-allowed');
    expect((await store.usage()).blocks).toBe(0);
  });

  it('refuses a peer that is not one of the deployment seeds, and stores none of its blocks', async () => {
    const { keep, store } = await keeper({ enabled: true, limit: 64 * MIB });
    const sealed = await sealToMap(pseudoRandomBytes(MIB, 2));
    const error = await push(keep, STRANGER, sealed).catch((e: unknown) => e);
    expect((error as StoreRefusedError).reason).toBe('not-allowed');
    expect((await store.usage()).blocks).toBe(0);
  });

  it("keeps a seed's file whole, pinned and announced, and lists it with its size", async () => {
    const { keep, store, announced } = await keeper({ enabled: true, limit: 64 * MIB });
    const sealed = await sealToMap(pseudoRandomBytes(3 * MIB, 3));
    await push(keep, SEED, sealed);
    const files = await keep.files();
    expect(files).toEqual([{ root: sealed.file.root, bytes: expect.any(Number) }]);
    expect(files[0]!.bytes).toBeGreaterThan(3 * MIB);
    expect(announced.has(sealed.file.root)).toBe(true);
    for (const block of sealed.order) expect(store.isPinned(block.id)).toBe(true);
  });

  it('refuses a commit of a file it lacks blocks of, and keeps nothing of it', async () => {
    const { keep, store } = await keeper({ enabled: true, limit: 64 * MIB });
    const sealed = await sealToMap(pseudoRandomBytes(2 * MIB, 4));
    for (const block of sealed.order.slice(1)) await keep.receiveStore(SEED, upload(1), block.id, block.bytes);
    const error = await keep.receiveCommit(SEED, upload(1), sealed.file.root, {}).catch((e: unknown) => e);
    expect((error as StoreRefusedError).reason).toBe('incomplete');
    expect(await keep.files()).toEqual([]);
    expect((await store.usage()).blocks).toBe(0);
  });

  it('refuses with a quota error past the limit the person picked, and drops that upload', async () => {
    const { keep, store } = await keeper({ enabled: true, limit: MIB });
    const sealed = await sealToMap(pseudoRandomBytes(3 * MIB, 5));
    const error = await push(keep, SEED, sealed).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QuotaError);
    expect((await store.usage()).blocks).toBe(0);
  });

  it('turned off, releases every copy: unannounced, unpinned, blocks deleted; the setting is saved', async () => {
    const { keep, store, storage, announced } = await keeper({ enabled: true, limit: 64 * MIB });
    const sealed = await sealToMap(pseudoRandomBytes(2 * MIB, 6));
    await push(keep, SEED, sealed);
    await keep.update({ enabled: false, limit: 64 * MIB });
    expect(await keep.files()).toEqual([]);
    expect(announced.size).toBe(0);
    expect((await store.usage()).blocks).toBe(0);
    expect(JSON.parse(storage.getItem(KEEP_SETTINGS_KEY)!)).toEqual({ enabled: false, limit: 64 * MIB });
  });
});
