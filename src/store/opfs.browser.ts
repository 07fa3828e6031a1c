// The browser's block store with the bytes in the Origin Private File System: blocks are appended
// to segment files by a dedicated Worker (opfs-log.worker.browser.ts, the only place a sync access
// handle may live) and the index stays in IndexedDB: each block's `blockMeta` record gains its
// segment and offset, written in one small transaction per flush of the worker (FLUSH_BLOCKS blocks
// or FLUSH_MS). Against 256 KiB values in IndexedDB this cut the browser's CPU per MB stored from
// 15.5-25.8 ms to ~4 (test/bench/exp-storage.ts, opfsLog8Worker against idbBatch8 and idbEach).
//
// - Blocks stored before (in the `blocks` table, no `seg`) stay there and stay readable; new ones
//   go to segments. Nothing is moved.
// - A deleted or evicted block's bytes are dead; a segment whose bytes are all dead is deleted. An
//   older segment mostly dead (COMPACT_LIVE_SHARE, COMPACT_MIN_DEAD_BYTES) is compacted: its live
//   blocks are copied to the end of the log and the segment deleted (see compactSegment).
// - An index entry is written only after its bytes are flushed, so a crash leaves at worst bytes no
//   entry names (dead, swept with their segment), never an entry naming wrong bytes. Every reader
//   verifies a block against its id anyway (ManagedBlockStore with verifyReads, the service
//   worker's readFile).
// - Without OPFS sync handles (an old browser, some private modes) openBrowserBlockStore falls back
//   to the IndexedDB store.
// - One writer per database: the worker holds a Web Lock on its block log for its whole life; a
//   second store on the same database waits for it (up to the open timeout).

import { ClosedError, LocalStorageError, QuotaError, TimeoutError, UnavailableError } from '../errors.js';
import type { BlockId } from '../content/format.js';
import type { BlockStore, PutOptions } from './block-store.js';
import {
  ledgerOf,
  openIdbBlockStore,
  openMycelDatabase,
  readStoredIndex,
  type BlockMeta,
  type IdbStoreOptions,
  type MycelDB,
} from './idb.browser.js';
import { recencyStamp, type Ledger } from './ledger.js';
import { ManagedBlockStore, type RawBlocks } from './managed-store.js';
import {
  MAX_SPARES,
  SEGMENT_BYTES,
  SPARE_BYTES,
  segmentFolder,
  type FromWorker,
  type Placement,
  type ToWorker,
  type WorkerError,
} from './opfs-protocol.js';

/**
 * How long the worker may take to start, take the block log's lock (another tab or a former worker
 * of this page may hold it) and list its segments.
 */
export const OPEN_TIMEOUT_MS = 10_000;

/**
 * A segment is compacted once its live blocks fill less than this share of its file: then copying
 * them frees at least as many bytes as it writes.
 */
export const COMPACT_LIVE_SHARE = 0.5;
/**
 * …and only if that frees at least this many bytes: a small segment (a short session's last one)
 * is not worth a copy and an index transaction. At most this much stays dead per segment.
 */
export const COMPACT_MIN_DEAD_BYTES = 8 * 1024 * 1024;

export interface OpfsStoreOptions extends IdbStoreOptions {
  /** Starts the worker; by default the bundled opfs-log.worker.browser.ts. */
  readonly worker?: () => Worker;
  /** Most bytes per segment file (SEGMENT_BYTES; smaller in tests). */
  readonly segmentBytes?: number;
  /** How long to wait for the worker (and for another holder of the block log to let go). */
  readonly openTimeoutMs?: number;
  /** Least dead bytes that make a segment worth compacting (COMPACT_MIN_DEAD_BYTES; smaller in tests). */
  readonly compactMinDeadBytes?: number;
}

function defaultWorker(): Worker {
  return new Worker(new URL('./opfs-log.worker.browser.ts', import.meta.url), { type: 'module' });
}

function storageError(error: WorkerError, bytes: number): Error {
  if (error.name === 'QuotaExceededError') {
    return new QuotaError(bytes, undefined, 'the browser refused to store more (its storage quota is full)');
  }
  return new LocalStorageError(`the block log failed: ${error.name}: ${error.message}`);
}

