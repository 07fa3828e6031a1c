// The seed's block ledger in an embedded database (LMDB, through the `lmdb` package), so a seed
// with millions of blocks starts by opening a file, not by walking and stat'ing its block tree,
// and keeps its account in a memory map instead of the heap.
//
// Dev docs. One LMDB environment (a folder) with these tables, keys and values binary:
//   blocks    id (32 bytes) → state (1) · size (u32) · last-use stamp (u64 ms)
//   lru       stamp (u64) · id → ∅     only unpinned held blocks: eviction walks it from the start,
//                                      so planning is O(victims), never O(pinned) or O(all)
//   pending   id → ∅                   blocks whose file may not match their state (see below)
//   pins      name key · id → ∅        name key = u16 length · UTF-8 name
//   pinNames  name key → u32           ids in the set (a set may be empty)
//   pinRefs   id → u32                 how many sets name the id
//   meta      "totals" → bytes · blocks · pinnedBytes · pinnedBlocks · last stamp (f64 each),
//             "format" → u32, "ready" → ∅ once a first import of an existing tree finished
//
// States: HELD (the file is whole on disk), ADDING (counted; its file is being written), REMOVING
// (no longer counted; its file is being deleted). The crash protocol: a block's record becomes
// ADDING (or REMOVING) and that change is durable *before* its file is renamed into place (or
// unlinked); the store says `settle` once the file operation is done, which makes it HELD (or
// deletes it). Every non-HELD id is also in `pending`, so after a crash `reconcile` visits only
// those, asks the disk, and keeps a record exactly when its file exists. No record without a file,
// no file without a record — without reading the rest of the tree.
//
// Writes go through lmdb's batched asynchronous writes, in the order made; the ledger's synchronous
// API reads its own writes through `overlay` (each table's changes not yet committed: bounded by the
// writes of one commit). The totals live in memory and are written with every change, in the same
// transaction.

import { promises as fs } from 'node:fs';
import { open, type Database, type RootDatabase } from 'lmdb';
import { BadInputError, LocalStorageError, QuotaError, UnavailableError } from '../errors.js';
import { isBlockId, type BlockId } from '../content/format.js';
import type { StoreUsage } from './block-store.js';
import type { DurableBlockLedger } from './block-ledger.js';

const FORMAT = 1;
const HELD = 1;
const ADDING = 2;
const REMOVING = 3;
type State = typeof HELD | typeof ADDING | typeof REMOVING;

const ID_BYTES = 32;
/** LMDB keys are at most 1978 bytes; a pin key is a name key and an id. */
export const MAX_PIN_NAME_BYTES = 1_900;
/** Writes issued between yields during import and repair, so uncommitted changes stay bounded. */
const BULK_BATCH = 10_000;
/** Most pinned blocks' last uses kept in memory before they are written (LmdbLedger.pinnedUses). */
const PINNED_USES_KEPT = 4_096;

const EMPTY = Buffer.alloc(0);
const TOTALS = Buffer.from('totals');
const FORMAT_KEY = Buffer.from('format');
const READY = Buffer.from('ready');

interface Record {
  readonly state: State;
  readonly size: number;
  readonly stamp: number;
}

function encodeRecord(state: State, size: number, stamp: number): Buffer {
  const b = Buffer.allocUnsafe(13);
  b[0] = state;
  b.writeUInt32BE(size, 1);
  b.writeUInt32BE(Math.floor(stamp / 2 ** 32), 5);
  b.writeUInt32BE(stamp >>> 0, 9);
  return b;
}

function decodeRecord(b: Buffer): Record {
  return { state: b[0] as State, size: b.readUInt32BE(1), stamp: b.readUInt32BE(5) * 2 ** 32 + b.readUInt32BE(9) };
}

function lruKey(stamp: number, id: Buffer): Buffer {
  const k = Buffer.allocUnsafe(8 + ID_BYTES);
  k.writeUInt32BE(Math.floor(stamp / 2 ** 32), 0);
  k.writeUInt32BE(stamp >>> 0, 4);
  id.copy(k, 8);
  return k;
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n);
  return b;
}

