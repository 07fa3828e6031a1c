// Runs in real Chromium (vitest browser mode): the OPFS block store (segment files written by a
// dedicated Worker, the index in IndexedDB) against the browser's own OPFS and IndexedDB.
import { describe, expect, it, vi } from 'vitest';
import { blockStoreContract, block } from '../contracts/block-store.js';
import { TimeoutError, UnavailableError } from '../../src/errors.js';
import { openIdbBlockStore, openMycelDatabase, type MycelDB } from '../../src/store/idb.browser.js';
import { openBrowserBlockStore, openOpfsBlockStore, readPlacedBlock } from '../../src/store/opfs.browser.js';
import {
  FLUSH_BLOCKS,
  FLUSH_LAZY_BLOCKS,
  SPARE_BYTES,
  segmentFileName,
  segmentFolder,
  type FromWorker,
  type ToWorker,
} from '../../src/store/opfs-protocol.js';

let counter = 0;
const freshName = () => `mycel-opfs-test-${Date.now()}-${counter++}`;

/** Three 1000-byte blocks per segment: small enough to see segments fill, roll and go. */
const SMALL_SEGMENT = 3000;

async function segmentNames(dbName: string): Promise<string[]> {
  const folder = await (await navigator.storage.getDirectory()).getDirectoryHandle(segmentFolder(dbName));
  const names: string[] = [];
  for await (const entry of (folder as unknown as { values(): AsyncIterable<FileSystemHandle> }).values()) {
    names.push(entry.name);
  }
  return names.sort();
}

async function segmentFileBytes(dbName: string): Promise<number> {
  const folder = await (await navigator.storage.getDirectory()).getDirectoryHandle(segmentFolder(dbName));
  let total = 0;
  for await (const entry of (folder as unknown as { values(): AsyncIterable<FileSystemHandle> }).values()) {
    total += (await (entry as FileSystemFileHandle).getFile()).size;
  }
  return total;
}

/** How long a test waits for the block log to do what it was asked. */
const LOG_WAIT_MS = 5000;

/**
 * The real block log worker, watched from between it and the store: what the store asks of it, the
 * segments it deleted, and a hold on its 'compacted' answers (to act while a compaction's copies
 * are made but not yet named by the index).
 */
class WatchedLog {
  readonly worker = new Worker(new URL('../../src/store/opfs-log.worker.browser.ts', import.meta.url), {
    type: 'module',
  });
  readonly sent: ToWorker[] = [];
  readonly received: FromWorker[] = [];
  readonly droppedSegs = new Set<number>();
  onmessage: ((event: MessageEvent<FromWorker>) => void) | null = null;
  private held: MessageEvent<FromWorker>[] | undefined;
  private readonly dropReqs = new Map<number, number>();
  private readonly waiters = new Set<() => void>();

  constructor() {
    this.worker.onmessage = (event: MessageEvent<FromWorker>) => {
      this.received.push(event.data);
      if (event.data.type === 'dropped') this.droppedSegs.add(this.dropReqs.get(event.data.req)!);
      if (this.held && event.data.type === 'compacted') this.held.push(event);
      else this.onmessage?.(event);
      for (const waiter of this.waiters) waiter();
    };
  }

  set onerror(handler: ((event: ErrorEvent) => void) | null) {
    this.worker.onerror = handler;
  }

  postMessage(message: ToWorker, transfer: Transferable[] = []): void {
    this.sent.push(message);
    if (message.type === 'drop') this.dropReqs.set(message.req, message.seg);
    this.worker.postMessage(message, transfer);
  }

  terminate(): void {
    this.worker.terminate();
  }

  asWorker(): () => Worker {
    return () => this as unknown as Worker;
  }

  compactsOf(seg: number): number {
    return this.sent.filter((m) => m.type === 'compact' && m.seg === seg).length;
  }

  holdCompacted(): void {
    this.held = [];
  }

  heldCount(): number {
    return this.held?.length ?? 0;
  }

  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const event of held) this.onmessage?.(event);
  }

  /** Resolves once `check` holds (checked after each message from the worker). */
  until(check: () => boolean, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`the block log did not get to: ${what}`));
      }, LOG_WAIT_MS);
      const waiter = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve();
      };
      this.waiters.add(waiter);
    });
  }
}

function same(a: Uint8Array | undefined, b: Uint8Array): boolean {
  // Compared in a loop: toEqual on large arrays takes seconds each.
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}

