// Experiment: IndexedDB against the Origin Private File System for block bytes, in one Chromium with
// an on-disk profile, alternating round by round. Each store writes N 256 KiB blocks (pseudo-random,
// so nothing compresses) and reads them back; MB/s and CPU ms per MB of the whole browser, also split
// into the write and the read-back.
// - idb: one object store, key = block id, group commit as src/store/idb.ts (one readwrite
//   transaction at a time, at most 64 puts each); reads one get per block, 4 in flight.
//   Variants of it, each one transaction per write and 1 read per transaction unless named: idbEach
//   (as blocks fetched from a peer are written: each arrives after the last commit ended),
//   idbBatch8 (8 per transaction), idbEachReads4 (4 gets per read transaction), idbParts5 (a block
//   as 5 records, each under the size Chromium wraps into a blob), idbBlob (a Blob per block, read
//   back through arrayBuffer()), idbEachZeros (zeroed blocks: Chromium stores them far cheaper, so a
//   bench writing zeros flatters IndexedDB; measured 4.8 against 15.7 ms CPU per MB).
// - opfsSync: a dedicated Worker, one file per block through createSyncAccessHandle (write, flush,
//   close); reads through a sync handle too. (Sync handles exist only in dedicated workers.)
//   opfsSyncNoFlush: the same without the flush per block (IndexedDB's default durability does not
//   flush either). opfsSyncLog: every block appended to one file through one open sync handle
//   (offsets would live in IndexedDB), one flush at the end.
// - opfsLog8: as a page would store blocks fetched from a peer: each 256 KiB block made on the
//   page's main thread (a copy out of a random pool) and posted to a dedicated Worker with its
//   buffer transferred; the worker appends it to a segment file (SEGMENT bytes each) through one
//   open sync handle and flushes every 8 blocks or 20 ms, then tells the page where the blocks are
//   (id -> segment, offset, length); the page writes those in one small IndexedDB transaction per
//   flush and only then counts the blocks stored. The page keeps 8 puts in flight (as a fetch keeps
//   a window). Reads as the service worker would (exp-opfs-access.ts: any context can read a file
//   a worker holds a sync handle on): the offset from IndexedDB, then getFile() +
//   slice().arrayBuffer() on the page's main thread, 4 in flight. opfsLog8File: the same, but
//   one File per segment is kept across reads (a File goes unreadable once its file is written
//   to, so a reader would take it again on NotReadableError). opfsLog8Worker: the same writes, read
//   back through the worker (a sync handle per segment, kept open; the bytes transferred back): how
//   the page that owns the store would read.
// - opfsAsync: the page's main thread, one file per block through createWritable(); reads
//   through getFile().arrayBuffer(), 4 in flight.
// Usage: npx tsx test/bench/exp-storage.ts   (env MB=128 ROUNDS=3, KINDS=idbEach,idbBatch8,opfsLog8,… to pick)
import { createServer } from 'node:http';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/processes.js';
import { launchPeer } from './browsers.js';
import { cpuUsed, type CpuSnapshot } from './chromium-processes.js';
import { MiB, median } from './units.js';

const BLOCK = 256 * 1024;
/** Bytes per segment file of the opfsLog kinds (several segments in a run of 64 MB or more). */
const SEGMENT = 32 * 1024 * 1024;

