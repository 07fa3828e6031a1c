// Experiment: who can read an Origin Private File System file while a dedicated Worker holds a
// SyncAccessHandle on it, and what each reader sees. One Chromium with an on-disk profile; one
// worker writes 256 KiB chunks through the handle; the page's main thread, a second tab of the same
// origin and the service worker each read `getFile()` + `slice(off, off + len).arrayBuffer()` and
// compare against the bytes written. Also: a File taken before a later write, a second handle while
// one is held, a writable stream, and the `mode` option of createSyncAccessHandle ('readwrite',
// 'readwrite-unsafe', 'read-only') in this Chromium. Prints one line per fact.
// Usage: npx tsx test/bench/exp-opfs-access.ts
import { createServer } from 'node:http';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/processes.js';
import { launchPeer } from './browsers.js';

const CHUNK = 256 * 1024;

// Shared by every context: the expected bytes of chunk i (a pattern, so any reader can check).
const PATTERN = `
function chunk(i) {
  const b = new Uint8Array(${CHUNK});
  for (let k = 0; k < b.length; k += 4) { b[k] = i; b[k + 1] = k >> 8; b[k + 2] = k >> 16; b[k + 3] = 0xa5; }
  return b;
}
function same(a, b) { if (a.length !== b.length) return false; for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false; return true; }
async function file(name) {
  const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('access', { create: true });
  return dir.getFileHandle(name, { create: true });
}
// Reads chunk i of file 'name' the way a reader beside the worker would, and says what happened.
async function readChunk(name, i) {
  try {
    const f = await (await file(name)).getFile();
    const buf = new Uint8Array(await f.slice(i * ${CHUNK}, (i + 1) * ${CHUNK}).arrayBuffer());
    return { size: f.size, ok: same(buf, chunk(i)), got: buf.length };
  } catch (e) { return { error: e.name + ': ' + e.message }; }
}
async function describe(p) { try { return await p; } catch (e) { return { error: e.name + ': ' + e.message }; } }
`;

const WORKER = `${PATTERN}
const handles = {};
onmessage = async ({ data: { op, name, mode, i, flush, key } }) => {
  const r = await describe((async () => {
    if (op === 'open') {
      handles[key] = await (await file(name)).createSyncAccessHandle(mode ? { mode } : undefined);
      return { opened: true, mode: handles[key].mode };
    }
    if (op === 'write') {
      const n = handles[key].write(chunk(i), { at: i * ${CHUNK} });
      if (flush) handles[key].flush();
      return { wrote: n };
    }
    if (op === 'read') {
      const out = new Uint8Array(${CHUNK});
      const n = handles[key].read(out, { at: i * ${CHUNK} });
      return { read: n, ok: same(out, chunk(i)) };
    }
    if (op === 'close') { handles[key].close(); delete handles[key]; return { closed: true }; }
    if (op === 'readFile') return readChunk(name, i);
  })());
  postMessage(r);
};`;

const SW = `${PATTERN}
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));
self.addEventListener('message', (e) => {
  const { name, i } = e.data;
  e.waitUntil(readChunk(name, i).then((r) => e.ports[0].postMessage(r)));
});`;

const PAGE = `(() => {${PATTERN}
window.__x = {
  readChunk, file, describe,
  workers: [],
  newWorker() { this.workers.push(new Worker('/worker.js')); return this.workers.length - 1; },
  ask(w, msg) { const wk = this.workers[w]; return new Promise((r) => { wk.onmessage = (e) => r(e.data); wk.postMessage(msg); }); },
  async registerSw() {
    await navigator.serviceWorker.register('/sw.js');
    const reg = await navigator.serviceWorker.ready;
    return reg.active.state;
  },
  async askSw(name, i) {
    const reg = await navigator.serviceWorker.ready;
    const ch = new MessageChannel();
    const p = new Promise((r) => { ch.port1.onmessage = (e) => r(e.data); });
    reg.active.postMessage({ name, i }, [ch.port2]);
    return p;
  },
  // A File taken now, read after the worker writes more: is a snapshot still readable?
  stale: undefined,
  async takeFile(name) { this.stale = await (await file(name)).getFile(); return this.stale.size; },
  async readStale(i) {
    return describe(this.stale.slice(i * ${CHUNK}, (i + 1) * ${CHUNK}).arrayBuffer().then((b) => ({ ok: same(new Uint8Array(b), chunk(i)) })));
  },
  async writable(name) {
    return describe((async () => { const w = await (await file(name)).createWritable({ keepExistingData: true }); await w.abort(); return { opened: true }; })());
  },
};
})()`;