function nameKey(name: string): Buffer {
  const utf8 = Buffer.from(name, 'utf8');
  if (utf8.length > MAX_PIN_NAME_BYTES) throw new BadInputError(`a pin name is at most ${MAX_PIN_NAME_BYTES} bytes`);
  const k = Buffer.allocUnsafe(2 + utf8.length);
  k.writeUInt16BE(utf8.length);
  utf8.copy(k, 2);
  return k;
}

function idBytes(id: BlockId): Buffer {
  return Buffer.from(id, 'hex');
}

const counted = (r: Record | undefined): r is Record => r !== undefined && r.state !== REMOVING;

/** What the tables share: the write sequence, and who hears of a commit's outcome. */
interface Writes {
  seq: number;
  /** A commit carrying one of our writes failed (the disk is full or failing). */
  failed(error: unknown): void;
  /** A write committed. */
  committed(): void;
}

/**
 * One LMDB table with read-your-writes over changes not yet committed. A write whose commit fails
 * stays in the overlay (reads keep seeing the ledger's own account, which the totals in memory
 * agree with) and is written again with the table's next write or `retry()`: the database catches
 * up once the disk has room, and nothing is decided on a state that never reached it.
 */
class Table {
  /** latin1 key → the value written last (null: removed), and which write that was. */
  private readonly overlay = new Map<string, { value: Buffer | null; seq: number }>();
  /** Keys (latin1) whose latest write's commit failed: written again by retry(). */
  private readonly unwritten = new Set<string>();

  constructor(
    private readonly db: Database<Buffer, Buffer>,
    private readonly writes: Writes,
  ) {}

  /** Whether writes of this table failed to commit and are not written yet. */
  get behind(): boolean {
    return this.unwritten.size > 0;
  }

  /** Writes again what failed to commit. */
  retry(): void {
    for (const k of [...this.unwritten]) {
      this.unwritten.delete(k);
      const latest = this.overlay.get(k);
      if (!latest) continue;
      const key = Buffer.from(k, 'latin1');
      if (latest.value === null) this.remove(key);
      else this.put(key, latest.value);
    }
  }

  get(key: Buffer): Buffer | undefined {
    const pending = this.overlay.get(key.toString('latin1'));
    if (pending) return pending.value ?? undefined;
    return this.db.getBinary(key);
  }

  put(key: Buffer, value: Buffer): void {
    this.track(key, value, this.db.put(key, value));
  }

  remove(key: Buffer): void {
    this.track(key, null, this.db.remove(key));
  }

  /** Writes inside the running `transaction()` callback: at once, read back by get() in it. */
  putInTransaction(key: Buffer, value: Buffer): void {
    this.db.putSync(key, value);
  }

  /** Entries with start ≤ key < end in key order, committed and not. */
  *range(start: Buffer, end?: Buffer): Generator<[Buffer, Buffer]> {
    const inRange = (k: Buffer) => Buffer.compare(k, start) >= 0 && (end === undefined || Buffer.compare(k, end) < 0);
    const fresh: [Buffer, Buffer][] = [];
    for (const [latin1, { value }] of this.overlay) {
      const k = Buffer.from(latin1, 'latin1');
      if (value !== null && inRange(k)) fresh.push([k, value]);
    }
    fresh.sort((x, y) => Buffer.compare(x[0], y[0]));
    let i = 0;
    for (const { key, value } of this.db.getRange({ start, end, snapshot: false })) {
      while (i < fresh.length && Buffer.compare(fresh[i]![0], key) < 0) yield fresh[i++]!;
      if (i < fresh.length && Buffer.compare(fresh[i]![0], key) === 0) {
        yield fresh[i++]!;
        continue;
      }
      // A committed entry changed since (removed, or rewritten and yielded above) is skipped.
      if (this.overlay.has(key.toString('latin1'))) continue;
      yield [key, value];
    }
    while (i < fresh.length) yield fresh[i++]!;
  }

  private track(key: Buffer, value: Buffer | null, written: Promise<boolean>): void {
    const k = key.toString('latin1');
    const seq = ++this.writes.seq;
    this.overlay.set(k, { value, seq });
    this.unwritten.delete(k);
    written.then(
      () => {
        if (this.overlay.get(k)?.seq === seq) this.overlay.delete(k);
        this.writes.committed();
      },
      (error: unknown) => {
        // lmdb hangs the cause on a promise of its own, rejected too: handled here, reported once.
        (error as { commitError?: Promise<unknown> }).commitError?.catch(() => undefined);
        if (this.overlay.get(k)?.seq === seq) this.unwritten.add(k);
        this.writes.failed(error);
      },
    );
  }
}