const WORKER = `
let dir;
onmessage = async ({ data: { op, n, block, flushEach, log } }) => {
  dir ??= await (await navigator.storage.getDirectory()).getDirectoryHandle('blocks', { create: true });
  if (op === 'write' && log) {
    const pool = new Uint8Array(4 * 1024 * 1024);
    for (let o = 0; o < pool.length; o += 65536) crypto.getRandomValues(pool.subarray(o, o + 65536));
    const t = performance.now();
    const h = await (await dir.getFileHandle('log', { create: true })).createSyncAccessHandle();
    for (let i = 0; i < n; i++) {
      const bytes = pool.slice((i * 4096) % (pool.length - block), ((i * 4096) % (pool.length - block)) + block);
      h.write(bytes, { at: i * block });
    }
    h.flush();
    h.close();
    postMessage(performance.now() - t);
  } else if (op === 'read' && log) {
    const t = performance.now();
    const h = await (await dir.getFileHandle('log')).createSyncAccessHandle();
    for (let i = 0; i < n; i++) {
      const out = new Uint8Array(block);
      h.read(out, { at: i * block });
    }
    h.close();
    postMessage(performance.now() - t);
  } else if (op === 'write') {
    const pool = new Uint8Array(4 * 1024 * 1024);
    for (let o = 0; o < pool.length; o += 65536) crypto.getRandomValues(pool.subarray(o, o + 65536));
    const t = performance.now();
    for (let i = 0; i < n; i++) {
      const bytes = pool.slice((i * 4096) % (pool.length - block), ((i * 4096) % (pool.length - block)) + block);
      const fh = await dir.getFileHandle('b' + i, { create: true });
      const h = await fh.createSyncAccessHandle();
      h.write(bytes, { at: 0 });
      if (flushEach) h.flush();
      h.close();
    }
    postMessage(performance.now() - t);
  } else if (op === 'read') {
    const t = performance.now();
    let total = 0;
    for (let i = 0; i < n; i++) {
      const h = await (await dir.getFileHandle('b' + i)).createSyncAccessHandle();
      const out = new Uint8Array(h.getSize());
      h.read(out, { at: 0 });
      h.close();
      total += out.length;
    }
    postMessage(performance.now() - t);
  } else {
    await (await navigator.storage.getDirectory()).removeEntry('blocks', { recursive: true });
    dir = undefined;
    postMessage(0);
  }
};`;

const WORKER_LOG = `
const SEGMENT = ${SEGMENT};
const FLUSH_BLOCKS = 8;
const FLUSH_MS = 20;
let dir, handle, seg = -1, end = 0, placed = [], timer, readers = {};
async function roll() {
  handle?.flush();
  handle?.close();
  seg++;
  handle = await (await dir.getFileHandle('seg' + seg, { create: true })).createSyncAccessHandle();
  end = handle.getSize();
}
function flush() {
  clearTimeout(timer);
  timer = undefined;
  if (placed.length === 0) return;
  handle.flush();
  postMessage({ placed });
  placed = [];
}
let chain = Promise.resolve();
onmessage = ({ data }) => {
  chain = chain.then(async () => {
    if (data.op === 'put') {
      dir ??= await (await navigator.storage.getDirectory()).getDirectoryHandle('log', { create: true });
      const bytes = new Uint8Array(data.buf);
      if (!handle || end + bytes.length > SEGMENT) { flush(); await roll(); }
      handle.write(bytes, { at: end });
      placed.push({ id: data.id, seg, off: end, len: bytes.length });
      end += bytes.length;
      if (placed.length >= FLUSH_BLOCKS) flush();
      else timer ??= setTimeout(flush, FLUSH_MS);
    } else if (data.op === 'read') {
      // A read handle per segment, kept: while the worker holds them, other contexts can still read.
      if (data.seg !== seg) readers[data.seg] ??= await (await dir.getFileHandle('seg' + data.seg)).createSyncAccessHandle();
      const out = new Uint8Array(data.len);
      (data.seg === seg ? handle : readers[data.seg]).read(out, { at: data.off });
      postMessage({ req: data.req, buf: out.buffer }, [out.buffer]);
    } else if (data.op === 'close') {
      flush();
      handle?.close();
      handle = undefined;
      seg = -2;
      postMessage({ closed: true });
    } else if (data.op === 'clear') {
      for (const r of Object.values(readers)) r.close();
      readers = {};
      await (await navigator.storage.getDirectory()).removeEntry('log', { recursive: true });
      dir = undefined; seg = -1;
      postMessage({ cleared: true });
    }
  });
};`;

