// This browser's peer identity in real Chromium with its real IndexedDB: made once, the same after
// the database is closed and opened again (what a reload does), its private key a WebCrypto key
// that cannot be exported; and a database made by the previous version keeps everything it held.
import { describe, expect, it } from 'vitest';
import { openDB } from 'idb';
import { isPeerId, verifyPeerSignature } from '../../src/net/identity.js';
import { IdbLibrary, openIdbBlockStore, openMycelDatabase, readStoredIdentity } from '../../src/store/idb.browser.js';
import { loadBrowserIdentity } from '../../web/lib/browser-identity.js';
import { BrowserPeer } from '../../web/lib/browser-peer.js';
import { block } from '../contracts/block-store.js';

const freshName = () => `mycel-identity-${Date.now()}-${Math.random()}`;

describe('the browser peer identity', () => {
  it('is the same peer id after the database is closed and opened again', async () => {
    const name = freshName();
    const db = await openMycelDatabase(name);
    const first = await loadBrowserIdentity(db);
    expect(isPeerId(first.id)).toBe(true);
    db.close();
    const again = await openMycelDatabase(name);
    expect((await loadBrowserIdentity(again)).id).toBe(first.id);
    again.close();
  });

  it('keeps a private key that signs but cannot be read out', async () => {
    const db = await openMycelDatabase(freshName());
    const identity = await loadBrowserIdentity(db);
    const stored = await readStoredIdentity(db);
    expect(stored?.kind).toBe('webcrypto');
    if (stored?.kind !== 'webcrypto') return;
    expect(stored.privateKey.extractable).toBe(false);
    expect(stored.privateKey.algorithm.name).toBe('Ed25519');
    await expect(crypto.subtle.exportKey('pkcs8', stored.privateKey)).rejects.toThrow();
    await expect(crypto.subtle.exportKey('jwk', stored.privateKey)).rejects.toThrow();
    const message = new TextEncoder().encode('proof');
    expect(verifyPeerSignature(identity.id, message, await identity.sign(message))).toBe(true);
    db.close();
  });

  it('gives a browser peer started twice on the same database the same id', async () => {
    const dbName = freshName();
    const first = await BrowserPeer.start({ dbName, origin: 'http://127.0.0.1:9', quota: 1_000_000 });
    const id = first.peerId;
    await first.close();
    const second = await BrowserPeer.start({ dbName, origin: 'http://127.0.0.1:9', quota: 1_000_000 });
    expect(second.peerId).toBe(id);
    await second.close();
  });
});

describe('a database made by version 1', () => {
  it('opens at the new version with its blocks and Library kept, and gains an identity', async () => {
    const name = freshName();
    const held = block(5000, 77);
    // Exactly what version 1 created, written the way it wrote.
    const old = await openDB(name, 1, {
      upgrade(db) {
        db.createObjectStore('blocks');
        db.createObjectStore('blockMeta');
        db.createObjectStore('pins', { keyPath: ['name', 'id'] });
        db.createObjectStore('library', { keyPath: 'root' });
      },
    });
    await old.put('blocks', held.bytes, held.id);
    await old.put('blockMeta', { size: held.bytes.length, used: 1 }, held.id);
    await old.put('pins', { name: 'file:x', id: held.id });
    await old.put('library', {
      root: held.id,
      link: 'http://x/#a.b',
      name: 'kept.bin',
      size: 5000,
      mediaType: 'application/octet-stream',
      source: 'added',
      addedAt: 1,
      pinned: true,
      complete: true,
    });
    old.close();

    const db = await openMycelDatabase(name);
    // 2 added the peer key's store, 3 the wipe canary's (web/lib/canary.ts), 4 OPFS placements.
    expect(db.version).toBe(4);
    expect([...db.objectStoreNames]).toContain('meta');
    const store = await openIdbBlockStore({ db });
    expect(await store.get(held.id)).toEqual(held.bytes);
    expect(store.isPinned(held.id)).toBe(true);
    expect((await new IdbLibrary(db).get(held.id))?.name).toBe('kept.bin');
    expect(isPeerId((await loadBrowserIdentity(db)).id)).toBe(true);
    await store.close();
    db.close();
  });
});