interface Place {
  seg: number;
  off: number;
  size: number;
}

/** A block of a segment being compacted: where it was and where its copy is. */
interface Move {
  readonly id: BlockId;
  readonly from: Place;
  readonly to: Place;
}

interface Waiting {
  size: number;
  evict: readonly BlockId[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

class OpfsRawBlocks implements RawBlocks {
  /** Where each block in a segment is (blocks in the `blocks` table are not here). */
  private readonly places = new Map<BlockId, Place>();
  /** Live bytes per segment: at zero the segment file goes. */
  private readonly live = new Map<number, number>();
  private readonly waiting = new Map<BlockId, Waiting>();
  private readonly reads = new Map<number, (bytes: Uint8Array | undefined) => void>();
  private readonly drops = new Map<number, () => void>();
  private readonly compactions = new Map<number, (moved: readonly Placement[] | undefined) => void>();
  /** Bytes in each segment file (live and dead), as far as the worker said or placed. */
  private readonly ends = new Map<number, number>();
  /**
   * The newest segment a block (or a compaction's copy) was placed in this session: maybe the one
   * appends go to, so never compacted.
   */
  private appendSeg = -1;
  /** The compaction under way (one at a time); it goes on to the next mostly dead segment. */
  private compacting: Promise<void> | undefined;
  /** While a compaction is under way, segment drops wait in `deferredDrops` until it ends. */
  private dropsWait = false;
  private readonly deferredDrops = new Set<number>();
  /** Segments a compaction could not empty (bytes unreadable, the index write failed): not retried. */
  private readonly uncompactable = new Set<number>();
  /** Blocks whose place the compaction's index transaction is changing: their recency waits. */
  private readonly moving = new Set<BlockId>();
  /** Append buffers the worker handed back (SPARE_BYTES each). */
  private readonly spares: ArrayBuffer[] = [];
  private nextReq = 0;
  private readonly touchedAt = new Map<BlockId, number>();
  private closing: Promise<void> | undefined;
  private onClosed: (() => void) | undefined;
  private broken: Error | undefined;

  constructor(
    private readonly db: MycelDB,
    private readonly ledger: Ledger,
    private readonly worker: Worker,
    places: ReadonlyMap<BlockId, Place>,
    segmentSizes: ReadonlyMap<number, number>,
    private readonly ownsDb: boolean,
    private readonly compactMinDead: number,
  ) {
    for (const [seg, size] of segmentSizes) this.ends.set(seg, size);
    for (const [id, place] of places) this.addPlace(id, place);
    worker.onmessage = ({ data }: MessageEvent<FromWorker>) => this.onMessage(data);
    worker.onerror = () => this.fail(new LocalStorageError('the block log worker failed'));
  }

  private addPlace(id: BlockId, place: Place): void {
    this.places.set(id, place);
    this.live.set(place.seg, (this.live.get(place.seg) ?? 0) + place.size);
    this.ends.set(place.seg, Math.max(this.ends.get(place.seg) ?? 0, place.off + place.size));
  }

  /** Forgets a removed block's place; returns its segment if that one has no live bytes left. */
  private dropPlace(id: BlockId): number | undefined {
    const place = this.places.get(id);
    if (!place) return undefined;
    this.places.delete(id);
    const left = (this.live.get(place.seg) ?? 0) - place.size;
    if (left > 0) {
      this.live.set(place.seg, left);
      return undefined;
    }
    this.live.delete(place.seg);
    return place.seg;
  }

  private post(message: ToWorker, transfer: Transferable[] = []): void {
    this.worker.postMessage(message, transfer);
  }

  private onMessage(message: FromWorker): void {
    switch (message.type) {
      case 'placed':
        this.commit(message.blocks).catch(() => {
          // Never rejects: commit settles every write it took.
        });
        return;
      case 'failed':
        for (const id of message.ids) {
          const w = this.waiting.get(id);
          this.waiting.delete(id);
          w?.reject(storageError(message.error, w.size));
        }
        return;
      case 'spare':
        if (this.spares.length < MAX_SPARES) this.spares.push(message.buffer);
        return;
      case 'read':
        this.reads.get(message.req)?.(message.bytes && new Uint8Array(message.bytes));
        this.reads.delete(message.req);
        return;
      case 'dropped':
        this.drops.get(message.req)?.();
        this.drops.delete(message.req);
        return;
      case 'compacted':
        this.compactions.get(message.req)?.(message.error ? undefined : message.moved);
        this.compactions.delete(message.req);
        return;
      case 'closed':
        this.onClosed?.();
        return;
      default:
        return;
    }
  }

  /** The worker is gone: nothing it was asked will be answered. */
  private fail(error: Error): void {
    this.broken = error;
    for (const w of this.waiting.values()) w.reject(error);
    this.waiting.clear();
    for (const resolve of this.reads.values()) resolve(undefined);
    this.reads.clear();
    for (const resolve of this.drops.values()) resolve();
    this.drops.clear();
    for (const resolve of this.compactions.values()) resolve(undefined);
    this.compactions.clear();
    this.onClosed?.();
  }

  /** Writes the placements of one flush, the evictions they carry and pending recency in one transaction. */
  private async commit(blocks: readonly Placement[]): Promise<void> {
    const batch = blocks.flatMap((b) => {
      const w = this.waiting.get(b.id);
      this.waiting.delete(b.id);
      return w ? [{ place: b, w }] : [];
    });
    try {
      const tx = this.db.transaction(['blocks', 'blockMeta'], 'readwrite');
      const meta = tx.objectStore('blockMeta');
      const requests: Promise<unknown>[] = [];
      for (const { place, w } of batch) {
        for (const victim of w.evict) requests.push(tx.objectStore('blocks').delete(victim), meta.delete(victim));
        const record: BlockMeta = { size: place.size, used: recencyStamp(), seg: place.seg, off: place.off };
        requests.push(meta.put(record, place.id));
      }
      requests.push(...this.persistTouches(meta));
      await Promise.all([...requests, tx.done]);
    } catch (error) {
      const mapped =
        error instanceof DOMException && error.name === 'QuotaExceededError'
          ? storageError(error, 0)
          : new LocalStorageError('could not record where blocks are', error);
      for (const { w } of batch) w.reject(mapped);
      return;
    }
    const emptied: number[] = [];
    for (const { place, w } of batch) {
      for (const victim of w.evict) {
        const seg = this.dropPlace(victim);
        if (seg !== undefined) emptied.push(seg);
      }
      this.addPlace(place.id, place);
      this.appendSeg = Math.max(this.appendSeg, place.seg);
    }
    // Before the puts resolve: whoever waits on one sees the room its evictions made.
    await Promise.all(emptied.map((seg) => this.dropSegment(seg)));
    for (const { w } of batch) w.resolve();
    // Evictions leave dead bytes, and a roll leaves the former append segment open to compaction.
    this.compactSoon();
  }

  private persistTouches(meta: { put(value: BlockMeta, key: BlockId): Promise<unknown> }): Promise<unknown>[] {
    const requests: Promise<unknown>[] = [];
    for (const [id, used] of this.touchedAt) {
      // Its place is being changed: written after, with the place that holds (kept in touchedAt).
      if (this.moving.has(id)) continue;
      const size = this.ledger.sizeOf(id);
      const place = this.places.get(id);
      // The place rides along: a record without it would send readers to the `blocks` table.
      if (size !== undefined)
        requests.push(meta.put(place ? { size, used, seg: place.seg, off: place.off } : { size, used }, id));
      this.touchedAt.delete(id);
    }
    return requests;
  }

  private dropSegment(seg: number): Promise<void> {
    if (this.broken) return Promise.resolve();
    // While a compaction is under way its copies sit unnamed in the newest segments: a segment whose
    // own blocks all went meanwhile (the append segment, rolled since) would take them with it.
    if (this.dropsWait) {
      this.deferredDrops.add(seg);
      return Promise.resolve();
    }
    this.ends.delete(seg);
    return new Promise((resolve) => {
      const req = this.nextReq++;
      this.drops.set(req, resolve);
      this.post({ type: 'drop', req, seg });
    });
  }

  /** Deletes a segment file no index entry names (used at open). */
  dropUnnamed(seg: number): Promise<void> {
    return this.dropSegment(seg);
  }

  read(id: BlockId): Promise<Uint8Array | undefined> {
    const place = this.places.get(id);
    if (!place) return this.db.get('blocks', id);
    if (this.broken) return Promise.reject(this.broken);
    return new Promise((resolve) => {
      const req = this.nextReq++;
      this.reads.set(req, resolve);
      this.post({ type: 'read', req, seg: place.seg, off: place.off, size: place.size });
    });
  }

  write(id: BlockId, bytes: Uint8Array, evict: readonly BlockId[], options?: PutOptions): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    if (this.closing) return Promise.reject(new ClosedError('block store'));
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { size: bytes.length, evict, resolve, reject });
      // A copy to transfer: the caller keeps its bytes (it may be serving them to a peer). Into a
      // spare buffer the worker handed back when the block fits one; the size says where it ends.
      // (Never bytes.buffer: a Buffer from the data channel is a view of its whole frame.)
      const buffer =
        bytes.length <= SPARE_BYTES
          ? (this.spares.pop() ?? new ArrayBuffer(SPARE_BYTES))
          : new ArrayBuffer(bytes.length);
      new Uint8Array(buffer, 0, bytes.length).set(bytes);
      this.post({ type: 'append', id, bytes: buffer, size: bytes.length, lazy: options?.lazy === true }, [buffer]);
    });
  }

  async remove(ids: readonly BlockId[]): Promise<void> {
    const tx = this.db.transaction(['blocks', 'blockMeta'], 'readwrite');
    const requests = ids.flatMap((id) => [tx.objectStore('blocks').delete(id), tx.objectStore('blockMeta').delete(id)]);
    await Promise.all([...requests, tx.done]);
    const emptied = ids.flatMap((id) => this.dropPlace(id) ?? []);
    await Promise.all(emptied.map((seg) => this.dropSegment(seg)));
    this.compactSoon();
  }

  /** The older segment with the most dead bytes among those worth compacting, if any. */
  private compactable(): number | undefined {
    let best: number | undefined;
    let bestDead = 0;
    for (const [seg, end] of this.ends) {
      // Every segment known but the newest one placed in is older than the one appends go to: the
      // worker starts a fresh segment per session, numbered past every file.
      if (seg === this.appendSeg || this.uncompactable.has(seg)) continue;
      const live = this.live.get(seg) ?? 0;
      const dead = end - live;
      // An empty segment is dropped, not copied.
      if (live === 0 || live >= end * COMPACT_LIVE_SHARE || dead < this.compactMinDead) continue;
      if (dead > bestDead) [best, bestDead] = [seg, dead];
    }
    return best;
  }

  /**
   * Starts compacting in the background if a segment is worth it and none is under way. Puts and
   * reads go on meanwhile; the worker takes the copy in its message order.
   */
  compactSoon(): void {
    if (this.compacting || this.broken || this.closing || this.compactable() === undefined) return;
    this.dropsWait = true;
    this.compacting = this.compactAll()
      .catch(() => {
        // Nothing to undo: until its index transaction commits, every entry names the old segment.
      })
      .finally(() => {
        this.compacting = undefined;
      });
  }

  private async compactAll(): Promise<void> {
    try {
      for (let seg = this.compactable(); seg !== undefined; seg = this.compactable()) {
        if (this.broken || this.closing) return;
        await this.compactSegment(seg);
      }
    } finally {
      this.dropsWait = false;
      const deferred = [...this.deferredDrops].filter((seg) => !this.live.has(seg));
      this.deferredDrops.clear();
      await Promise.all(deferred.map((seg) => this.dropSegment(seg)));
    }
  }

  /**
   * Moves the live blocks of segment `seg` to the end of the log, then deletes it. Safe at every step
   * against a crash and against deletes, evictions, puts and reads meanwhile:
   * - The worker copies and flushes the blocks before answering. Until the index transaction below
   *   commits, every entry still names the old segment, whole and untouched, and the copies are
   *   bytes no entry names (dead, like those of an uncommitted flush).
   * - One transaction points every entry at its copy, and only an entry still naming the old place:
   *   a block deleted or evicted meanwhile has no entry (or, if its delete comes after, loses the
   *   new one), so it never comes back. Recency written meanwhile waits (`moving`), so no later
   *   write names the old place again.
   * - Only after that commit is the old segment dropped: a crash before the drop leaves a segment
   *   no entry names, which the next open deletes. Segment drops asked for meanwhile wait
   *   (dropSegment), so the segment holding the copies is not deleted under them.
   * - The page's own reads go through the worker in message order, before the drop. Readers beside
   *   the page (readPlacedBlock) that took the old place find its segment gone and read the index
   *   again; segment numbers are never reused within a session, so a stale place is never other bytes.
   */
  private async compactSegment(seg: number): Promise<void> {
    const blocks = [...this.places]
      .filter(([, place]) => place.seg === seg)
      .map(([id, place]) => ({ id, place }))
      .sort((a, b) => a.place.off - b.place.off);
    const moved = await new Promise<readonly Placement[] | undefined>((resolve) => {
      const req = this.nextReq++;
      this.compactions.set(req, resolve);
      const list = blocks.map(({ id, place }) => ({ id, off: place.off, size: place.size }));
      this.post({ type: 'compact', req, seg, blocks: list });
    });
    for (const m of moved ?? []) this.appendSeg = Math.max(this.appendSeg, m.seg);
    const from = new Map(blocks.map(({ id, place }) => [id, place]));
    const moves = (moved ?? []).flatMap((m): Move[] => {
      const old = from.get(m.id);
      return old ? [{ id: m.id, from: old, to: { seg: m.seg, off: m.off, size: m.size } }] : [];
    });
    const swapped = await this.swapPlaces(moves);
    for (const m of swapped) {
      // An entry the transaction changed names no other place here (deletes of it come after).
      if (this.places.get(m.id) !== m.from) continue;
      this.dropPlace(m.id);
      this.addPlace(m.id, m.to);
    }
    if (this.live.has(seg)) this.uncompactable.add(seg);
    // Dropped once the compaction ends (it is still under way here): see compactAll.
    else this.deferredDrops.add(seg);
  }

  /** Points the entries of moved blocks at their copies in one transaction; returns those it changed. */
  private async swapPlaces(moves: readonly Move[]): Promise<Move[]> {
    if (moves.length === 0 || this.broken) return [];
    for (const m of moves) this.moving.add(m.id);
    const swapped: Move[] = [];
    try {
      const tx = this.db.transaction('blockMeta', 'readwrite');
      const requests = moves.map(async (m) => {
        const record = await tx.store.get(m.id);
        // Deleted or evicted since (or stored again elsewhere): left as it is.
        if (record?.seg !== m.from.seg || record.off !== m.from.off) return;
        await tx.store.put({ ...record, seg: m.to.seg, off: m.to.off }, m.id);
        swapped.push(m);
      });
      await Promise.all([...requests, tx.done]);
      return swapped;
    } catch {
      // Nothing changed: every entry still names the old segment, which stays. The copies are dead.
      return [];
    } finally {
      for (const m of moves) this.moving.delete(m.id);
    }
  }

  async addPins(name: string, ids: readonly BlockId[]): Promise<void> {
    const tx = this.db.transaction('pins', 'readwrite');
    await Promise.all([...ids.map((id) => tx.store.put({ name, id })), tx.done]);
  }

  async dropPins(name: string): Promise<void> {
    await this.db.delete('pins', IDBKeyRange.bound([name, ''], [name, '\uffff']));
  }

  touched(id: BlockId): void {
    // Persisted with the next placement transaction: a read should not cost a write of its own.
    this.touchedAt.set(id, recencyStamp());
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    // The worker answers it before 'close'; its index transaction and drop are let finish.
    await this.compacting;
    if (!this.broken) {
      // The worker flushes and answers 'closed' after every append before it: their placements
      // arrive first and commit (ManagedBlockStore waits for them before closing us).
      await new Promise<void>((resolve) => {
        this.onClosed = resolve;
        this.post({ type: 'close' });
      });
    }
    this.worker.terminate();
    if (this.touchedAt.size > 0) {
      const tx = this.db.transaction('blockMeta', 'readwrite');
      await Promise.all([...this.persistTouches(tx.store), tx.done]);
    }
    if (this.ownsDb) this.db.close();
  }
}

