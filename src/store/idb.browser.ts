// The browser's stores in one IndexedDB database (through `idb`): blocks, their sizes and last use,
// pins, the Library, and this device's peer key. Block writes are group-committed: while one readwrite transaction runs,
// further puts queue up and go together in the next one (batching 64 puts per transaction ran
// ~1.5-3x faster than one per transaction in Chromium). Blocks fetched from a peer arrive one by
// one, each after the last commit ended, so when puts have been arriving less than WRITE_LINGER_MS
// apart a put lingers that long for company; slower or first puts commit at once, so neither a
// slow fetch nor opening a file (root, index, first block: one after another) waits.
// Evictions ride in the same transaction as the write that needed them, so a failed write evicts
// nothing.

import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { QuotaError } from '../errors.js';
import type { BlockId } from '../content/format.js';
import type { BlockStore } from './block-store.js';
import { Ledger, recencyStamp } from './ledger.js';
import { sortNewestFirst, type Library, type LibraryEntry } from './library.js';
import { ManagedBlockStore, type ManagedStoreOptions, type RawBlocks } from './managed-store.js';

export const DEFAULT_DB_NAME = 'mycel';
/**
 * 1: blocks, blockMeta, pins, library. 2: identity (the peer key). 3: meta (the wipe canary).
 * 4: no new table: blockMeta may place a block in an OPFS segment (seg, off; opfs.browser.ts), and
 * code of version 3 would take such blocks for missing, so it must not open the database.
 */
const DB_VERSION = 4;
/** Most puts one transaction carries. */
export const MAX_BATCH_PUTS = 64;
/** Most bytes one transaction carries. */
export const MAX_BATCH_BYTES = 16 * 1024 * 1024;
/**
 * While writes stream in, how long a put waits for others to share its transaction. One 256 KiB
 * block per transaction cost ~16.5 ms CPU per MB written and read back, eight per transaction
 * ~12 (test/bench/exp-storage.ts, idbEach against idbBatch8). A fetch keeps FETCH_WINDOW blocks in
 * flight, so a few waiting here do not slow the link.
 */
export const WRITE_LINGER_MS = 20;
/** Weight of the newest gap between puts in their running average (which decides lingering). */
const GAP_WEIGHT = 0.25;
/** Queued puts that end a linger at once: enough company; more would only wait longer. */
export const LINGER_PUTS = 4;

export interface BlockMeta {
  size: number;
  /** Last use, ms since the epoch: the order evictions follow after a reload. */
  used: number;
  /**
   * Set when the bytes are in an OPFS segment file (opfs.browser.ts): its number and the byte offset
   * in it. Absent: the bytes are in the `blocks` table.
   */
  seg?: number;
  off?: number;
}

/**
 * This device's peer key. WebCrypto keeps a non-extractable private key as an opaque CryptoKey
 * (IndexedDB stores it; nothing can read its bytes). Without WebCrypto Ed25519 (a page that is not
 * a secure context), the secret key's raw bytes are kept instead: weaker, and the only choice there.
 */
export type StoredIdentity =
  { kind: 'webcrypto'; privateKey: CryptoKey; publicKey: CryptoKey } | { kind: 'raw'; secret: Uint8Array };

export const IDENTITY_KEY = 'self';

export interface MycelDBSchema extends DBSchema {
  blocks: { key: string; value: Uint8Array };
  blockMeta: { key: string; value: BlockMeta };
  pins: { key: [string, string]; value: { name: string; id: string } };
  library: { key: string; value: LibraryEntry };
  identity: { key: string; value: StoredIdentity };
  /** Small values the page keeps beside its data: the wipe canary (web/lib/canary.ts). */
  meta: { key: string; value: string };
}

export type MycelDB = IDBPDatabase<MycelDBSchema>;

export interface OpenDatabaseOptions {
  /** Another tab holds an older version open and has not closed it. */
  readonly onBlocked?: () => void;
  /** This connection is blocking a newer version elsewhere; it should close. */
  readonly onBlocking?: () => void;
  /** The browser closed the connection abnormally (storage cleared, disk error). */
  readonly onTerminated?: () => void;
}

export function openMycelDatabase(name = DEFAULT_DB_NAME, options: OpenDatabaseOptions = {}): Promise<MycelDB> {
  return openDB<MycelDBSchema>(name, DB_VERSION, {
    // Each step takes the database from one version to the next, so any older version (with its
    // blocks, pins and Library) is carried forward and nothing stored is lost.
    upgrade(db, oldVersion) {
      if (oldVersion < 1) {
        db.createObjectStore('blocks');
        db.createObjectStore('blockMeta');
        db.createObjectStore('pins', { keyPath: ['name', 'id'] });
        db.createObjectStore('library', { keyPath: 'root' });
      }
      if (oldVersion < 2) db.createObjectStore('identity');
      if (oldVersion < 3) db.createObjectStore('meta');
    },
    blocked: options.onBlocked,
    blocking: options.onBlocking,
    terminated: options.onTerminated,
  });
}

