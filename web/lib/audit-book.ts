// The page's precomputed audit challenges for the files this device added (issue 12), kept in
// IndexedDB so they outlive reloads. At Add, a fresh random secret per file derives
// AUDIT_CHALLENGES_PER_FILE challenges (audit.ts) from the blocks just sealed, each block read once
// while it is still at hand; only (block id, nonce, digest) is kept and the secret is wiped, so
// nothing here lets anyone compute further answers.
//
// The secret is random, NOT derived from the file key: anyone with the link who also holds the file
// (every holder that ever opened the link) could then derive the nonces in advance, keep only the
// answers and delete the blocks, and pass every audit forever.
//
// Each challenge is spent once (once its nonce is sent, the holder knows the answer and could pass it
// around): `take` records the spend in IndexedDB before it hands the challenge out, so a reload or a
// crash never sends a nonce twice. One record per file in the `meta` store (key `audit:<root>`, a
// JSON string: no new store, no version bump). Bounded by MAX_KEPT_CHALLENGES over all files, the
// oldest file's challenges going first; a file's record goes when the file leaves the Library or
// expires (`drop`, `keepOnly`).

import { fromHex, toHex } from '../../src/content/bytes.js';
import { randomBytes } from '../../src/content/crypto.js';
import { isBlockId, type BlockId } from '../../src/content/format.js';
import {
  AUDIT_CHALLENGES_PER_FILE,
  AUDIT_DIGEST_BYTES,
  AUDIT_NONCE_BYTES,
  type AuditChallenge,
} from '../../src/replication/audit.js';
import { ChallengeBook, MAX_KEPT_CHALLENGES } from '../../src/replication/auditor.js';
import type { MycelDB } from '../../src/store/idb.browser.js';

const KEY_PREFIX = 'audit:';
/** Bytes of a file's audit secret: a SHA-256 key's worth. */
export const AUDIT_SECRET_BYTES = 32;

interface StoredChallenge {
  readonly i: number;
  readonly b: number;
  readonly block: string;
  readonly n: string;
  readonly e: string;
}

interface StoredBook {
  /** When the file's challenges were made: the oldest go first when the book is full. */
  readonly at: number;
  readonly challenges: StoredChallenge[];
}

const keyOf = (root: BlockId) => KEY_PREFIX + root;

function encode(at: number, challenges: readonly AuditChallenge[]): string {
  const book: StoredBook = {
    at,
    challenges: challenges.map((c) => ({
      i: c.index,
      b: c.blockIndex,
      block: c.block ?? '',
      n: toHex(c.nonce),
      e: toHex(c.expected),
    })),
  };
  return JSON.stringify(book);
}

/** A stored record, checked: anything malformed is dropped rather than trusted. */
function decode(raw: unknown): { at: number; challenges: AuditChallenge[] } | undefined {
  try {
    if (typeof raw !== 'string') return undefined;
    const parsed = JSON.parse(raw) as Partial<StoredBook>;
    if (typeof parsed.at !== 'number' || !Array.isArray(parsed.challenges)) return undefined;
    const challenges: AuditChallenge[] = [];
    for (const c of parsed.challenges.slice(0, MAX_KEPT_CHALLENGES)) {
      const nonce = typeof c.n === 'string' ? fromHex(c.n) : undefined;
      const expected = typeof c.e === 'string' ? fromHex(c.e) : undefined;
      if (nonce?.length !== AUDIT_NONCE_BYTES || expected?.length !== AUDIT_DIGEST_BYTES) continue;
      if (!Number.isInteger(c.i) || !Number.isInteger(c.b) || !isBlockId(c.block)) continue;
      challenges.push({ index: c.i, blockIndex: c.b, block: c.block, nonce, expected });
    }
    return { at: parsed.at, challenges };
  } catch {
    return undefined;
  }
}

export class PageChallengeBook {
  private readonly madeAt = new Map<BlockId, number>();

  private constructor(
    private readonly db: MycelDB,
    private readonly book: ChallengeBook,
  ) {}

  /** The challenges kept in `db`, oldest file first, within `max` (the rest deleted). */
  static async open(db: MycelDB, max: number = MAX_KEPT_CHALLENGES): Promise<PageChallengeBook> {
    const book = new PageChallengeBook(db, new ChallengeBook(max));
    const range = IDBKeyRange.bound(KEY_PREFIX, `${KEY_PREFIX}\uffff`);
    const keys = await db.getAllKeys('meta', range);
    const found: { root: BlockId; at: number; challenges: AuditChallenge[] }[] = [];
    const bad: string[] = [];
    for (const key of keys) {
      const root = key.slice(KEY_PREFIX.length);
      const record = isBlockId(root) ? decode(await db.get('meta', key)) : undefined;
      if (record && record.challenges.length > 0) found.push({ root, ...record });
      else bad.push(key);
    }
    found.sort((a, b) => a.at - b.at);
    for (const { root, at, challenges } of found) {
      book.book.put(root, challenges);
      book.madeAt.set(root, at);
    }
    for (const key of bad) await db.delete('meta', key);
    await book.deleteEvicted();
    return book;
  }

  /**
   * Makes `count` challenges of the file `root` whose blocks are `ids` (in its listing order) from
   * a fresh random secret, reading each chosen block once with `getBlock`, and keeps them.
   */
  async prepare(
    root: BlockId,
    ids: readonly BlockId[],
    getBlock: (id: BlockId) => Promise<Uint8Array>,
    count: number = AUDIT_CHALLENGES_PER_FILE,
    now = Date.now(),
  ): Promise<void> {
    const secret = randomBytes(AUDIT_SECRET_BYTES);
    try {
      await this.book.prepare(secret, root, ids, getBlock, count);
    } finally {
      // The digests are all the page needs: without the secret nobody can make more answers.
      secret.fill(0);
    }
    this.madeAt.delete(root);
    this.madeAt.set(root, now);
    await this.write(root);
    await this.deleteEvicted();
  }

  /**
   * The next unspent challenge of `root`, its spend recorded in IndexedDB first; undefined when
   * none is left (the auditor then uses a fresh nonce or fetches a block).
   */
  async take(root: BlockId): Promise<AuditChallenge | undefined> {
    const next = this.book.take(root);
    if (next) await this.write(root);
    return next;
  }

  /** Challenges left for `root`. */
  left(root: BlockId): number {
    return this.book.left(root);
  }

  /** Challenges kept, over all files. */
  get size(): number {
    return this.book.size;
  }

  /** Forgets `root`'s challenges (the file left the Library, or expired). */
  async drop(root: BlockId): Promise<void> {
    this.book.drop(root);
    this.madeAt.delete(root);
    await this.db.delete('meta', keyOf(root));
  }

  /** Forgets every file not in `roots` (files removed while another tab or an older page ran). */
  async keepOnly(roots: ReadonlySet<BlockId>): Promise<void> {
    for (const root of this.book.roots()) if (!roots.has(root)) await this.drop(root);
  }

  private async write(root: BlockId): Promise<void> {
    const left = this.book.list(root);
    if (left.length === 0) {
      this.madeAt.delete(root);
      await this.db.delete('meta', keyOf(root));
      return;
    }
    await this.db.put('meta', encode(this.madeAt.get(root) ?? Date.now(), left), keyOf(root));
  }

  /** Records of files the bounded book let go. */
  private async deleteEvicted(): Promise<void> {
    const kept = new Set(this.book.roots());
    for (const root of [...this.madeAt.keys()]) {
      if (kept.has(root)) continue;
      this.madeAt.delete(root);
      await this.db.delete('meta', keyOf(root));
    }
  }
}