/** Starts the worker and waits for its list of segment files. */
function openWorker(
  worker: Worker,
  message: Extract<ToWorker, { type: 'open' }>,
  timeoutMs: number,
): Promise<readonly { seg: number; size: number }[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new TimeoutError('opening the OPFS block log', timeoutMs)), timeoutMs);
    worker.onerror = (event) => {
      clearTimeout(timer);
      reject(new UnavailableError(`the OPFS block log worker did not start: ${event.message}`));
    };
    worker.onmessage = ({ data }: MessageEvent<FromWorker>) => {
      clearTimeout(timer);
      if (data.type === 'opened') resolve(data.segments);
      else if (data.type === 'open-failed') {
        reject(new UnavailableError(`OPFS is not usable here: ${data.error.name}: ${data.error.message}`));
      } else reject(new LocalStorageError(`the OPFS block log answered ${data.type} to open`));
    };
    worker.postMessage(message);
  });
}

/**
 * Opens the OPFS block store on database `name` (or `db`): the index and pins from IndexedDB, the
 * bytes of new blocks in OPFS segment files. Rejects with UnavailableError where OPFS sync access
 * handles cannot be used. Segment files no index entry names are deleted (bytes a crash left, or
 * a segment emptied just before); index entries whose segment file is gone or too short are
 * dropped (the browser cleared storage under us): those blocks are missing, never wrong.
 */