/**
 * Whether `reason` is lmdb's report of a failed commit. lmdb also rejects a promise of its own that
 * no caller holds (the first write of each batch is its own), which would end the process as an
 * unhandled rejection; the ledger learns of the same failure through its own writes.
 */
export function isLedgerCommitFailure(reason: unknown): boolean {
  if (!(reason instanceof Error) || !('commitError' in reason)) return false;
  (reason as { commitError?: Promise<unknown> }).commitError?.catch(() => undefined);
  return true;
}

export interface LmdbLedgerOptions {
  /** The folder holding the database (created if missing). */
  readonly path: string;
  readonly quota?: number;
  /** Wait for changes to be synced to disk, not only committed, in `durable()` (default true). */
  readonly durable?: boolean;
}

export interface ReconcileReport {
  /** Pending ids whose file was found (their record kept, now held). */
  readonly kept: number;
  /** Pending ids whose file was missing (their record dropped). */
  readonly dropped: number;
}

export interface RepairReport {
  /** Files found on disk that the ledger did not count. */
  readonly added: number;
  /** Records whose file was missing. */
  readonly dropped: number;
  readonly blocks: number;
  readonly bytes: number;
}

/** A block found on disk: its id, size, and last use (ms since the epoch). */
export interface FoundBlock {
  readonly id: BlockId;
  readonly size: number;
  readonly used: number;
}

export class LmdbLedger implements DurableBlockLedger {
  readonly quota: number;
  private readonly writes: Writes = {
    seq: 0,
    failed: (error) => this.commitFailed(error),
    committed: () => this.commitSucceeded(),
  };
  /** Why the latest commit failed, until every table has caught up. */
  private failure: Error | undefined;
  /** durable() calls waiting now: told at once when a commit fails. */
  private readonly waiting = new Set<(error: Error) => void>();
  private readonly blocks: Table;
  private readonly lru: Table;
  private readonly pending: Table;
  private readonly pins: Table;
  private readonly pinNameTable: Table;
  private readonly pinRefs: Table;
  private readonly meta: Table;
  private totalBytes = 0;
  private totalBlocks = 0;
  private pinnedBytesHeld = 0;
  private pinnedBlocksHeld = 0;
  private lastStamp = 0;
  private closed = false;
  /**
   * Last uses of pinned blocks not written yet (latin1 key → stamp). A pinned block is never
   * evicted, so its stamp matters only once it is unpinned; a seed serving its pinned blocks then
   * writes nothing per block. Reads see these stamps; they are written when the block is unpinned
   * or removed, when PINNED_USES_KEPT have gathered, and at close. A crash loses only these uses.
   */
  private readonly pinnedUses = new Map<string, number>();

  private constructor(
    private readonly env: RootDatabase<Buffer, Buffer>,
    private readonly options: LmdbLedgerOptions,
  ) {
    this.quota = options.quota ?? Infinity;
    if (!(this.quota > 0)) throw new RangeError('quota must be positive');
    const table = (name: string) =>
      new Table(env.openDB<Buffer, Buffer>({ name, keyEncoding: 'binary', encoding: 'binary' }), this.writes);
    this.blocks = table('blocks');
    this.lru = table('lru');
    this.pending = table('pending');
    this.pins = table('pins');
    this.pinNameTable = table('pinNames');
    this.pinRefs = table('pinRefs');
    this.meta = table('meta');
  }

  /** Opens (creating) the ledger in `options.path`. Reads a few bytes: never the whole account. */
  static async open(options: LmdbLedgerOptions): Promise<LmdbLedger> {
    await fs.mkdir(options.path, { recursive: true });
    const env = open<Buffer, Buffer>({ path: options.path, maxDbs: 12, keyEncoding: 'binary', encoding: 'binary' });
    const ledger = new LmdbLedger(env, options);
    const format = ledger.meta.get(FORMAT_KEY);
    if (format === undefined) ledger.meta.put(FORMAT_KEY, u32(FORMAT));
    else if (format.readUInt32BE() !== FORMAT) {
      await env.close();
      throw new UnavailableError(
        `${options.path} holds a block ledger of format ${format.readUInt32BE()}; this Mycel reads format ${FORMAT}`,
      );
    }
    const totals = ledger.meta.get(TOTALS);
    if (totals) {
      ledger.totalBytes = totals.readDoubleBE(0);
      ledger.totalBlocks = totals.readDoubleBE(8);
      ledger.pinnedBytesHeld = totals.readDoubleBE(16);
      ledger.pinnedBlocksHeld = totals.readDoubleBE(24);
      ledger.lastStamp = totals.readDoubleBE(32);
    }
    return ledger;
  }

