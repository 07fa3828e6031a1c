// The dedicated Worker behind the OPFS block store (opfs.browser.ts): it owns the SyncAccessHandles
// (only a dedicated worker may hold one) and appends block bytes to segment files, each at most
// `segmentBytes`. It flushes every FLUSH_BLOCKS blocks or FLUSH_MS (FLUSH_LAZY_BLOCKS or
// FLUSH_LAZY_MS while every block waiting came from a lazy put), and only then says where the
// blocks are: the page writes those placements to IndexedDB, so an index entry never points at
// bytes that were not flushed. Bytes appended whose placement was never committed (a crash, a
// closed tab) are dead bytes, never a wrong block. The owning page reads through this worker's
// handles (cheapest); other contexts (the service worker, other tabs) read a segment through
// getFile() + slice() while this worker holds its handle (measured in Chromium 150,
// test/bench/exp-opfs-access.ts).

import { ClosedError } from '../errors.js';
import {
  FLUSH_BLOCKS,
  FLUSH_LAZY_BLOCKS,
  FLUSH_LAZY_MS,
  FLUSH_MS,
  SPARE_BYTES,
  segmentFileName,
  segmentOfFileName,
  type FromWorker,
  type Placement,
  type ToWorker,
  type WorkerError,
} from './opfs-protocol.js';

/** The parts of FileSystemSyncAccessHandle used here (its type is in the WebWorker lib, not DOM). */
interface SyncHandle {
  read(into: Uint8Array, options: { at: number }): number;
  write(bytes: Uint8Array, options: { at: number }): number;
  flush(): void;
  close(): void;
  getSize(): number;
}
interface SyncFileHandle {
  createSyncAccessHandle(): Promise<SyncHandle>;
}
interface WorkerScope {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
}
const scope = globalThis as unknown as WorkerScope;

let folder: FileSystemDirectoryHandle | undefined;
let segmentBytes = 0;
let nextSeg = 0;
/** The segment appends go to; its handle is also in `handles`. */
let current: { seg: number; handle: SyncHandle; end: number } | undefined;
/** Open handles by segment: kept, since opening one costs more than a read. */
const handles = new Map<number, SyncHandle>();
let unflushed: Placement[] = [];
/** Whether a block waiting to be flushed came from a put that is waited on (not lazy). */
let awaited = false;
let timer: ReturnType<typeof setTimeout> | undefined;
/** When the first block waiting to be flushed came, and when the timer fires (performance.now()). */
let firstAt = 0;
let due = 0;

function describe(error: unknown): WorkerError {
  return error instanceof Error
    ? { name: error.name, message: error.message }
    : { name: 'Error', message: String(error) };
}

function flush(): void {
  clearTimeout(timer);
  timer = undefined;
  if (unflushed.length === 0 || !current) return;
  const blocks = unflushed;
  unflushed = [];
  awaited = false;
  try {
    current.handle.flush();
    scope.postMessage({ type: 'placed', blocks });
  } catch (error) {
    scope.postMessage({ type: 'failed', ids: blocks.map((b) => b.id), error: describe(error) });
  }
}

async function handleOf(seg: number, create: boolean): Promise<SyncHandle> {
  let handle = handles.get(seg);
  if (!handle) {
    if (!folder) throw new ClosedError('block log');
    const file = (await folder.getFileHandle(segmentFileName(seg), { create })) as unknown as SyncFileHandle;
    handle = await file.createSyncAccessHandle();
    handles.set(seg, handle);
  }
  return handle;
}

async function roll(): Promise<void> {
  flush();
  // Copies a compaction wrote since the last flush are in it too, and no 'placed' flushes them.
  current?.handle.flush();
  const seg = nextSeg++;
  const handle = await handleOf(seg, true);
  current = { seg, handle, end: handle.getSize() };
}

/** Writes bytes at the end of the log (rolling to a new segment when full), not flushed. */
async function writeAtEnd(bytes: Uint8Array): Promise<{ seg: number; off: number }> {
  if (!current || (current.end > 0 && current.end + bytes.length > segmentBytes)) await roll();
  const seg = current!;
  const written = seg.handle.write(bytes, { at: seg.end });
  // A short write (the disk or the quota is full) leaves `end` where it was: the next block
  // overwrites the partial bytes, which no index entry names.
  if (written !== bytes.length) throw new DOMException('the browser wrote only part of a block', 'QuotaExceededError');
  const off = seg.end;
  seg.end += bytes.length;
  return { seg: seg.seg, off };
}

async function append(id: string, buffer: ArrayBuffer, size: number, lazy: boolean): Promise<void> {
  const bytes = new Uint8Array(buffer, 0, size);
  try {
    const { seg, off } = await writeAtEnd(bytes);
    unflushed.push({ id, seg, off, size });
  } catch (error) {
    scope.postMessage({ type: 'failed', ids: [id], error: describe(error) });
    return;
  } finally {
    // The bytes are in the file (or failed): the page may fill this buffer with its next block.
    if (buffer.byteLength === SPARE_BYTES) scope.postMessage({ type: 'spare', buffer }, [buffer]);
  }
  if (unflushed.length === 1) firstAt = performance.now();
  awaited ||= !lazy;
  if (unflushed.length >= (awaited ? FLUSH_BLOCKS : FLUSH_LAZY_BLOCKS)) return flush();
  // A block that is waited on brings a lazy group's flush forward.
  const at = firstAt + (awaited ? FLUSH_MS : FLUSH_LAZY_MS);
  if (timer !== undefined && at >= due) return;
  clearTimeout(timer);
  due = at;
  timer = setTimeout(flush, Math.max(0, at - performance.now()));
}