const PAGE = `
window.__store = {
  pool(zeros = false) {
    const pool = new Uint8Array(4 * 1024 * 1024);
    if (!zeros) for (let o = 0; o < pool.length; o += 65536) crypto.getRandomValues(pool.subarray(o, o + 65536));
    return (i) => pool.slice((i * 4096) % (pool.length - ${BLOCK}), ((i * 4096) % (pool.length - ${BLOCK})) + ${BLOCK});
  },
  idb(n) { return this.idbWith(n, { perTx: 64, parts: 1, readsPerTx: 1 }); },
  idbEach(n) { return this.idbWith(n, { perTx: 1, parts: 1, readsPerTx: 1 }); },
  idbEachReads4(n) { return this.idbWith(n, { perTx: 1, parts: 1, readsPerTx: 4 }); },
  idbParts5(n) { return this.idbWith(n, { perTx: 1, parts: 5, readsPerTx: 1 }); },
  idbBatch8(n) { return this.idbWith(n, { perTx: 8, parts: 1, readsPerTx: 1 }); },
  idbEachZeros(n) {
    return this.idbWith(n, { perTx: 1, parts: 1, readsPerTx: 1, zeros: true });
  },
  idbBlob(n) { return this.idbWith(n, { perTx: 1, parts: 1, readsPerTx: 1, blob: true }); },
  async idbWith(n, { perTx, parts, readsPerTx, blob = false, zeros = false }) {
    await new Promise((r) => { const q = indexedDB.deleteDatabase('exp'); q.onsuccess = q.onerror = r; });
    const db = await new Promise((res, rej) => {
      const q = indexedDB.open('exp', 1);
      q.onupgradeneeded = () => q.result.createObjectStore('blocks');
      q.onsuccess = () => res(q.result);
      q.onerror = () => rej(q.error);
    });
    const block = this.pool(zeros);
    const part = Math.ceil(${BLOCK} / parts);
    let t = performance.now();
    for (let i = 0; i < n; i += perTx) {
      const tx = db.transaction('blocks', 'readwrite');
      for (let j = i; j < Math.min(n, i + perTx); j++) {
        const bytes = block(j);
        if (parts === 1) tx.objectStore('blocks').put(blob ? new Blob([bytes]) : bytes, 'b' + j);
        else for (let k = 0; k < parts; k++) tx.objectStore('blocks').put(bytes.slice(k * part, (k + 1) * part), 'b' + j + '.' + k);
      }
      await new Promise((res, rej) => { tx.oncomplete = res; tx.onerror = () => rej(tx.error); });
    }
    const write = performance.now() - t;
    await window.__mark();
    t = performance.now();
    const req = (q) => new Promise((res, rej) => { q.onsuccess = () => res(q.result); q.onerror = () => rej(q.error); });
    const get = (i) => {
      const store = db.transaction('blocks').objectStore('blocks');
      const keys = [];
      for (let j = i; j < Math.min(n, i + readsPerTx); j++)
        if (parts === 1) keys.push('b' + j); else for (let k = 0; k < parts; k++) keys.push('b' + j + '.' + k);
      return Promise.all(keys.map((key) => req(store.get(key)).then((v) => (blob ? v.arrayBuffer() : v))));
    };
    const inflight = [];
    for (let i = 0; i < n; i += readsPerTx) { inflight.push(get(i)); if (inflight.length * readsPerTx >= 4) await inflight.shift(); }
    await Promise.all(inflight);
    const read = performance.now() - t;
    db.close();
    await new Promise((r) => { const q = indexedDB.deleteDatabase('exp'); q.onsuccess = q.onerror = r; });
    return { write, read };
  },
  opfsSync(n) { return this.opfsWorker(n, { flushEach: true }); },
  opfsSyncNoFlush(n) { return this.opfsWorker(n, { flushEach: false }); },
  opfsSyncLog(n) { return this.opfsWorker(n, { log: true }); },
  async opfsWorker(n, mode) {
    const w = new Worker(URL.createObjectURL(new Blob([${JSON.stringify(WORKER)}], { type: 'text/javascript' })));
    const ask = (op) => new Promise((r) => { w.onmessage = (e) => r(e.data); w.postMessage({ op, n, block: ${BLOCK}, ...mode }); });
    const write = await ask('write');
    await window.__mark();
    const read = await ask('read');
    await ask('clear');
    w.terminate();
    return { write, read };
  },
  opfsLog8(n) { return this.opfsLog(n, false); },
  opfsLog8File(n) { return this.opfsLog(n, 'file'); },
  opfsLog8Worker(n) { return this.opfsLog(n, 'worker'); },
  async opfsLog(n, readBy) {
    const keepFile = readBy === 'file';
    await new Promise((r) => { const q = indexedDB.deleteDatabase('explog'); q.onsuccess = q.onerror = r; });
    const db = await new Promise((res, rej) => {
      const q = indexedDB.open('explog', 1);
      q.onupgradeneeded = () => q.result.createObjectStore('blockMeta');
      q.onsuccess = () => res(q.result);
      q.onerror = () => rej(q.error);
    });
    const w = new Worker(URL.createObjectURL(new Blob([${JSON.stringify(WORKER_LOG)}], { type: 'text/javascript' })));
    const waiting = new Map();
    let onClosed;
    const reading = new Map();
    w.onmessage = ({ data }) => {
      if (data.closed || data.cleared) { onClosed(); return; }
      if (data.req !== undefined) { reading.get(data.req)(new Uint8Array(data.buf)); reading.delete(data.req); return; }
      const tx = db.transaction('blockMeta', 'readwrite');
      for (const p of data.placed) tx.objectStore('blockMeta').put({ size: p.len, used: Date.now(), seg: p.seg, off: p.off }, p.id);
      tx.oncomplete = () => { for (const p of data.placed) { waiting.get(p.id)(); waiting.delete(p.id); } };
      tx.onerror = () => { throw tx.error; };
    };
    const block = this.pool();
    let t = performance.now();
    const inflight = [];
    for (let i = 0; i < n; i++) {
      const bytes = block(i);
      const id = 'b' + i;
      inflight.push(new Promise((r) => waiting.set(id, r)));
      w.postMessage({ op: 'put', id, buf: bytes.buffer }, [bytes.buffer]);
      if (inflight.length >= 8) await inflight.shift();
    }
    await Promise.all(inflight);
    const write = performance.now() - t;
    await new Promise((r) => { onClosed = r; w.postMessage({ op: 'close' }); });
    await window.__mark();
    t = performance.now();
    const root = await (await navigator.storage.getDirectory()).getDirectoryHandle('log');
    const files = new Map();
    const req = (q) => new Promise((res, rej) => { q.onsuccess = () => res(q.result); q.onerror = () => rej(q.error); });
    const get = async (i) => {
      const meta = await req(db.transaction('blockMeta').objectStore('blockMeta').get('b' + i));
      if (readBy === 'worker') {
        return new Promise((r) => { reading.set(i, r); w.postMessage({ op: 'read', req: i, seg: meta.seg, off: meta.off, len: meta.size }); });
      }
      let file = keepFile ? files.get(meta.seg) : undefined;
      if (!file) {
        file = await (await root.getFileHandle('seg' + meta.seg)).getFile();
        if (keepFile) files.set(meta.seg, file);
      }
      const out = new Uint8Array(await file.slice(meta.off, meta.off + meta.size).arrayBuffer());
      if (out.length !== meta.size) throw new Error('short read');
      return out;
    };
    const reads = [];
    for (let i = 0; i < n; i++) { reads.push(get(i)); if (reads.length >= 4) await reads.shift(); }
    await Promise.all(reads);
    const read = performance.now() - t;
    await new Promise((r) => { onClosed = r; w.postMessage({ op: 'clear' }); });
    w.terminate();
    db.close();
    await new Promise((r) => { const q = indexedDB.deleteDatabase('explog'); q.onsuccess = q.onerror = r; });
    return { write, read };
  },
  async opfsAsync(n) {
    const root = await navigator.storage.getDirectory();
    const dir = await root.getDirectoryHandle('ablocks', { create: true });
    const block = this.pool();
    let t = performance.now();
    for (let i = 0; i < n; i++) {
      const fh = await dir.getFileHandle('b' + i, { create: true });
      const ws = await fh.createWritable();
      await ws.write(block(i));
      await ws.close();
    }
    const write = performance.now() - t;
    await window.__mark();
    t = performance.now();
    const inflight = [];
    for (let i = 0; i < n; i++) {
      inflight.push(dir.getFileHandle('b' + i).then((h) => h.getFile()).then((f) => f.arrayBuffer()));
      if (inflight.length >= 4) await inflight.shift();
    }
    await Promise.all(inflight);
    const read = performance.now() - t;
    await root.removeEntry('ablocks', { recursive: true });
    return { write, read };
  },
};`;