  /** False until `markReady()`: a new database, or an import from an older layout that did not finish. */
  get ready(): boolean {
    return this.meta.get(READY) !== undefined;
  }

  markReady(): void {
    this.meta.put(READY, EMPTY);
  }

  // BlockLedger

  has(id: BlockId): boolean {
    return counted(this.record(id));
  }

  sizeOf(id: BlockId): number | undefined {
    const r = this.record(id);
    return counted(r) ? r.size : undefined;
  }

  isPinned(id: BlockId): boolean {
    return isBlockId(id) && this.refs(idBytes(id)) > 0;
  }

  touch(id: BlockId): void {
    const r = this.record(id);
    if (!counted(r)) return;
    const key = idBytes(id);
    const stamp = this.nextStamp();
    if (this.refs(key) > 0) {
      this.pinnedUses.set(key.toString('latin1'), stamp);
      if (this.pinnedUses.size >= PINNED_USES_KEPT) this.writePinnedUses();
      return;
    }
    this.lru.remove(lruKey(r.stamp, key));
    this.lru.put(lruKey(stamp, key), EMPTY);
    this.blocks.put(key, encodeRecord(r.state, r.size, stamp));
    this.writeTotals();
  }

  add(id: BlockId, size: number): void {
    if (!isBlockId(id)) throw new TypeError(`not a block id: ${String(id)}`);
    if (this.has(id)) return this.touch(id);
    const key = idBytes(id);
    const stamp = this.nextStamp();
    this.blocks.put(key, encodeRecord(ADDING, size, stamp));
    this.pending.put(key, EMPTY);
    this.count(key, size, stamp, +1);
    this.writeTotals();
  }

  remove(id: BlockId): boolean {
    const r = this.record(id);
    if (!counted(r)) return false;
    const key = idBytes(id);
    this.blocks.put(key, encodeRecord(REMOVING, r.size, r.stamp));
    this.pinnedUses.delete(key.toString('latin1'));
    this.pending.put(key, EMPTY);
    this.count(key, r.size, r.stamp, -1);
    this.writeTotals();
    return true;
  }

  planPut(id: BlockId, size: number): BlockId[] {
    if (this.has(id) || this.totalBytes + size <= this.quota) return [];
    if (this.pinnedBytesHeld + size > this.quota) {
      throw new QuotaError(
        size,
        this.quota,
        `a ${size}-byte block does not fit: ${this.pinnedBytesHeld} of ${this.quota} bytes are pinned`,
      );
    }
    const victims: BlockId[] = [];
    let bytes = this.totalBytes;
    for (const [k] of this.lru.range(Buffer.alloc(8 + ID_BYTES))) {
      if (bytes + size <= this.quota) break;
      const key = k.subarray(8);
      const r = this.recordOf(key);
      // The index is only a hint: the record says whether the entry is current.
      if (!counted(r) || lruKey(r.stamp, key).compare(k) !== 0 || this.refs(key) > 0) continue;
      victims.push(key.toString('hex'));
      bytes -= r.size;
    }
    return victims;
  }

  pin(name: string, ids: Iterable<BlockId>): BlockId[] {
    const setKey = nameKey(name);
    const before = this.pinNameTable.get(setKey);
    const added: BlockId[] = [];
    for (const id of ids) {
      if (!isBlockId(id)) throw new TypeError(`not a block id: ${String(id)}`);
      const key = idBytes(id);
      const pinKey = Buffer.concat([setKey, key]);
      if (this.pins.get(pinKey) !== undefined) continue;
      this.pins.put(pinKey, EMPTY);
      added.push(id);
      const refs = this.refs(key) + 1;
      this.pinRefs.put(key, u32(refs));
      if (refs === 1) {
        const r = this.recordOf(key);
        if (counted(r)) {
          this.pinnedBytesHeld += r.size;
          this.pinnedBlocksHeld++;
          this.lru.remove(lruKey(r.stamp, key));
        }
      }
    }
    if (before === undefined || added.length > 0)
      this.pinNameTable.put(setKey, u32((before?.readUInt32BE() ?? 0) + added.length));
    this.writeTotals();
    return added;
  }