async function read(req: number, seg: number, off: number, size: number): Promise<void> {
  try {
    // Not yet flushed bytes are never asked for: the page knows a block's place only after 'placed'.
    const handle = await handleOf(seg, false);
    if (off + size > handle.getSize()) {
      scope.postMessage({ type: 'read', req, bytes: undefined });
      return;
    }
    const out = new Uint8Array(size);
    const got = handle.read(out, { at: off });
    scope.postMessage({ type: 'read', req, bytes: got === size ? out.buffer : undefined }, [out.buffer]);
  } catch (error) {
    // NotFoundError: the segment file is gone (storage cleared under the page): the block is missing.
    scope.postMessage({ type: 'read', req, bytes: undefined, error: describe(error) });
  }
}

/**
 * Waits for the lock on this block log and holds it until the worker ends. Two writers would each
 * take the other's fresh segment for one a crash left unnamed and delete it; a page that reloads
 * waits here for the worker of its former self to go.
 */
function holdLock(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    navigator.locks
      .request(`mycel-block-log:${name}`, () => {
        resolve();
        return new Promise<never>(() => {
          // Never settles: the lock is released when the worker ends.
        });
      })
      .catch(reject);
  });
}

async function open(name: string, next: number, maxBytes: number): Promise<void> {
  try {
    // Sync access handles are exposed to dedicated workers only, and not in every browser.
    if (!('createSyncAccessHandle' in FileSystemFileHandle.prototype)) {
      throw new DOMException('this browser has no OPFS sync access handles', 'NotSupportedError');
    }
    await holdLock(name);
    folder = await (await navigator.storage.getDirectory()).getDirectoryHandle(name, { create: true });
    segmentBytes = maxBytes;
    const segments: { seg: number; size: number }[] = [];
    const entries = (folder as unknown as { values(): AsyncIterable<FileSystemHandle> }).values();
    for await (const entry of entries) {
      const seg = entry.kind === 'file' ? segmentOfFileName(entry.name) : undefined;
      if (seg === undefined) continue;
      segments.push({ seg, size: (await (entry as FileSystemFileHandle).getFile()).size });
    }
    // A fresh segment per session, numbered past every file: an older one may end in bytes a crash
    // left unplaced, and a number once used is not used again for other bytes.
    nextSeg = Math.max(next, ...segments.map((s) => s.seg + 1));
    scope.postMessage({ type: 'opened', segments });
  } catch (error) {
    scope.postMessage({ type: 'open-failed', error: describe(error) });
  }
}

/**
 * Copies the live blocks of an older segment to the end of the log, through the same writes as
 * appends, and flushes them before saying where they are: the page then points its index at the
 * copies in one transaction and only after that asks to drop the old segment. Until then the copies
 * are bytes no entry names, like those of a flush whose placements were never committed. Runs in
 * the message order like everything here: appends after it wait for one segment's live bytes
 * (at most half of one: see COMPACT_LIVE_SHARE).
 */
async function compact(
  req: number,
  seg: number,
  blocks: readonly { readonly id: string; readonly off: number; readonly size: number }[],
): Promise<void> {
  const moved: Placement[] = [];
  let error: WorkerError | undefined;
  try {
    // The page never asks for the segment appends go to; refused all the same, since its bytes
    // would be read while they are written.
    if (current?.seg === seg) throw new DOMException('the segment appends go to is not compacted', 'InvalidStateError');
    const from = await handleOf(seg, false);
    const end = from.getSize();
    // One buffer for every block: a copy leaves no garbage per block in a worker that collects late.
    const buffer = new Uint8Array(blocks.reduce((most, b) => Math.max(most, b.size), 0));
    for (const b of blocks) {
      if (b.off + b.size > end) continue;
      const bytes = buffer.subarray(0, b.size);
      if (from.read(bytes, { at: b.off }) !== b.size) continue;
      const to = await writeAtEnd(bytes);
      moved.push({ id: b.id, seg: to.seg, off: to.off, size: b.size });
    }
  } catch (failure) {
    error = describe(failure);
  }
  try {
    current?.handle.flush();
  } catch (failure) {
    error ??= describe(failure);
  }
  // On any failure none of the copies is named (a roll's flush may have failed under some of them):
  // the old segment stays as it is, and the copies are dead bytes.
  scope.postMessage(error ? { type: 'compacted', req, moved: [], error } : { type: 'compacted', req, moved });
}

async function drop(req: number, seg: number): Promise<void> {
  if (folder && current?.seg !== seg) {
    handles.get(seg)?.close();
    handles.delete(seg);
    try {
      await folder.removeEntry(segmentFileName(seg));
    } catch {
      // Gone already, or held elsewhere: the next open finds it unreferenced and drops it again.
    }
  }
  scope.postMessage({ type: 'dropped', req });
}

function close(): void {
  flush();
  for (const handle of handles.values()) handle.close();
  handles.clear();
  current = undefined;
  scope.postMessage({ type: 'closed' });
}

// One message at a time, in order: a roll (async) must not interleave with the appends after it.
let chain = Promise.resolve();
scope.onmessage = ({ data }) => {
  chain = chain.then(() => {
    switch (data.type) {
      case 'open':
        return open(data.folder, data.next, data.segmentBytes);
      case 'append':
        return append(data.id, data.bytes, data.size, data.lazy);
      case 'read':
        return read(data.req, data.seg, data.off, data.size);
      case 'compact':
        return compact(data.req, data.seg, data.blocks);
      case 'drop':
        return drop(data.req, data.seg);
      case 'close':
        return close();
    }
  });
};
