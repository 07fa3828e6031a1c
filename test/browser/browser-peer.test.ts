// The browser peer in real Chromium with its real IndexedDB, no network (the signaling server it
// is pointed at does not exist): files added are held whole and announced; when the quota evicts
// an unpinned file's blocks, the Library stops calling it whole, while a pinned file stays.
import { afterEach, describe, expect, it } from 'vitest';
import { BrowserPeer } from '../../web/lib/browser-peer.js';
import { pseudoRandomBytes } from '../helpers/data.js';

const peers: BrowserPeer[] = [];
afterEach(async () => {
  for (const peer of peers.splice(0)) await peer.close();
});

async function offlinePeer(quota: number): Promise<BrowserPeer> {
  const peer = await BrowserPeer.start({ dbName: `mycel-peer-${Math.random()}`, origin: 'http://127.0.0.1:9', quota });
  peers.push(peer);
  return peer;
}

const file = (name: string, size: number, seed: number) =>
  new File([pseudoRandomBytes(size, seed)], name, { type: 'application/octet-stream' });

describe('browser peer', () => {
  it('holds what it adds, and stops calling a file whole once the quota evicts its blocks', async () => {
    const peer = await offlinePeer(1_000_000);
    const first = await peer.addFile(file('first.bin', 400_000, 1));
    const pinned = await peer.addFile(file('pinned.bin', 400_000, 2));
    await peer.pin(pinned.root);
    expect((await peer.entries()).every((e) => e.complete)).toBe(true);

    await peer.addFile(file('third.bin', 400_000, 3)); // evicts the oldest unpinned blocks: first.bin's
    await expect.poll(async () => (await peer.library.get(first.root))?.complete, { timeout: 10_000 }).toBe(false);
    const after = await peer.library.get(pinned.root);
    expect(after).toMatchObject({ complete: true, pinned: true });
    expect(peer.swarm.signaling.announced()).not.toContain(first.root);
    expect(peer.swarm.signaling.announced()).toContain(pinned.root);
  });
});