blockStoreContract('OPFS', async ({ quota, onEvict }) => {
  const name = freshName();
  const store = await openOpfsBlockStore({ name, quota, onEvict, segmentBytes: SMALL_SEGMENT });
  return {
    store,
    reopen: async () => {
      await store.close();
      return openOpfsBlockStore({ name, quota, segmentBytes: SMALL_SEGMENT });
    },
  };
});

describe('OPFS store in Chromium', () => {
  it('keeps block bytes in segment files and only their place in IndexedDB', async () => {
    const name = freshName();
    const db = await openMycelDatabase(name);
    const store = await openOpfsBlockStore({ db, segmentBytes: SMALL_SEGMENT });
    const blocks = Array.from({ length: 7 }, (_, i) => block(1000, 100 + i));
    await Promise.all(blocks.map((b) => store.put(b.id, b.bytes)));
    expect(await db.count('blocks')).toBe(0);
    const meta = await db.get('blockMeta', blocks[0]!.id);
    expect(meta).toMatchObject({ size: 1000, seg: expect.any(Number) as number, off: expect.any(Number) as number });
    expect(await segmentNames(name)).toHaveLength(3);
    for (const b of blocks) expect(same(await store.get(b.id), b.bytes)).toBe(true);
    await store.close();
    db.close();
  });

  it('stores exactly a block handed over as a view into a bigger frame whose slice() does not copy', async () => {
    // The data channel's bundle hands blocks over as Buffers inside the received frame; a Buffer's
    // slice() is a view of the same memory, so a copy made with it would carry the whole frame.
    class FrameView extends Uint8Array {
      override slice(start?: number, end?: number): Uint8Array<ArrayBuffer> {
        return this.subarray(start, end);
      }
    }
    const b = block(1000, 150);
    const frame = new Uint8Array(b.bytes.length + 7);
    frame.set([0, 3, 3, 0, 0, 0, 1]);
    frame.set(b.bytes, 7);
    const name = freshName();
    const db = await openMycelDatabase(name);
    const store = await openOpfsBlockStore({ db });
    await store.put(b.id, new FrameView(frame.buffer, 7, b.bytes.length));
    expect(await db.get('blockMeta', b.id)).toMatchObject({ size: 1000 });
    expect(same(await readPlacedBlock(db, b.id), b.bytes)).toBe(true);
    expect(same(await store.get(b.id), b.bytes)).toBe(true);
    await store.close();
    db.close();
  });

  it('lets another reader (as the service worker would) read a block while the worker holds its segment', async () => {
    const name = freshName();
    const store = await openOpfsBlockStore({ name });
    const a = block(256 * 1024, 200);
    await store.put(a.id, a.bytes);
    // A second connection, as the service worker has; the store's worker keeps its handles open.
    const reader = await openMycelDatabase(name);
    expect(same(await readPlacedBlock(reader, a.id), a.bytes)).toBe(true);
    // A block appended after the reader's first read is seen too.
    const b = block(256 * 1024, 201);
    await store.put(b.id, b.bytes);
    expect(same(await readPlacedBlock(reader, b.id), b.bytes)).toBe(true);
    // And after another append, an earlier block still reads (the File the reader kept went stale).
    const c = block(256 * 1024, 203);
    await store.put(c.id, c.bytes);
    expect(same(await readPlacedBlock(reader, a.id), a.bytes)).toBe(true);
    expect(same(await readPlacedBlock(reader, c.id), c.bytes)).toBe(true);
    expect(await readPlacedBlock(reader, block(10, 202).id)).toBeUndefined();
    reader.close();
    await store.close();
  });

  it('says it has a block from a lazy put only once another reader (the service worker) can read it', async () => {
    // A page that read a download to its end marks the file held (has() of every block); the
    // service worker then reads the blocks from the index, which a lazy put fills up to
    // FLUSH_LAZY_MS later.
    const name = freshName();
    const store = await openOpfsBlockStore({ name });
    const reader = await openMycelDatabase(name);
    const a = block(256 * 1024, 210);
    const putting = store.put(a.id, a.bytes, { lazy: true });
    // Asked while the put hashes the bytes, then while it waits for its group's flush.
    await vi.waitFor(async () => expect(await store.has(a.id)).toBe(true), { interval: 1, timeout: LOG_WAIT_MS });
    expect(same(await readPlacedBlock(reader, a.id), a.bytes)).toBe(true);
    await putting;
    reader.close();
    await store.close();
  });

  it('keeps blocks stored in IndexedDB before readable, and moves nothing', async () => {
    const name = freshName();
    const old = await openIdbBlockStore({ name });
    const a = block(5000, 300);
    await old.put(a.id, a.bytes);
    await old.close();
    const store = await openOpfsBlockStore({ name });
    const b = block(5000, 301);
    await store.put(b.id, b.bytes);
    expect(same(await store.get(a.id), a.bytes)).toBe(true);
    expect(same(await store.get(b.id), b.bytes)).toBe(true);
    const reader = await openMycelDatabase(name);
    expect(same(await readPlacedBlock(reader, a.id), a.bytes)).toBe(true);
    expect(await reader.get('blocks', a.id)).toBeDefined();
    expect(await reader.get('blocks', b.id)).toBeUndefined();
    reader.close();
    expect(await store.delete(a.id)).toBe(true);
    expect(await store.get(a.id)).toBeUndefined();
    await store.close();
  });

  it('deletes a segment file once every block in it is deleted, and keeps the others', async () => {
    const name = freshName();
    const store = await openOpfsBlockStore({ name, segmentBytes: SMALL_SEGMENT });
    const blocks = Array.from({ length: 7 }, (_, i) => block(1000, 400 + i));
    // One at a time, so the segments fill in order: 0-2, 3-5, 6.
    for (const b of blocks) await store.put(b.id, b.bytes);
    const before = await segmentNames(name);
    expect(before).toHaveLength(3);
    await store.delete(blocks[0]!.id);
    await store.delete(blocks[1]!.id);
    expect(await segmentNames(name)).toEqual(before);
    await store.delete(blocks[2]!.id);
    expect(await segmentNames(name)).toEqual(before.filter((n) => n !== segmentFileName(0)));
    for (const b of blocks.slice(3)) expect(same(await store.get(b.id), b.bytes)).toBe(true);
    await store.close();
  });

  it('deletes a segment whose blocks were all evicted to make room', async () => {
    const name = freshName();
    const store = await openOpfsBlockStore({ name, segmentBytes: SMALL_SEGMENT, quota: 4000 });
    const blocks = Array.from({ length: 7 }, (_, i) => block(1000, 500 + i));
    for (const b of blocks) await store.put(b.id, b.bytes);
    expect(await segmentNames(name)).not.toContain(segmentFileName(0));
    expect((await store.usage()).blocks).toBe(4);
    for (const b of blocks.slice(3)) expect(same(await store.get(b.id), b.bytes)).toBe(true);
    await store.close();
  });

  it('drops segment files no index entry names when it opens (bytes a crash left behind)', async () => {
    const name = freshName();
    const store = await openOpfsBlockStore({ name });
    const a = block(2000, 600);
    await store.put(a.id, a.bytes);
    await store.close();
    // What a tab closed between a flush and its index transaction leaves: bytes in a segment file
    // that no blockMeta record names.
    const folder = await (await navigator.storage.getDirectory()).getDirectoryHandle(segmentFolder(name));
    const orphan = await (await folder.getFileHandle(segmentFileName(41), { create: true })).createWritable();
    await orphan.write(new Uint8Array(block(2000, 601).bytes));
    await orphan.close();
    const again = await openOpfsBlockStore({ name });
    expect(await segmentNames(name)).not.toContain(segmentFileName(41));
    expect(same(await again.get(a.id), a.bytes)).toBe(true);
    expect((await again.usage()).blocks).toBe(1);
    await again.close();
  });

  it('counts a block whose segment file is gone as missing, never as other bytes', async () => {
    const name = freshName();
    const store = await openOpfsBlockStore({ name });
    const a = block(2000, 700);
    await store.put(a.id, a.bytes);
    await store.close();
    // The browser cleared part of the origin's storage under the page.
    await (await navigator.storage.getDirectory()).removeEntry(segmentFolder(name), { recursive: true });
    const again = await openOpfsBlockStore({ name });
    expect(await again.has(a.id)).toBe(false);
    expect(await again.get(a.id)).toBeUndefined();
    const b = block(2000, 701);
    await again.put(b.id, b.bytes);
    expect(same(await again.get(b.id), b.bytes)).toBe(true);
    await again.close();
  });

  it('keeps every block of many concurrent puts (several flushes, the last one partial) across a reopen', async () => {
    const name = freshName();
    const store = await openOpfsBlockStore({ name });
    const blocks = Array.from({ length: 21 }, (_, i) => block(64 * 1024, 800 + i));
    await Promise.all(blocks.map((b) => store.put(b.id, b.bytes)));
    await store.close();
    const again = await openOpfsBlockStore({ name });
    for (const b of blocks) expect(same(await again.get(b.id), b.bytes)).toBe(true);
    await again.close();
  });

  it('places lazy puts (a fetch storing what its reader has) in larger groups than puts waited on', async () => {
    // Fewer flushes (a disk sync and an index transaction each) per MB downloaded. Group sizes
    // only: the waits behind them are times, which no test asserts.
    const name = freshName();
    const log = new WatchedLog();
    const store = await openOpfsBlockStore({ name, worker: log.asWorker() });
    const groups = () => log.received.flatMap((m) => (m.type === 'placed' ? [m.blocks.length] : []));
    const count = FLUSH_LAZY_BLOCKS;
    const lazy = Array.from({ length: count }, (_, i) => block(1024, 900 + i));
    await Promise.all(lazy.map((b) => store.put(b.id, b.bytes, { lazy: true })));
    expect(Math.max(...groups())).toBeGreaterThan(FLUSH_BLOCKS);
    expect(Math.max(...groups())).toBeLessThanOrEqual(FLUSH_LAZY_BLOCKS);
    const before = groups().length;
    const awaited = Array.from({ length: count }, (_, i) => block(1024, 950 + i));
    await Promise.all(awaited.map((b) => store.put(b.id, b.bytes)));
    expect(Math.max(...groups().slice(before))).toBeLessThanOrEqual(FLUSH_BLOCKS);
    await store.close();
    const again = await openOpfsBlockStore({ name });
    for (const b of [...lazy, ...awaited]) expect(same(await again.get(b.id), b.bytes)).toBe(true);
    await again.close();
  });

  it('stores each block exactly when blocks of every size pass through the buffers the worker hands back', async () => {
    // Full-size blocks first, so the small ones after them are copied into handed-back buffers that
    // still hold a former block's bytes; one over a spare's size goes in a buffer of its own.
    const name = freshName();
    const store = await openOpfsBlockStore({ name });
    const sizes = [SPARE_BYTES, SPARE_BYTES, SPARE_BYTES - 1, 1000, 17, SPARE_BYTES, 1024 * 1024 + 16, 5000];
    const blocks = sizes.map((size, i) => block(size, 900 + i));
    for (const b of blocks) await store.put(b.id, b.bytes);
    for (const b of blocks) expect(same(await store.get(b.id), b.bytes)).toBe(true);
    await store.close();
    const again = await openOpfsBlockStore({ name });
    for (const b of blocks) expect(same(await again.get(b.id), b.bytes)).toBe(true);
    await again.close();
  });

  it('lets one store at a time write a database, and the next one in once the first closes', async () => {
    const name = freshName();
    const first = await openOpfsBlockStore({ name });
    const a = block(1000, 1000);
    await first.put(a.id, a.bytes);
    // A second tab opening the same database: it waits for the block log, and gives up in time.
    await expect(openOpfsBlockStore({ name, openTimeoutMs: 300 })).rejects.toBeInstanceOf(TimeoutError);
    await expect(openBrowserBlockStore({ name, openTimeoutMs: 300 })).rejects.toBeInstanceOf(TimeoutError);
    const waiting = openOpfsBlockStore({ name });
    await first.close();
    const second = await waiting;
    expect(same(await second.get(a.id), a.bytes)).toBe(true);
    await second.close();
  });

  describe('compaction', () => {
    it('moves the live blocks out of a mostly deleted older segment and deletes it, giving the space back', async () => {
      const name = freshName();
      const log = new WatchedLog();
      const options = { name, segmentBytes: SMALL_SEGMENT, compactMinDeadBytes: 1000 };
      const store = await openOpfsBlockStore({ ...options, worker: log.asWorker() });
      const blocks = Array.from({ length: 7 }, (_, i) => block(1000, 1100 + i));
      // One at a time, so the segments fill in order: 0-2, 3-5, 6 (the one appends go to).
      for (const b of blocks) await store.put(b.id, b.bytes);
      expect(await segmentFileBytes(name)).toBe(7000);
      await store.delete(blocks[0]!.id);
      await store.delete(blocks[1]!.id);
      await log.until(() => log.droppedSegs.has(0), 'delete segment 0');
      expect(await segmentNames(name)).not.toContain(segmentFileName(0));
      // Only live bytes are left: block 2 now sits after block 6.
      expect(await segmentFileBytes(name)).toBe(5000);
      const kept = blocks.slice(2);
      for (const b of kept) expect(same(await store.get(b.id), b.bytes)).toBe(true);
      await store.close();
      const again = await openOpfsBlockStore(options);
      for (const b of kept) expect(same(await again.get(b.id), b.bytes)).toBe(true);
      expect((await again.usage()).blocks).toBe(5);
      await again.close();
    });

    it('keeps a block deleted while its segment is compacted deleted, and every put made meanwhile', async () => {
      const name = freshName();
      const log = new WatchedLog();
      const options = { name, segmentBytes: SMALL_SEGMENT, compactMinDeadBytes: 1000 };
      const store = await openOpfsBlockStore({ ...options, worker: log.asWorker() });
      const blocks = Array.from({ length: 7 }, (_, i) => block(1000, 1200 + i));
      for (const b of blocks) await store.put(b.id, b.bytes);
      log.holdCompacted();
      await store.delete(blocks[0]!.id);
      await store.delete(blocks[1]!.id);
      // Block 2 is copied and flushed; the index still names its old place.
      await log.until(() => log.heldCount() === 1, 'copy segment 0');
      const moving = blocks[2]!;
      expect(await store.delete(moving.id)).toBe(true);
      const meanwhile = Array.from({ length: 4 }, (_, i) => block(1000, 1300 + i));
      await Promise.all(meanwhile.map((b) => store.put(b.id, b.bytes)));
      log.release();
      await log.until(() => log.droppedSegs.has(0), 'delete segment 0');
      const kept = [...blocks.slice(3), ...meanwhile];
      expect(await store.has(moving.id)).toBe(false);
      expect(await store.get(moving.id)).toBeUndefined();
      for (const b of kept) expect(same(await store.get(b.id), b.bytes)).toBe(true);
      await store.close();
      const again = await openOpfsBlockStore(options);
      expect(await again.has(moving.id)).toBe(false);
      expect(await again.get(moving.id)).toBeUndefined();
      for (const b of kept) expect(same(await again.get(b.id), b.bytes)).toBe(true);
      expect((await again.usage()).blocks).toBe(kept.length);
      await again.close();
    });

    it('keeps the copies a compaction made when the segment they went to loses its own blocks meanwhile', async () => {
      const name = freshName();
      const log = new WatchedLog();
      const options = { name, segmentBytes: SMALL_SEGMENT, compactMinDeadBytes: 1000 };
      const store = await openOpfsBlockStore({ ...options, worker: log.asWorker() });
      const blocks = Array.from({ length: 9 }, (_, i) => block(1000, 1600 + i));
      for (const b of blocks.slice(0, 7)) await store.put(b.id, b.bytes);
      log.holdCompacted();
      await store.delete(blocks[0]!.id);
      await store.delete(blocks[1]!.id);
      // Block 2's copy goes after block 6 in segment 2; block 7 fills it and block 8 starts segment 3.
      await log.until(() => log.heldCount() === 1, 'copy segment 0');
      for (const b of blocks.slice(7)) await store.put(b.id, b.bytes);
      // Segment 2 no longer takes appends and its own blocks are gone: only the unnamed copy is left.
      await store.delete(blocks[6]!.id);
      await store.delete(blocks[7]!.id);
      log.release();
      await log.until(() => log.droppedSegs.has(0), 'delete segment 0');
      const kept = [blocks[2]!, ...blocks.slice(3, 6), blocks[8]!];
      for (const b of kept) expect(same(await store.get(b.id), b.bytes)).toBe(true);
      await store.close();
      const again = await openOpfsBlockStore(options);
      for (const b of kept) expect(same(await again.get(b.id), b.bytes)).toBe(true);
      await again.close();
    });

    it('gives a reader that took the place of a block before it moved the right bytes (as the service worker would)', async () => {
      const name = freshName();
      const log = new WatchedLog();
      const store = await openOpfsBlockStore({
        name,
        segmentBytes: SMALL_SEGMENT,
        compactMinDeadBytes: 1000,
        worker: log.asWorker(),
      });
      const blocks = Array.from({ length: 7 }, (_, i) => block(1000, 1400 + i));
      for (const b of blocks) await store.put(b.id, b.bytes);
      const reader = await openMycelDatabase(name);
      const moving = blocks[2]!;
      // The reader keeps segment 0's File (its cache is warm), and took the place before the move.
      expect(same(await readPlacedBlock(reader, moving.id), moving.bytes)).toBe(true);
      const stale = await reader.get('blockMeta', moving.id);
      expect(stale?.seg).toBe(0);
      await store.delete(blocks[0]!.id);
      await store.delete(blocks[1]!.id);
      await log.until(() => log.droppedSegs.has(0), 'delete segment 0');
      // Its first look at the index happened before the compaction: it answers the old place.
      let looks = 0;
      const staleReader = new Proxy(reader, {
        get(target, key) {
          if (key === 'get') {
            return (table: 'blockMeta', id: string) =>
              table === 'blockMeta' && id === moving.id && looks++ === 0
                ? Promise.resolve(stale)
                : target.get(table, id);
          }
          const value: unknown = Reflect.get(target, key, target);
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      });
      expect(same(await readPlacedBlock(staleReader, moving.id), moving.bytes)).toBe(true);
      expect(looks).toBe(2);
      expect(same(await readPlacedBlock(reader, moving.id), moving.bytes)).toBe(true);
      for (const b of blocks.slice(3)) expect(same(await readPlacedBlock(reader, b.id), b.bytes)).toBe(true);
      reader.close();
      await store.close();
    });

    it('never compacts the segment appends go to, and compacts it once appends moved on', async () => {
      const name = freshName();
      const log = new WatchedLog();
      const store = await openOpfsBlockStore({
        name,
        segmentBytes: 6000,
        compactMinDeadBytes: 1000,
        worker: log.asWorker(),
      });
      const blocks = Array.from({ length: 7 }, (_, i) => block(1000, 1500 + i));
      for (const b of blocks.slice(0, 5)) await store.put(b.id, b.bytes);
      for (const b of blocks.slice(0, 4)) await store.delete(b.id);
      // Four fifths of segment 0 are dead, but it takes appends: the store does not ask.
      expect(log.compactsOf(0)).toBe(0);
      // Nor would the worker, asked all the same.
      const req = 1_000_000;
      log.worker.postMessage({ type: 'compact', req, seg: 0, blocks: [{ id: blocks[4]!.id, off: 4000, size: 1000 }] });
      await log.until(() => log.received.some((m) => m.type === 'compacted' && m.req === req), 'answer the compact');
      const answer = log.received.find((m) => m.type === 'compacted' && m.req === req);
      expect(answer).toMatchObject({ moved: [], error: { name: 'InvalidStateError' } });
      // Block 5 fills segment 0, block 6 starts segment 1: segment 0 is an older one now.
      for (const b of blocks.slice(5)) await store.put(b.id, b.bytes);
      await log.until(() => log.droppedSegs.has(0), 'delete segment 0');
      for (const b of blocks.slice(4)) expect(same(await store.get(b.id), b.bytes)).toBe(true);
      await store.close();
    });
  });

  describe('without OPFS', () => {
    // Chromium has OPFS: a worker that answers as a browser without sync handles would reaches
    // that edge.
    const noOpfs = () =>
      new Worker(
        URL.createObjectURL(
          new Blob(
            [
              `onmessage = () => postMessage({ type: 'open-failed', error: { name: 'NotSupportedError', message: 'no sync access handles' } });`,
            ],
            { type: 'text/javascript' },
          ),
        ),
      );

    it('refuses to open with a typed error', async () => {
      await expect(openOpfsBlockStore({ name: freshName(), worker: noOpfs })).rejects.toBeInstanceOf(UnavailableError);
    });

    it('falls back to IndexedDB and stores blocks there', async () => {
      const name = freshName();
      const store = await openBrowserBlockStore({ name, worker: noOpfs });
      const a = block(1000, 900);
      await store.put(a.id, a.bytes);
      const db: MycelDB = await openMycelDatabase(name);
      expect(await db.get('blocks', a.id)).toBeDefined();
      db.close();
      await store.close();
    });
  });
});
