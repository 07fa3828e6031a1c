// The wipe canary (web/lib/canary.ts) in real Chromium: a browser whose IndexedDB is deleted
// between two visits, while localStorage survives, notices at start which id it had and which files
// it held whole; a visit without a wipe notices nothing; a wipe of both stores at once cannot be
// noticed (nothing is left to compare) and is not claimed.
import { afterEach, describe, expect, it } from 'vitest';
import { BrowserPeer } from '../../web/lib/browser-peer.js';
import { checkCanary } from '../../web/lib/canary.js';
import { openMycelDatabase } from '../../src/store/idb.browser.js';
import { pseudoRandomBytes } from '../helpers/data.js';

class MemoryStorage {
  readonly items = new Map<string, string>();
  getItem(key: string) {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string) {
    this.items.set(key, value);
  }
}

const peers: BrowserPeer[] = [];
afterEach(async () => {
  for (const peer of peers.splice(0)) await peer.close();
});

async function visit(dbName: string, storage: MemoryStorage): Promise<BrowserPeer> {
  const peer = await BrowserPeer.start({ dbName, origin: 'http://127.0.0.1:9', storage });
  peers.push(peer);
  return peer;
}

async function leave(peer: BrowserPeer): Promise<void> {
  peers.splice(peers.indexOf(peer), 1);
  await peer.close();
}

function deleteDatabase(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(name);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error ?? new Error('deleteDatabase failed'));
  });
}

const file = (name: string, seed: number) =>
  new File([pseudoRandomBytes(300_000, seed)], name, { type: 'application/octet-stream' });

describe('the wipe canary', () => {
  it('notices a wiped IndexedDB at the next start: the former id and the files held whole', async () => {
    const dbName = `mycel-canary-${Math.random()}`;
    const storage = new MemoryStorage();
    const first = await visit(dbName, storage);
    const a = await first.addFile(file('a.bin', 1));
    const b = await first.addFile(file('b.bin', 2));
    const formerId = first.peerId;
    expect(first.wipeNotice).toBeUndefined();
    await leave(first);

    await deleteDatabase(dbName);
    const second = await visit(dbName, storage);
    expect(second.peerId).not.toBe(formerId);
    expect(second.wipeNotice).toEqual({ lost: 2, reported: 0 });
    const db = await openMycelDatabase(dbName);
    const wipe = await checkCanary(db, storage, dbName);
    db.close();
    expect(wipe?.formerId).toBe(formerId);
    expect(new Set(wipe?.roots)).toEqual(new Set([a.root, b.root]));
  });

  it('notices nothing when IndexedDB was kept', async () => {
    const dbName = `mycel-canary-${Math.random()}`;
    const storage = new MemoryStorage();
    const first = await visit(dbName, storage);
    await first.addFile(file('a.bin', 3));
    await leave(first);
    const second = await visit(dbName, storage);
    expect(second.wipeNotice).toBeUndefined();
  });

  it('cannot notice both stores wiped together, and claims nothing', async () => {
    const dbName = `mycel-canary-${Math.random()}`;
    const first = await visit(dbName, new MemoryStorage());
    await first.addFile(file('a.bin', 4));
    await leave(first);
    await deleteDatabase(dbName);
    const second = await visit(dbName, new MemoryStorage());
    expect(second.wipeNotice).toBeUndefined();
  });
});
