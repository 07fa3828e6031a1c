// The page's precomputed audit challenges (web/lib/audit-book.ts) in real Chromium with real
// IndexedDB: made at Add from the blocks just sealed, each an answer only the block's bytes give;
// spent once each, the spend surviving a reload; bounded; dropped with the file; and once a file's
// challenges are spent, the page's auditor falls back to a fresh nonce (block held) or a block fetch.
import { sha256 } from '@noble/hashes/sha2.js';
import { afterEach, describe, expect, it } from 'vitest';
import { toHex } from '../../src/content/bytes.js';
import { AUDIT_CHALLENGES_PER_FILE, auditDigest } from '../../src/replication/audit.js';
import { Auditor, type AuditSession } from '../../src/replication/auditor.js';
import { openMycelDatabase, type MycelDB } from '../../src/store/idb.browser.js';
import { PageChallengeBook } from '../../web/lib/audit-book.js';
import { BrowserPeer } from '../../web/lib/browser-peer.js';
import { pseudoRandomBytes } from '../helpers/data.js';

const blocks = Array.from({ length: 8 }, (_, i) => pseudoRandomBytes(1000 + i, 40 + i));
const ids = blocks.map((b) => toHex(sha256(b)));
const byId = new Map(ids.map((id, i) => [id, blocks[i]!]));
const ROOT = ids.at(-1)!;
const OTHER = 'cd'.repeat(32);

const open: MycelDB[] = [];
afterEach(() => {
  for (const db of open.splice(0)) db.close();
});

async function database(name = `mycel-audit-${Math.random()}`): Promise<[MycelDB, string]> {
  const db = await openMycelDatabase(name);
  open.push(db);
  return [db, name];
}

/** Opens the book again from a fresh connection, as a reload does. */
async function reload(name: string): Promise<PageChallengeBook> {
  const [db] = await database(name);
  return PageChallengeBook.open(db);
}

const reads: string[] = [];
const getBlock = (id: string) => {
  reads.push(id);
  return Promise.resolve(byId.get(id)!);
};

/** An honest holder, counting what it was asked. */
function holder(): AuditSession & { audits: number; wants: number } {
  return {
    audits: 0,
    wants: 0,
    audit(block, nonce) {
      this.audits++;
      const bytes = byId.get(block);
      return Promise.resolve(bytes && auditDigest(nonce, bytes));
    },
    want(block) {
      this.wants++;
      return Promise.resolve(byId.get(block));
    },
  };
}

describe("the page's book of audit challenges", () => {
  it('makes a file’s challenges from its blocks, each an answer only the block’s bytes give', async () => {
    const [db] = await database();
    const book = await PageChallengeBook.open(db);
    reads.length = 0;
    await book.prepare(ROOT, ids, getBlock);
    expect(book.left(ROOT)).toBe(AUDIT_CHALLENGES_PER_FILE);
    // Each chosen block read once, though challenges may share a block.
    expect(reads.length).toBe(new Set(reads).size);
    const seen = new Set<string>();
    const chosen = new Set<string>();
    for (let i = 0; i < AUDIT_CHALLENGES_PER_FILE; i++) {
      const c = (await book.take(ROOT))!;
      chosen.add(c.block!);
      expect(ids[c.blockIndex]).toBe(c.block);
      expect(c.expected).toEqual(auditDigest(c.nonce, byId.get(c.block!)!));
      seen.add(toHex(c.nonce));
    }
    expect(seen.size).toBe(AUDIT_CHALLENGES_PER_FILE);
    expect(new Set(reads)).toEqual(chosen);
    expect(await book.take(ROOT)).toBeUndefined();
  });

  it('draws a fresh secret each time, so nobody holding the file and its link can foresee a nonce', async () => {
    const [db] = await database();
    const book = await PageChallengeBook.open(db);
    await book.prepare(ROOT, ids, getBlock, 1);
    const first = (await book.take(ROOT))!;
    await book.prepare(ROOT, ids, getBlock, 1);
    const second = (await book.take(ROOT))!;
    expect(toHex(second.nonce)).not.toBe(toHex(first.nonce));
  });

  it('spends each challenge once, and a reload remembers the spend', async () => {
    const [db, name] = await database();
    const book = await PageChallengeBook.open(db);
    await book.prepare(ROOT, ids, getBlock, 4);
    const spent = (await book.take(ROOT))!;
    const again = await reload(name);
    expect(again.left(ROOT)).toBe(3);
    const rest = [await again.take(ROOT), await again.take(ROOT), await again.take(ROOT)];
    expect(rest.map((c) => toHex(c!.nonce))).not.toContain(toHex(spent.nonce));
    expect(rest.map((c) => c!.expected)).toEqual(rest.map((c) => auditDigest(c!.nonce, byId.get(c!.block!)!)));
    const empty = await reload(name);
    expect(empty.left(ROOT)).toBe(0);
    expect(await empty.take(ROOT)).toBeUndefined();
  });

  it('keeps at most its bound, the oldest file going first, in IndexedDB too', async () => {
    const [db, name] = await database();
    const book = await PageChallengeBook.open(db, 6);
    await book.prepare(OTHER, ids, getBlock, 4, 1);
    await book.prepare(ROOT, ids, getBlock, 4, 2);
    expect(book.left(OTHER)).toBe(0);
    expect(book.left(ROOT)).toBe(4);
    const [db2] = await database(name);
    const again = await PageChallengeBook.open(db2, 6);
    expect([again.left(OTHER), again.left(ROOT)]).toEqual([0, 4]);
    expect(again.size).toBe(4);
  });

  it('drops a file’s challenges when the file leaves the library', async () => {
    const dbName = `mycel-audit-peer-${Math.random()}`;
    const file = new File([pseudoRandomBytes(700_000, 44)], 'audited.bin');
    const first = await BrowserPeer.start({ dbName, origin: 'http://127.0.0.1:9' });
    const entry = await first.addFile(file);
    expect(first.auditBook.left(entry.root)).toBe(AUDIT_CHALLENGES_PER_FILE);
    await first.close();
    const second = await BrowserPeer.start({ dbName, origin: 'http://127.0.0.1:9' });
    try {
      expect(second.auditBook.left(entry.root)).toBe(AUDIT_CHALLENGES_PER_FILE);
      await second.remove(entry.root);
      expect(second.auditBook.left(entry.root)).toBe(0);
    } finally {
      await second.close();
    }
    expect((await reload(dbName)).left(entry.root)).toBe(0);
  });

  it('once a file’s challenges are spent, audits with a fresh nonce if the page holds the block, else fetch it', async () => {
    const [db] = await database();
    const book = await PageChallengeBook.open(db);
    await book.prepare(ROOT, ids, getBlock, 2);
    let holdsBlocks = true;
    const auditor = new Auditor({
      intervalMs: 60_000,
      connect: () => Promise.resolve(session),
      blocksOf: () => Promise.resolve(ids),
      localBlock: (id) => Promise.resolve(holdsBlocks ? byId.get(id) : undefined),
      challenge: (root) => book.take(root),
      onVerdict: () => undefined,
    });
    const session = holder();
    const kinds = [];
    for (let i = 0; i < 3; i++) kinds.push((await auditor.audit(ROOT, 'p')).kind);
    holdsBlocks = false;
    kinds.push((await auditor.audit(ROOT, 'p')).kind);
    expect(kinds).toEqual(['precomputed', 'precomputed', 'digest', 'block']);
    expect(session.wants).toBe(1);
    auditor.close();
  });
});