const total = Number(process.env.MB ?? 128) * MiB;
const rounds = Number(process.env.ROUNDS ?? 3);
const n = Math.round(total / BLOCK);
const http = createServer((_, res) => res.end('<!doctype html><title>exp</title>'));
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
const dir = await tempDir('exp-storage');
const peer = await launchPeer(
  path.join(dir, 'profile'),
  `http://localhost:${(http.address() as { port: number }).port}/`,
);
// Each kind calls this between writing and reading back, so CPU splits into the two.
let mid: CpuSnapshot | undefined;
await peer.page.exposeFunction('__mark', async () => {
  mid = await peer.procs.cpu();
});
try {
  await peer.page.evaluate(PAGE);
  const all = [
    'idb',
    'idbEach',
    'idbEachReads4',
    'idbParts5',
    'idbBatch8',
    'idbBlob',
    'idbEachZeros',
    'opfsSync',
    'opfsSyncNoFlush',
    'opfsSyncLog',
    'opfsLog8',
    'opfsLog8File',
    'opfsLog8Worker',
    'opfsAsync',
  ];
  const kinds = process.env.KINDS ? process.env.KINDS.split(',').filter((k) => all.includes(k)) : all;
  const results = new Map(
    kinds.map((k) => [k, [] as { write: number; read: number; cpu: number; cpuWrite: number; cpuRead: number }[]]),
  );
  for (let r = 0; r < rounds; r++) {
    const order = [...kinds];
    for (let k = 0; k < r % order.length; k++) order.push(order.shift()!);
    for (const kind of order) {
      const before = await peer.procs.cpu();
      const t = await peer.page.evaluate(
        ([k, count]) =>
          (window as unknown as { __store: Record<string, (n: number) => Promise<{ write: number; read: number }>> })
            .__store[k]!(count),
        [kind, n] as const,
      );
      const after = await peer.procs.cpu();
      const ms = (a: CpuSnapshot, b: CpuSnapshot) => [...cpuUsed(a, b).values()].reduce((s, p) => s + p.ms, 0);
      const mb = (n * BLOCK) / 1e6;
      results.get(kind)!.push({
        write: mb / (t.write / 1000),
        read: mb / (t.read / 1000),
        cpu: ms(before, after) / (2 * mb),
        cpuWrite: ms(before, mid!) / mb,
        cpuRead: ms(mid!, after) / mb,
      });
    }
    console.error(
      `round ${r + 1}: ${kinds.map((k) => `${k} ${results.get(k)!.at(-1)!.write.toFixed(0)}/${results.get(k)!.at(-1)!.read.toFixed(0)}`).join('  ')} MB/s write/read`,
    );
  }
  for (const kind of kinds) {
    const runs = results.get(kind)!;
    console.log(
      `${kind.padEnd(16)} write ${median(runs.map((x) => x.write))
        .toFixed(0)
        .padStart(5)} MB/s  read ${median(runs.map((x) => x.read))
        .toFixed(0)
        .padStart(5)} MB/s  ` +
        `${median(runs.map((x) => x.cpu))
          .toFixed(1)
          .padStart(5)} ms CPU per MB moved (write + read, whole browser: ` +
        `${median(runs.map((x) => x.cpuWrite)).toFixed(1)} per MB written, ` +
        `${median(runs.map((x) => x.cpuRead)).toFixed(1)} per MB read)`,
    );
  }
} finally {
  await peer.close();
  http.close();
  await fs.rm(dir, { recursive: true, force: true });
}