export async function openOpfsBlockStore(options: OpfsStoreOptions = {}): Promise<BlockStore> {
  if (typeof navigator === 'undefined' || typeof navigator.storage?.getDirectory !== 'function') {
    throw new UnavailableError('this browser has no Origin Private File System');
  }
  const db = options.db ?? (await openMycelDatabase(options.name));
  let worker: Worker | undefined;
  try {
    const index = await readStoredIndex(db);
    const places = new Map<BlockId, Place>();
    let next = 0;
    for (const { id, meta } of index.blocks) {
      if (meta.seg === undefined || meta.off === undefined) continue;
      places.set(id, { seg: meta.seg, off: meta.off, size: meta.size });
      next = Math.max(next, meta.seg + 1);
    }
    worker = (options.worker ?? defaultWorker)();
    const files = await openWorker(
      worker,
      { type: 'open', folder: segmentFolder(db.name), next, segmentBytes: options.segmentBytes ?? SEGMENT_BYTES },
      options.openTimeoutMs ?? OPEN_TIMEOUT_MS,
    );
    const sizes = new Map(files.map((f) => [f.seg, f.size]));
    const lost = [...places].filter(([, p]) => p.off + p.size > (sizes.get(p.seg) ?? -1)).map(([id]) => id);
    if (lost.length > 0) {
      const tx = db.transaction('blockMeta', 'readwrite');
      await Promise.all([...lost.map((id) => tx.store.delete(id)), tx.done]);
      for (const id of lost) places.delete(id);
    }
    const lostSet = new Set(lost);
    const ledger = ledgerOf(
      { blocks: index.blocks.filter((b) => !lostSet.has(b.id)), pins: index.pins },
      options.quota,
    );
    const raw = new OpfsRawBlocks(
      db,
      ledger,
      worker,
      places,
      sizes,
      !options.db,
      options.compactMinDeadBytes ?? COMPACT_MIN_DEAD_BYTES,
    );
    const named = new Set([...places.values()].map((p) => p.seg));
    for (const { seg } of files) if (!named.has(seg)) await raw.dropUnnamed(seg);
    // Segments an earlier session left mostly dead (it closed before compacting them).
    raw.compactSoon();
    return new ManagedBlockStore(raw, ledger, options);
  } catch (error) {
    worker?.terminate();
    if (!options.db) db.close();
    throw error;
  }
}

/**
 * The OPFS block store where the browser allows it, else the IndexedDB store. A block log held by
 * someone else past the open timeout is not a reason to fall back: it rejects (TimeoutError).
 */
export async function openBrowserBlockStore(options: OpfsStoreOptions = {}): Promise<BlockStore> {
  try {
    return await openOpfsBlockStore(options);
  } catch (error) {
    if (!(error instanceof UnavailableError)) throw error;
    return openIdbBlockStore(options);
  }
}

export { readPlacedBlock } from './opfs-read.browser.js';
