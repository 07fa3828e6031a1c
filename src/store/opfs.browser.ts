// The browser's block store with the bytes in the Origin Private File System: blocks are appended
// to segment files by a dedicated Worker (opfs-log.worker.browser.ts, the only place a sync access
// handle may live) and the index stays in IndexedDB: each block's `blockMeta` record gains its
// segment and offset, written in one small transaction per flush of the worker (FLUSH_BLOCKS blocks
// or FLUSH_MS). Against 256 KiB values in IndexedDB this cut the browser's CPU per MB stored from
// 15.5-25.8 ms to ~4 (test/bench/exp-storage.ts, opfsLog8Worker against idbBatch8 and idbEach).
//
// - Blocks stored before (in the `blocks` table, no `seg`) stay there and stay readable; new ones
//   go to segments. Nothing is moved.
// - A deleted or evicted block's bytes are dead; a segment whose bytes are all dead is deleted. A
//   segment with some dead bytes keeps them (no compaction yet).
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
import type { BlockStore } from './block-store.js';
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

export interface OpfsStoreOptions extends IdbStoreOptions {
  /** Starts the worker; by default the bundled opfs-log.worker.browser.ts. */
  readonly worker?: () => Worker;
  /** Most bytes per segment file (SEGMENT_BYTES; smaller in tests). */
  readonly segmentBytes?: number;
  /** How long to wait for the worker (and for another holder of the block log to let go). */
  readonly openTimeoutMs?: number;
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
    private readonly ownsDb: boolean,
  ) {
    for (const [id, place] of places) this.addPlace(id, place);
    worker.onmessage = ({ data }: MessageEvent<FromWorker>) => this.onMessage(data);
    worker.onerror = () => this.fail(new LocalStorageError('the block log worker failed'));
  }

  private addPlace(id: BlockId, place: Place): void {
    this.places.set(id, place);
    this.live.set(place.seg, (this.live.get(place.seg) ?? 0) + place.size);
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
    }
    // Before the puts resolve: whoever waits on one sees the room its evictions made.
    await Promise.all(emptied.map((seg) => this.dropSegment(seg)));
    for (const { w } of batch) w.resolve();
  }

  private persistTouches(meta: { put(value: BlockMeta, key: BlockId): Promise<unknown> }): Promise<unknown>[] {
    const requests: Promise<unknown>[] = [];
    for (const [id, used] of this.touchedAt) {
      const size = this.ledger.sizeOf(id);
      const place = this.places.get(id);
      // The place rides along: a record without it would send readers to the `blocks` table.
      if (size !== undefined)
        requests.push(meta.put(place ? { size, used, seg: place.seg, off: place.off } : { size, used }, id));
    }
    this.touchedAt.clear();
    return requests;
  }

  private dropSegment(seg: number): Promise<void> {
    if (this.broken) return Promise.resolve();
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

  write(id: BlockId, bytes: Uint8Array, evict: readonly BlockId[]): Promise<void> {
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
      this.post({ type: 'append', id, bytes: buffer, size: bytes.length }, [buffer]);
    });
  }

  async remove(ids: readonly BlockId[]): Promise<void> {
    const tx = this.db.transaction(['blocks', 'blockMeta'], 'readwrite');
    const requests = ids.flatMap((id) => [tx.objectStore('blocks').delete(id), tx.objectStore('blockMeta').delete(id)]);
    await Promise.all([...requests, tx.done]);
    const emptied = ids.flatMap((id) => this.dropPlace(id) ?? []);
    await Promise.all(emptied.map((seg) => this.dropSegment(seg)));
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
    const raw = new OpfsRawBlocks(db, ledger, worker, places, !options.db);
    const named = new Set([...places.values()].map((p) => p.seg));
    for (const { seg } of files) if (!named.has(seg)) await raw.dropUnnamed(seg);
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