interface QueuedWrite {
  id: BlockId;
  bytes: Uint8Array;
  evict: readonly BlockId[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Structured clone copies a view's whole buffer: give IndexedDB exactly the block's bytes. */
function exactBytes(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
}

function mapQuotaError(error: unknown, bytes: number): unknown {
  if (error instanceof DOMException && error.name === 'QuotaExceededError') {
    return new QuotaError(bytes, undefined, 'the browser refused to store more (its storage quota is full)');
  }
  return error;
}

class IdbRawBlocks implements RawBlocks {
  private queue: QueuedWrite[] = [];
  private flushing = false;
  /** A flush waiting for more puts (see WRITE_LINGER_MS). */
  private linger: ReturnType<typeof setTimeout> | undefined;
  /** When the last put arrived (performance.now()), and the running average of the gaps between. */
  private lastPut = -Infinity;
  private gap = Infinity;
  private readonly touchedAt = new Map<BlockId, number>();

  constructor(
    private readonly db: MycelDB,
    private readonly ledger: Ledger,
    private readonly ownsDb: boolean,
  ) {}

  async read(id: BlockId) {
    return readStoredBlock(this.db, id);
  }

  write(id: BlockId, bytes: Uint8Array, evict: readonly BlockId[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const now = performance.now();
      // A pause longer than a linger counts as one: the average drops back fast once puts stream.
      const gap = Math.min(now - this.lastPut, 2 * WRITE_LINGER_MS);
      this.gap = this.gap === Infinity ? gap : this.gap + GAP_WEIGHT * (gap - this.gap);
      this.lastPut = now;
      this.queue.push({ id, bytes: exactBytes(bytes), evict, resolve, reject });
      if (this.linger !== undefined && this.queue.length >= LINGER_PUTS) this.flushNow();
      else this.schedule();
    });
  }

  private schedule(): void {
    if (this.flushing || this.queue.length === 0) return;
    this.flushing = true;
    // Company is expected within the linger only if puts have been coming faster than that.
    const streaming = this.gap < WRITE_LINGER_MS && performance.now() - this.lastPut < WRITE_LINGER_MS;
    if (streaming && this.queue.length < LINGER_PUTS) {
      this.linger = setTimeout(() => this.flushNow(), WRITE_LINGER_MS);
      return;
    }
    queueMicrotask(() => this.flushNow());
  }

  /** Starts the flush that schedule() claimed (ending a linger early, if one waits). */
  private flushNow(): void {
    clearTimeout(this.linger);
    this.linger = undefined;
    this.flush().catch(() => {
      // Never rejects: flush settles every write it took, and schedules the next batch.
    });
  }

  private takeBatch(): QueuedWrite[] {
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length && n < MAX_BATCH_PUTS) {
      bytes += this.queue[n]!.bytes.length;
      n++;
      if (bytes >= MAX_BATCH_BYTES) break;
    }
    return this.queue.splice(0, n);
  }

  private async flush(): Promise<void> {
    const batch = this.takeBatch();
    const batchBytes = batch.reduce((sum, w) => sum + w.bytes.length, 0);
    try {
      const tx = this.db.transaction(['blocks', 'blockMeta'], 'readwrite');
      const blocks = tx.objectStore('blocks');
      const meta = tx.objectStore('blockMeta');
      const requests: Promise<unknown>[] = [];
      for (const w of batch) {
        for (const victim of w.evict) requests.push(blocks.delete(victim), meta.delete(victim));
        requests.push(blocks.put(w.bytes, w.id), meta.put({ size: w.bytes.length, used: recencyStamp() }, w.id));
      }
      for (const [id, used] of this.touchedAt) {
        const size = this.ledger.sizeOf(id);
        if (size !== undefined) requests.push(meta.put({ size, used }, id));
      }
      this.touchedAt.clear();
      await Promise.all([...requests, tx.done]);
      for (const w of batch) w.resolve();
    } catch (error) {
      const mapped = mapQuotaError(error, batchBytes);
      for (const w of batch) w.reject(mapped);
    } finally {
      this.flushing = false;
      this.schedule();
    }
  }

  async remove(ids: readonly BlockId[]) {
    const tx = this.db.transaction(['blocks', 'blockMeta'], 'readwrite');
    const requests = ids.flatMap((id) => [tx.objectStore('blocks').delete(id), tx.objectStore('blockMeta').delete(id)]);
    await Promise.all([...requests, tx.done]);
  }

  async addPins(name: string, ids: readonly BlockId[]) {
    const tx = this.db.transaction('pins', 'readwrite');
    await Promise.all([...ids.map((id) => tx.store.put({ name, id })), tx.done]);
  }

