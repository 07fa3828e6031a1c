// Collecting unneeded blocks (web/lib/collector.ts) in a browser peer over the real IndexedDB in
// Chromium: blocks no Library entry, pin or kept file lists (the leftovers of a file this device
// no longer knows) are deleted once unneeded for the collector's delay, while the blocks of files in
// the Library, whole or pinned, stay; and nothing is collected while an add is running.
import { afterEach, describe, expect, it } from 'vitest';
import { BrowserPeer } from '../../web/lib/browser-peer.js';
import { BlockCollector } from '../../web/lib/collector.js';
import { openIdbBlockStore, openMycelDatabase } from '../../src/store/idb.browser.js';
import { sealToMap } from '../helpers/blocks.js';
import { pseudoRandomBytes } from '../helpers/data.js';

/** The sweep's period and delay in these tests. */
const COLLECT_MS = 300;
const WAIT = { timeout: 15_000, interval: 200 };

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

const file = (name: string, seed: number) =>
  new File([pseudoRandomBytes(300_000, seed)], name, { type: 'application/octet-stream' });

describe('collecting unneeded blocks', () => {
  it("deletes blocks nothing needs, and keeps the Library's files, whole and pinned", async () => {
    const peer = await BrowserPeer.start({
      dbName: `mycel-collect-${Math.random()}`,
      origin: 'http://127.0.0.1:9',
      collectMs: COLLECT_MS,
    });
    closers.push(() => peer.close());
    const kept = await peer.addFile(file('kept.bin', 1));
    const pinned = await peer.addFile(file('pinned.bin', 2));
    await peer.pin(pinned.root);
    const needed = (await peer.usage()).blocks;
    // The leftovers of a file this device no longer knows: held, but listed by nothing.
    const stray = await sealToMap(pseudoRandomBytes(1_000_000, 3));
    for (const block of stray.order) await peer.store.put(block.id, block.bytes);
    expect((await peer.usage()).blocks).toBe(needed + stray.order.length);

    await expect.poll(async () => (await peer.usage()).blocks, WAIT).toBe(needed);
    for (const block of stray.order) expect(await peer.store.has(block.id)).toBe(false);
    // Exactly the files' blocks are left (the count above), so none of theirs was taken.
    for (const entry of [kept, pinned]) expect(await peer.library.get(entry.root)).toMatchObject({ complete: true });
  });

  it('collects nothing while an add is running, and starts the delay over after it', async () => {
    const db = await openMycelDatabase(`mycel-collect-${Math.random()}`);
    const store = await openIdbBlockStore({ db });
    closers.push(async () => {
      await store.close();
      db.close();
    });
    const stray = await sealToMap(pseudoRandomBytes(300_000, 4));
    for (const block of stray.order) await store.put(block.id, block.bytes);
    let busy = false;
    let now = 0;
    const collector = new BlockCollector({
      store,
      needed: async () => new Set(),
      busy: () => busy,
      delayMs: 1_000,
      now: () => now,
    });
    expect(await collector.sweep()).toBe(0); // noted as unneeded at 0
    busy = true;
    now = 2_000;
    expect(await collector.sweep()).toBe(0);
    busy = false;
    expect(await collector.sweep()).toBe(0); // noted again at 2000: the delay starts over
    now = 3_000;
    expect(await collector.sweep()).toBe(stray.order.length);
    expect((await store.usage()).blocks).toBe(0);
  });
});