  unpin(name: string): boolean {
    const setKey = nameKey(name);
    if (this.pinNameTable.get(setKey) === undefined) return false;
    const pinKeys = [...this.pins.range(...this.pinRange(setKey))].map(([k]) => k);
    for (const pinKey of pinKeys) {
      this.pins.remove(pinKey);
      const key = pinKey.subarray(setKey.length);
      const refs = this.refs(key) - 1;
      if (refs > 0) {
        this.pinRefs.put(key, u32(refs));
        continue;
      }
      this.pinRefs.remove(key);
      const r = this.recordOf(key);
      if (this.pinnedUses.delete(key.toString('latin1')) && r)
        this.blocks.put(key, encodeRecord(r.state, r.size, r.stamp));
      if (counted(r)) {
        this.pinnedBytesHeld -= r.size;
        this.pinnedBlocksHeld--;
        this.lru.put(lruKey(r.stamp, key), EMPTY);
      }
    }
    this.pinNameTable.remove(setKey);
    this.writeTotals();
    return true;
  }

  pinSet(name: string): ReadonlySet<BlockId> | undefined {
    const setKey = nameKey(name);
    if (this.pinNameTable.get(setKey) === undefined) return undefined;
    const ids = new Set<BlockId>();
    for (const [k] of this.pins.range(...this.pinRange(setKey))) ids.add(k.subarray(setKey.length).toString('hex'));
    return ids;
  }

  pinNames(): string[] {
    const names: string[] = [];
    for (const [k] of this.pinNameTable.range(EMPTY)) names.push(k.subarray(2).toString('utf8'));
    return names;
  }

  *ids(): Generator<BlockId> {
    for (const [k, v] of this.blocks.range(EMPTY)) if (counted(decodeRecord(v))) yield k.toString('hex');
  }

  usage(): StoreUsage {
    return {
      bytes: this.totalBytes,
      blocks: this.totalBlocks,
      pinnedBytes: this.pinnedBytesHeld,
      pinnedBlocks: this.pinnedBlocksHeld,
      quota: this.quota,
    };
  }

  // DurableBlockLedger

  /**
   * Resolves once every change made so far is committed (and synced, unless `durable: false`).
   * @throws LocalStorageError when a commit fails (a full or failing disk); the changes stay in the
   *   ledger's account and are written again with the next call or change.
   */
  async durable(): Promise<void> {
    if (this.failure) this.retryUnwritten();
    let stop: ((error: Error) => void) | undefined;
    const failed = new Promise<never>((_, reject) => {
      stop = reject;
      this.waiting.add(reject);
    });
    try {
      // After a failed commit lmdb's flushed promise waits for the next good commit: a failure
      // ends the wait instead.
      await Promise.race([this.options.durable === false ? this.env.committed : this.env.flushed, failed]);
    } finally {
      this.waiting.delete(stop!);
    }
  }

  private commitFailed(error: unknown): void {
    const cause = (error as Error)?.message ?? String(error);
    this.failure = new LocalStorageError(`the block ledger could not commit: ${cause}`, error);
    for (const reject of this.waiting) reject(this.failure);
    this.waiting.clear();
  }

  private commitSucceeded(): void {
    if (this.failure && !this.tables().some((t) => t.behind)) this.failure = undefined;
  }

  /** Writes again what failed, and the totals: a new commit even when nothing else is behind. */
  private retryUnwritten(): void {
    for (const table of this.tables()) table.retry();
    this.meta.put(TOTALS, this.totals());
  }

  private tables(): Table[] {
    return [this.blocks, this.lru, this.pending, this.pins, this.pinNameTable, this.pinRefs, this.meta];
  }

