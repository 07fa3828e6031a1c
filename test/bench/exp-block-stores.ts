// Experiment: the page's real block stores side by side in one Chromium with an on-disk profile:
// src/store/idb.browser.ts (256 KiB values in IndexedDB, group-committed) against the OPFS
// prototype src/store/opfs.browser.ts (segment files written by a dedicated worker, the index in
// IndexedDB), both bundled by Vite as the app would be. Each kind stores N random 256 KiB blocks as
// a fetch would (each block hashed to its id on arrival, 8 puts in flight) and reads them back
// (4 gets in flight); MB/s and the whole browser's CPU ms per MB, for the writes and the reads.
// hashOnly makes and hashes the blocks and stores nothing: the part of the write figures that is
// not the store's.
// Usage: npx tsx test/bench/exp-block-stores.ts   (env MB=64 ROUNDS=3)
import { createServer } from 'node:http';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { build } from 'vite';
import { tempDir } from '../helpers/processes.js';
import { launchPeer } from './browsers.js';
import { cpuUsed, type CpuSnapshot } from './chromium-processes.js';
import { MiB, median } from './units.js';

const BLOCK = 256 * 1024;
const KINDS = ['hashOnly', 'idb', 'opfs'] as const;
const src = path.resolve(import.meta.dirname, '../../src');

const MAIN = `
import { openIdbBlockStore } from '${src}/store/idb.browser.ts';
import { openOpfsBlockStore } from '${src}/store/opfs.browser.ts';
import { identifyBlock } from '${src}/content/verified.ts';
import { defaultBackend } from '${src}/content/crypto.ts';

const backend = defaultBackend();
const pool = new Uint8Array(4 * 1024 * 1024);
for (let o = 0; o < pool.length; o += 65536) crypto.getRandomValues(pool.subarray(o, o + 65536));
let run = 0;

window.__run = async (kind, n) => {
  const name = 'bench-' + run++;
  const store =
    kind === 'idb' ? await openIdbBlockStore({ name }) :
    kind === 'opfs' ? await openOpfsBlockStore({ name }) :
    // No store: what hashing and making the blocks cost, to subtract from the others.
    { put: async () => {}, get: async () => new Uint8Array(${BLOCK}), close: async () => {} };
  const ids = [];
  let t = performance.now();
  const puts = [];
  for (let i = 0; i < n; i++) {
    // A fresh buffer per block, as one arriving from a peer; the offset walks so no two are equal.
    const at = (i * 4096) % (pool.length - ${BLOCK});
    const { id, bytes } = await identifyBlock(pool.slice(at, at + ${BLOCK}), backend);
    ids.push(id);
    puts.push(store.put(id, bytes));
    if (puts.length >= 8) await puts.shift();
  }
  await Promise.all(puts);
  const write = performance.now() - t;
  await window.__mark();
  t = performance.now();
  const gets = [];
  for (const id of ids) {
    gets.push(store.get(id).then((b) => { if (b?.length !== ${BLOCK}) throw new Error('lost a block'); }));
    if (gets.length >= 4) await gets.shift();
  }
  await Promise.all(gets);
  const read = performance.now() - t;
  await store.close();
  await new Promise((r) => { const q = indexedDB.deleteDatabase(name); q.onsuccess = q.onerror = r; });
  await (await navigator.storage.getDirectory()).removeEntry('mycel-blocks-' + name, { recursive: true }).catch(() => {});
  return { write, read };
};
`;

const total = Number(process.env.MB ?? 64) * MiB;
const rounds = Number(process.env.ROUNDS ?? 3);
const n = Math.round(total / BLOCK);
const dir = await tempDir('exp-block-stores');
const app = path.join(dir, 'app');
await fs.mkdir(app);
await fs.writeFile(path.join(app, 'index.html'), '<!doctype html><script type="module" src="./main.ts"></script>');
await fs.writeFile(path.join(app, 'main.ts'), MAIN);
await build({
  configFile: false,
  logLevel: 'warn',
  root: app,
  build: { outDir: path.join(app, 'dist'), target: 'es2022' },
});
const http = createServer((req, res) => {
  const file = path.join(app, 'dist', req.url === '/' ? 'index.html' : path.normalize(req.url ?? '/'));
  fs.readFile(file).then(
    (body) => {
      res.setHeader('content-type', file.endsWith('.js') ? 'text/javascript' : 'text/html');
      res.end(body);
    },
    () => {
      res.statusCode = 404;
      res.end();
    },
  );
});
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
const peer = await launchPeer(
  path.join(dir, 'profile'),
  `http://localhost:${(http.address() as { port: number }).port}/`,
);
let mid: CpuSnapshot | undefined;
await peer.page.exposeFunction('__mark', async () => {
  mid = await peer.procs.cpu();
});
try {
  await peer.page.waitForFunction(() => '__run' in window);
  const results = new Map(
    KINDS.map((k) => [k, [] as { write: number; read: number; cpuWrite: number; cpuRead: number }[]]),
  );
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? [...KINDS] : [...KINDS].reverse();
    for (const kind of order) {
      const before = await peer.procs.cpu();
      const t = await peer.page.evaluate(
        ([k, count]) =>
          (window as unknown as { __run: (k: string, n: number) => Promise<{ write: number; read: number }> }).__run(
            k,
            count,
          ),
        [kind, n] as const,
      );
      const after = await peer.procs.cpu();
      const ms = (a: CpuSnapshot, b: CpuSnapshot) => [...cpuUsed(a, b).values()].reduce((s, p) => s + p.ms, 0);
      const mb = (n * BLOCK) / 1e6;
      results.get(kind)!.push({
        write: mb / (t.write / 1000),
        read: mb / (t.read / 1000),
        cpuWrite: ms(before, mid!) / mb,
        cpuRead: ms(mid!, after) / mb,
      });
    }
    console.error(`round ${r + 1} done`);
  }
  for (const kind of KINDS) {
    const runs = results.get(kind)!;
    const m = (f: (x: (typeof runs)[number]) => number) => median(runs.map(f));
    console.log(
      `${kind.padEnd(9)} write ${m((x) => x.write).toFixed(0)} MB/s, ${m((x) => x.cpuWrite).toFixed(1)} ms CPU per MB` +
        ` (hashing each block included) · read ${m((x) => x.read).toFixed(0)} MB/s, ${m((x) => x.cpuRead).toFixed(1)} ms CPU per MB`,
    );
  }
} finally {
  await peer.close();
  http.close();
  await fs.rm(dir, { recursive: true, force: true });
}