  async dropPins(name: string) {
    await this.db.delete('pins', IDBKeyRange.bound([name, ''], [name, '\uffff']));
  }

  touched(id: BlockId) {
    // Persisted with the next write transaction: a read should not cost a write of its own.
    this.touchedAt.set(id, recencyStamp());
  }

  async close() {
    if (this.touchedAt.size > 0) {
      const tx = this.db.transaction('blockMeta', 'readwrite');
      const requests: Promise<unknown>[] = [];
      for (const [id, used] of this.touchedAt) {
        const size = this.ledger.sizeOf(id);
        if (size !== undefined) requests.push(tx.store.put({ size, used }, id));
      }
      this.touchedAt.clear();
      await Promise.all([...requests, tx.done]);
    }
    if (this.ownsDb) this.db.close();
  }
}

export interface IdbStoreOptions extends ManagedStoreOptions {
  readonly quota?: number;
  /** Use this open database (shared with the Library) instead of opening `name`. */
  readonly db?: MycelDB;
  readonly name?: string;
}

export interface StoredIndex {
  /** Every block's record, least recently used first. */
  readonly blocks: readonly { id: BlockId; meta: BlockMeta }[];
  readonly pins: ReadonlyMap<string, BlockId[]>;
}

/** Reads every block record and pin: what a store's ledger starts from. */
export async function readStoredIndex(db: MycelDB): Promise<StoredIndex> {
  const tx = db.transaction(['blockMeta', 'pins'], 'readonly');
  const [keys, metas, pins] = await Promise.all([
    tx.objectStore('blockMeta').getAllKeys(),
    tx.objectStore('blockMeta').getAll(),
    tx.objectStore('pins').getAll(),
  ]);
  await tx.done;
  const blocks = keys.map((id, i) => ({ id, meta: metas[i]! })).sort((a, b) => a.meta.used - b.meta.used);
  const byName = new Map<string, BlockId[]>();
  for (const { name, id } of pins) {
    let list = byName.get(name);
    if (!list) byName.set(name, (list = []));
    list.push(id);
  }
  return { blocks, pins: byName };
}

/** A ledger holding `index`'s blocks and pins. */
export function ledgerOf(index: StoredIndex, quota?: number): Ledger {
  const ledger = new Ledger(quota);
  for (const [name, ids] of index.pins) ledger.pin(name, ids);
  for (const { id, meta } of index.blocks) ledger.add(id, meta.size);
  return ledger;
}

/** Opens the IndexedDB block store, loading sizes, recency and pins into its ledger. */
export async function openIdbBlockStore(options: IdbStoreOptions = {}): Promise<BlockStore> {
  const db = options.db ?? (await openMycelDatabase(options.name));
  const ledger = ledgerOf(await readStoredIndex(db), options.quota);
  return new ManagedBlockStore(new IdbRawBlocks(db, ledger, !options.db), ledger, options);
}

/**
 * A block's bytes as stored, without the store's bookkeeping (no recency, no ledger) and unverified:
 * for a reader that verifies every block itself (the service worker's readFile) and may run beside
 * the page that owns the store.
 */
export async function readStoredBlock(db: MycelDB, id: BlockId): Promise<Uint8Array | undefined> {
  return db.get('blocks', id);
}

/** The stored peer key, if this device has one. */
export async function readStoredIdentity(db: MycelDB): Promise<StoredIdentity | undefined> {
  return db.get('identity', IDENTITY_KEY);
}

/**
 * Stores `identity` unless one is already there (another tab may have made one meanwhile); returns
 * the one that is stored afterwards, so every caller ends up with the same key.
 */
export async function storeIdentityOnce(db: MycelDB, identity: StoredIdentity): Promise<StoredIdentity> {
  const tx = db.transaction('identity', 'readwrite');
  const existing = await tx.store.get(IDENTITY_KEY);
  if (!existing) await tx.store.put(identity, IDENTITY_KEY);
  await tx.done;
  return existing ?? identity;
}

export class IdbLibrary implements Library {
  constructor(private readonly db: MycelDB) {}
  async list() {
    return sortNewestFirst(await this.db.getAll('library'));
  }
  async get(root: BlockId) {
    return this.db.get('library', root);
  }
  async put(entry: LibraryEntry) {
    await this.db.put('library', { ...entry });
  }
  async update(root: BlockId, patch: Partial<Omit<LibraryEntry, 'root'>>) {
    const tx = this.db.transaction('library', 'readwrite');
    const entry = await tx.store.get(root);
    if (!entry) {
      await tx.done;
      return undefined;
    }
    const next = { ...entry, ...patch, root };
    await tx.store.put(next);
    await tx.done;
    return next;
  }
  async remove(root: BlockId) {
    const tx = this.db.transaction('library', 'readwrite');
    const had = (await tx.store.getKey(root)) !== undefined;
    if (had) await tx.store.delete(root);
    await tx.done;
    return had;
  }
}