const html = '<!doctype html><title>opfs access</title>';
const http = createServer((req, res) => {
  const body = req.url === '/worker.js' ? WORKER : req.url === '/sw.js' ? SW : html;
  res.setHeader('content-type', req.url?.endsWith('.js') ? 'text/javascript' : 'text/html');
  res.end(body);
});
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
const origin = `http://localhost:${(http.address() as { port: number }).port}/`;
const dir = await tempDir('exp-opfs-access');
const peer = await launchPeer(path.join(dir, 'profile'), origin);
type Api = Record<string, (...args: unknown[]) => Promise<unknown>>;
const call = (page: typeof peer.page, fn: string, ...args: unknown[]) =>
  page.evaluate(([f, a]) => (window as unknown as { __x: Api }).__x[f]!(...a), [fn, args] as const);
const say = (what: string, result: unknown) => console.log(`${what.padEnd(78)} ${JSON.stringify(result)}`);
try {
  const tab1 = peer.page;
  await tab1.evaluate(PAGE);
  say('service worker registered', await call(tab1, 'registerSw'));
  const tab2 = await peer.context.newPage();
  await tab2.goto(origin);
  await tab2.evaluate(PAGE);

  for (const mode of [undefined, 'readwrite', 'readwrite-unsafe', 'read-only']) {
    const name = `log-${mode ?? 'default'}`;
    console.log(`\n--- worker A holds a sync handle, mode ${mode ?? '(none given)'} ---`);
    const a = (await call(tab1, 'newWorker')) as number;
    const opened = await call(tab1, 'ask', a, { op: 'open', name, mode, key: 'h' });
    say('A: createSyncAccessHandle', opened);
    if ((opened as { error?: string }).error) continue;
    if (mode !== 'read-only') {
      say('A: write chunk 0 + flush', await call(tab1, 'ask', a, { op: 'write', i: 0, flush: true, key: 'h' }));
    }
    say('page main thread: getFile + slice(chunk 0)', await call(tab1, 'readChunk', name, 0));
    say('second tab: getFile + slice(chunk 0)', await call(tab2, 'readChunk', name, 0));
    say('service worker: getFile + slice(chunk 0)', await call(tab1, 'askSw', name, 0));
    const b = (await call(tab1, 'newWorker')) as number;
    say('worker B (same tab): getFile + slice(chunk 0)', await call(tab1, 'ask', b, { op: 'readFile', name, i: 0 }));
    for (const m2 of ['readwrite', 'readwrite-unsafe', 'read-only']) {
      const r = await call(tab1, 'ask', b, { op: 'open', name, mode: m2, key: m2 });
      say(`worker B: second createSyncAccessHandle mode ${m2}`, r);
      if (!(r as { error?: string }).error) await call(tab1, 'ask', b, { op: 'close', key: m2 });
    }
    say('page: createWritable while A holds the handle', await call(tab1, 'writable', name));
    if (mode === 'read-only') {
      await call(tab1, 'ask', a, { op: 'close', key: 'h' });
      continue;
    }
    say('page: take a File snapshot now (size)', await call(tab1, 'takeFile', name));
    say('A: write chunk 1 WITHOUT flush', await call(tab1, 'ask', a, { op: 'write', i: 1, flush: false, key: 'h' }));
    say('page: getFile + slice(chunk 1), unflushed', await call(tab1, 'readChunk', name, 1));
    say('service worker: getFile + slice(chunk 1), unflushed', await call(tab1, 'askSw', name, 1));
    say('page: the older File snapshot, slice(chunk 0)', await call(tab1, 'readStale', 0));
    say('A: write chunk 2 + flush', await call(tab1, 'ask', a, { op: 'write', i: 2, flush: true, key: 'h' }));
    say('second tab: getFile + slice(chunk 2), flushed', await call(tab2, 'readChunk', name, 2));
    say('service worker: getFile + slice(chunk 2), flushed', await call(tab1, 'askSw', name, 2));
    say(
      'A: write chunk 0 again (same bytes, in place) + flush',
      await call(tab1, 'ask', a, { op: 'write', i: 0, flush: true, key: 'h' }),
    );
    say('page: getFile + slice(chunk 0) after an in-place rewrite', await call(tab1, 'readChunk', name, 0));
    say('A: close', await call(tab1, 'ask', a, { op: 'close', key: 'h' }));
  }
} finally {
  await peer.close();
  http.close();
  await fs.rm(dir, { recursive: true, force: true });
}