  settle(written: readonly BlockId[], removed: readonly BlockId[]): void {
    for (const id of written) {
      const r = this.record(id);
      if (r?.state !== ADDING) continue;
      const key = idBytes(id);
      this.blocks.put(key, encodeRecord(HELD, r.size, r.stamp));
      this.pending.remove(key);
    }
    for (const id of removed) {
      if (this.record(id)?.state !== REMOVING) continue;
      const key = idBytes(id);
      this.blocks.remove(key);
      this.pending.remove(key);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.writePinnedUses();
    await this.env.flushed;
    await this.env.close();
  }

  /** Whether `id` is being removed: no longer counted, its file not yet known to be gone. */
  isRemoving(id: BlockId): boolean {
    return this.record(id)?.state === REMOVING;
  }

  // Start-up and repair

  /** Ids whose file may not agree with their record (writes or deletes a crash interrupted). */
  pendingIds(): BlockId[] {
    return [...this.pending.range(EMPTY)].map(([k]) => k.toString('hex'));
  }

  /**
   * Settles every pending id by asking the disk: `sizeOnDisk` gives a block file's size, or
   * undefined if there is none. Visits only the pending ids, never the whole account.
   */
  async reconcile(sizeOnDisk: (id: BlockId) => Promise<number | undefined>): Promise<ReconcileReport> {
    let kept = 0;
    let dropped = 0;
    for (const id of this.pendingIds()) {
      const size = await sizeOnDisk(id);
      if (size === undefined) this.forget(id);
      else this.keep(id, size);
      if (size === undefined) dropped++;
      else kept++;
    }
    await this.durable();
    return { kept, dropped };
  }

  /**
   * Counts blocks found on disk as held, stamped with their last use (for an import from a tree
   * that had no ledger). Ids already counted are left as they are.
   */
  async importBlocks(found: AsyncIterable<FoundBlock> | Iterable<FoundBlock>): Promise<number> {
    let added = 0;
    let batch: FoundBlock[] = [];
    // One transaction per batch, written at once rather than behind: an import runs before the
    // ledger is used (or in a repair, alone), and this is how millions of records go in quickly.
    const flush = async () => {
      const blocks = batch;
      batch = [];
      await this.env.transaction(() => {
        for (const block of blocks) {
          if (this.has(block.id)) continue;
          const key = idBytes(block.id);
          const stamp = Math.max(1, Math.round(block.used));
          this.lastStamp = Math.max(this.lastStamp, stamp);
          this.blocks.putInTransaction(key, encodeRecord(HELD, block.size, stamp));
          this.totalBytes += block.size;
          this.totalBlocks++;
          if (this.refs(key) > 0) {
            this.pinnedBytesHeld += block.size;
            this.pinnedBlocksHeld++;
          } else this.lru.putInTransaction(lruKey(stamp, key), EMPTY);
          added++;
        }
        this.meta.putInTransaction(TOTALS, this.totals());
      });
    };
    for await (const block of found) {
      batch.push(block);
      if (batch.length === BULK_BATCH) await flush();
    }
    if (batch.length > 0) await flush();
    await this.durable();
    return added;
  }

  /**
   * The full check, for an operator who suspects the disk and the ledger disagree (files copied
   * in, deleted by hand): every file found by `scan` is counted, every record whose file
   * `sizeOnDisk` cannot find is dropped, and the totals are recounted. Reads the whole account.
   */
  async repair(
    scan: AsyncIterable<FoundBlock>,
    sizeOnDisk: (id: BlockId) => Promise<number | undefined>,
  ): Promise<RepairReport> {
    await this.reconcile(sizeOnDisk);
    const added = await this.importBlocks(scan);
    let dropped = 0;
    // Page through the records rather than hold millions of ids at once.
    let after: Buffer | undefined;
    for (;;) {
      const page: BlockId[] = [];
      let last: Buffer | undefined;
      for (const [k, v] of this.blocks.range(after ? Buffer.concat([after, Buffer.alloc(1)]) : EMPTY)) {
        last = k;
        if (counted(decodeRecord(v))) page.push(k.toString('hex'));
        if (page.length === BULK_BATCH) break;
      }
      for (const id of page) {
        const size = await sizeOnDisk(id);
        if (size === undefined) {
          this.remove(id);
          this.settle([], [id]);
          dropped++;
        } else if (size !== this.sizeOf(id)) this.keep(id, size);
      }
      await this.env.committed;
      if (last === undefined || page.length < BULK_BATCH) break;
      after = last;
    }
    this.recount();
    await this.durable();
    const { bytes, blocks } = this.usage();
    return { added, dropped, blocks, bytes };
  }

  // Internals

  private record(id: BlockId): Record | undefined {
    if (!isBlockId(id)) return undefined;
    return this.recordOf(idBytes(id));
  }

  private recordOf(key: Buffer): Record | undefined {
    const raw = this.blocks.get(key);
    if (raw === undefined) return undefined;
    const r = decodeRecord(raw);
    const used = this.pinnedUses.size > 0 ? this.pinnedUses.get(key.toString('latin1')) : undefined;
    return used === undefined ? r : { ...r, stamp: used };
  }

  /** Writes the pinned blocks' last uses kept in memory (pinnedUses). */
  private writePinnedUses(): void {
    if (this.pinnedUses.size === 0) return;
    for (const k of this.pinnedUses.keys()) {
      const key = Buffer.from(k, 'latin1');
      const r = this.recordOf(key);
      if (counted(r)) this.blocks.put(key, encodeRecord(r.state, r.size, r.stamp));
    }
    this.pinnedUses.clear();
    this.writeTotals();
  }

  private refs(key: Buffer): number {
    return this.pinRefs.get(key)?.readUInt32BE() ?? 0;
  }

  private pinRange(setKey: Buffer): [Buffer, Buffer] {
    return [
      Buffer.concat([setKey, Buffer.alloc(ID_BYTES, 0)]),
      Buffer.concat([setKey, Buffer.alloc(ID_BYTES + 1, 0xff)]),
    ];
  }

  /** Adds (+1) or takes away (-1) a block from the totals and, unless pinned, the eviction index. */
  private count(key: Buffer, size: number, stamp: number, sign: 1 | -1): void {
    this.totalBytes += sign * size;
    this.totalBlocks += sign;
    if (this.refs(key) > 0) {
      this.pinnedBytesHeld += sign * size;
      this.pinnedBlocksHeld += sign;
    } else if (sign > 0) this.lru.put(lruKey(stamp, key), EMPTY);
    else this.lru.remove(lruKey(stamp, key));
  }

  /** A pending id whose file exists: held, counted (again, if it was being removed). */
  private keep(id: BlockId, size: number): void {
    const key = idBytes(id);
    const r = this.recordOf(key);
    const stamp = r?.stamp ?? this.nextStamp();
    if (counted(r)) this.count(key, r.size, r.stamp, -1);
    this.blocks.put(key, encodeRecord(HELD, size, stamp));
    this.count(key, size, stamp, +1);
    this.pending.remove(key);
    this.writeTotals();
  }

  /** A pending id whose file is gone: no record. */
  private forget(id: BlockId): void {
    const key = idBytes(id);
    const r = this.recordOf(key);
    if (counted(r)) this.count(key, r.size, r.stamp, -1);
    this.blocks.remove(key);
    this.pending.remove(key);
    this.writeTotals();
  }

  /** Recomputes the totals from the records and pin counts (repair only: reads everything). */
  private recount(): void {
    let bytes = 0;
    let blocks = 0;
    let pinnedBytes = 0;
    let pinnedBlocks = 0;
    for (const [k, v] of this.blocks.range(EMPTY)) {
      const r = decodeRecord(v);
      if (!counted(r)) continue;
      bytes += r.size;
      blocks++;
      if (this.refs(k) > 0) {
        pinnedBytes += r.size;
        pinnedBlocks++;
      }
    }
    this.totalBytes = bytes;
    this.totalBlocks = blocks;
    this.pinnedBytesHeld = pinnedBytes;
    this.pinnedBlocksHeld = pinnedBlocks;
    this.writeTotals();
  }

  private nextStamp(): number {
    this.lastStamp = Math.max(Date.now(), this.lastStamp + 1);
    return this.lastStamp;
  }

  private writeTotals(): void {
    this.meta.put(TOTALS, this.totals());
  }

  private totals(): Buffer {
    const b = Buffer.allocUnsafe(40);
    b.writeDoubleBE(this.totalBytes, 0);
    b.writeDoubleBE(this.totalBlocks, 8);
    b.writeDoubleBE(this.pinnedBytesHeld, 16);
    b.writeDoubleBE(this.pinnedBlocksHeld, 24);
    b.writeDoubleBE(this.lastStamp, 32);
    return b;
  }
}
