// Seed ledger figures: start-up time and resident memory with 1,000,000 blocks in the LMDB ledger,
// beside the in-memory Ledger loading the same blocks (what the store before the ledger did after
// its walk, test/helpers/legacy-fs-store.ts), what that walk itself costs per block file, and put/get
// throughput through both stores. Each measurement runs in a fresh process of
// its own (this file, with a role as its first argument) so one's memory does not colour another's.
//
//   npx tsx test/bench/ledger.ts [count]     prints the figures and a JSON line
//   import { ledgerBench } from './ledger.js' for run.ts
//
// The database is generated straight into LMDB through the ledger's import (as a first open of a
// big existing folder would fill it), in a temporary folder removed at the end. 10% of the blocks
// are pinned, in 1,000 sets, and are the least recently used: the worst case for eviction planning.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ledger } from '../../src/store/ledger.js';
import { LmdbLedger, type FoundBlock } from '../../src/store/lmdb-ledger.node.js';
import { openFsBlockStore } from '../../src/store/fs.node.js';
import { openLegacyFsBlockStore } from '../helpers/legacy-fs-store.js';
import type { BlockStore } from '../../src/store/block-store.js';

export const LEDGER_BENCH_BLOCKS = 1_000_000;
/** Real block files written to time today's start-up walk (per file; it grows linearly). */
const WALK_FILES = 20_000;
const PIN_SETS = 1_000;
const PINNED_FRACTION = 0.1;
const BLOCK_SIZE = 1_024;
const PROBES = 10_000;
/** Blocks put and read back for the throughput figures, and how many at once (as a fetch does). */
const THROUGHPUT_BLOCKS = 512;
const THROUGHPUT_BLOCK_BYTES = 256 * 1024;
const IN_FLIGHT = 8;

export interface LedgerFigures {
  count: number;
  generateMs: number;
  databaseMB: number;
  lmdb: {
    openMs: number;
    rssBeforeMB: number;
    rssMB: number;
    probeUs: number;
    planMs: number;
    before: { anonMB: number; fileMB: number };
    afterOpen: { anonMB: number; fileMB: number };
    afterUse: { anonMB: number; fileMB: number };
  };
  memory: {
    loadMs: number;
    rssBeforeMB: number;
    rssMB: number;
    probeUs: number;
    planMs: number;
    before: { anonMB: number; fileMB: number };
    afterUse: { anonMB: number; fileMB: number };
  };
  walk: { files: number; openMs: number; perFileUs: number };
  /** Put and get through the whole store (256 KiB blocks, synced), today's and the LMDB one. */
  throughput: { memoryLedger: { putMBps: number; getMBps: number }; lmdbLedger: { putMBps: number; getMBps: number } };
}

function blockIdOf(i: number): string {
  return createHash('sha256').update(`block ${i}`).digest('hex');
}

/** The blocks a seed would find: the pinned tenth first (oldest), then the rest. */
function* found(count: number): Generator<FoundBlock> {
  const base = Date.now() - count;
  for (let i = 0; i < count; i++) yield { id: blockIdOf(i), size: BLOCK_SIZE, used: base + i };
}

function pinSets(count: number): [string, string[]][] {
  const pinned = Math.floor(count * PINNED_FRACTION);
  const sets: [string, string[]][] = [];
  const per = Math.ceil(pinned / PIN_SETS);
  for (let s = 0; s < PIN_SETS; s++) {
    const ids: string[] = [];
    for (let i = s * per; i < Math.min(pinned, (s + 1) * per); i++) ids.push(blockIdOf(i));
    sets.push([`file:${s}`, ids]);
  }
  return sets;
}

function rssMB(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage.rss() / 1e6;
}

/**
 * Resident memory split as Linux counts it: anonymous (heap and other private memory, what the
 * ledger costs the process) and file-backed (LMDB's map: page cache the kernel may drop at will).
 */
async function residentMB(): Promise<{ anonMB: number; fileMB: number }> {
  (globalThis as { gc?: () => void }).gc?.();
  const status = await fs.readFile('/proc/self/status', 'utf8');
  const kB = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  return { anonMB: kB('RssAnon') / 1e3, fileMB: (kB('RssFile') + kB('RssShmem')) / 1e3 };
}

/** Mean microseconds of has() on ids spread over the whole account. */
function probe(has: (id: string) => boolean, count: number): number {
  const ids = Array.from({ length: PROBES }, (_, i) => blockIdOf(Math.floor((i * count) / PROBES)));
  const started = performance.now();
  let hits = 0;
  for (const id of ids) if (has(id)) hits++;
  if (hits !== PROBES) throw new Error(`only ${hits} of ${PROBES} probes found`);
  return ((performance.now() - started) * 1000) / PROBES;
}

async function generate(dir: string, count: number): Promise<void> {
  const ledger = await LmdbLedger.open({ path: dir, durable: false });
  await ledger.importBlocks(found(count));
  for (const [i, [name, ids]] of pinSets(count).entries()) {
    ledger.pin(name, ids);
    if (i % 100 === 99) await ledger.durable();
  }
  ledger.markReady();
  await ledger.close();
}

async function openLmdb(dir: string, count: number) {
  const rssBeforeMB = rssMB();
  const before = await residentMB();
  const started = performance.now();
  const ledger = await LmdbLedger.open({ path: dir, quota: count * BLOCK_SIZE });
  await ledger.reconcile(async () => undefined);
  const openMs = performance.now() - started;
  const afterOpen = await residentMB();
  if (ledger.usage().blocks !== count)
    throw new Error(`the ledger holds ${ledger.usage().blocks} blocks, not ${count}`);
  const probeUs = probe((id) => ledger.has(id), count);
  const planStarted = performance.now();
  const victims = ledger.planPut(blockIdOf(count + 1), BLOCK_SIZE);
  const planMs = performance.now() - planStarted;
  if (victims.length !== 1) throw new Error(`planned ${victims.length} victims`);
  const rss = rssMB();
  const afterUse = await residentMB();
  await ledger.close();
  return { openMs, rssBeforeMB, rssMB: rss, probeUs, planMs, before, afterOpen, afterUse };
}

async function loadMemory(count: number) {
  const rssBeforeMB = rssMB();
  const before = await residentMB();
  const started = performance.now();
  // What the store before the ledger did once its walk has listed the blocks: sort by last use, add, pin.
  const blocks = [...found(count)];
  blocks.sort((x, y) => x.used - y.used);
  const ledger = new Ledger(count * BLOCK_SIZE);
  for (const [name, ids] of pinSets(count)) ledger.pin(name, ids);
  for (const block of blocks) ledger.add(block.id, block.size);
  blocks.length = 0;
  const loadMs = performance.now() - started;
  const probeUs = probe((id) => ledger.has(id), count);
  const planStarted = performance.now();
  const victims = ledger.planPut(blockIdOf(count + 1), BLOCK_SIZE);
  const planMs = performance.now() - planStarted;
  if (victims.length !== 1) throw new Error(`planned ${victims.length} victims`);
  const rss = rssMB();
  const afterUse = await residentMB();
  return { loadMs, rssBeforeMB, rssMB: rss, probeUs, planMs, before, afterUse, held: ledger.usage().blocks };
}

async function walk(dir: string, files: number) {
  const store = await openLegacyFsBlockStore({ dir, durable: false });
  const bytes = new Uint8Array(BLOCK_SIZE);
  for (let i = 0; i < files; i++) {
    bytes[0] = i & 0xff;
    bytes[1] = (i >> 8) & 0xff;
    bytes[2] = (i >> 16) & 0xff;
    await store.put(createHash('sha256').update(bytes).digest('hex'), bytes);
  }
  await store.close();
  const started = performance.now();
  const reopened = await openLegacyFsBlockStore({ dir });
  const openMs = performance.now() - started;
  if ((await reopened.usage()).blocks !== files) throw new Error('the walk missed blocks');
  await reopened.close();
  return { files, openMs, perFileUs: (openMs * 1000) / files };
}

async function throughput(dir: string, kind: 'memory' | 'lmdb') {
  const store: BlockStore = kind === 'lmdb' ? await openFsBlockStore({ dir }) : await openLegacyFsBlockStore({ dir });
  const blocks = Array.from({ length: THROUGHPUT_BLOCKS }, (_, i) => {
    const bytes = new Uint8Array(THROUGHPUT_BLOCK_BYTES);
    for (let j = 0; j < bytes.length; j += 4096) bytes[j] = (i * 31 + j) & 0xff;
    new DataView(bytes.buffer).setUint32(0, i);
    return { id: createHash('sha256').update(bytes).digest('hex'), bytes };
  });
  const pool = async (work: (i: number) => Promise<unknown>) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < blocks.length) await work(next++);
      }),
    );
  };
  const MB = (THROUGHPUT_BLOCKS * THROUGHPUT_BLOCK_BYTES) / 1e6;
  let started = performance.now();
  await pool((i) => store.put(blocks[i]!.id, blocks[i]!.bytes));
  const putMBps = MB / ((performance.now() - started) / 1000);
  started = performance.now();
  await pool(async (i) => {
    if (!(await store.get(blocks[i]!.id))) throw new Error('a block went missing');
  });
  const getMBps = MB / ((performance.now() - started) / 1000);
  await store.close();
  return { putMBps, getMBps };
}

function runRole(args: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', import.meta.filename, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`ledger bench ${args[0]} exited with ${code}`)),
    );
  });
}

async function folderMB(dir: string): Promise<number> {
  let bytes = 0;
  for (const name of await fs.readdir(dir)) bytes += (await fs.stat(path.join(dir, name))).size;
  return bytes / 1e6;
}

/** Every figure, each measured in a process of its own. */
export async function ledgerBench(count = LEDGER_BENCH_BLOCKS): Promise<LedgerFigures> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'mycel-ledger-bench-'));
  try {
    const db = path.join(root, 'ledger');
    const generateStarted = performance.now();
    await runRole(['generate', db, String(count)]);
    const generateMs = performance.now() - generateStarted;
    const lmdb = (await runRole(['open-lmdb', db, String(count)])) as LedgerFigures['lmdb'];
    const memory = (await runRole(['memory', String(count)])) as LedgerFigures['memory'];
    const walked = (await runRole(['walk', path.join(root, 'walk'), String(WALK_FILES)])) as LedgerFigures['walk'];
    const memoryLedger = (await runRole([
      'throughput',
      path.join(root, 'put-memory'),
      'memory',
    ])) as LedgerFigures['throughput']['memoryLedger'];
    const lmdbLedger = (await runRole([
      'throughput',
      path.join(root, 'put-lmdb'),
      'lmdb',
    ])) as LedgerFigures['throughput']['lmdbLedger'];
    return {
      count,
      generateMs,
      databaseMB: await folderMB(db),
      lmdb,
      memory,
      walk: walked,
      throughput: { memoryLedger, lmdbLedger },
    };
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}

const role = process.argv[2];
if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  const print = (value: unknown) => process.stdout.write(JSON.stringify(value) + '\n');
  if (role === 'generate') await generate(process.argv[3]!, Number(process.argv[4]));
  if (role === 'generate') print({});
  else if (role === 'open-lmdb') print(await openLmdb(process.argv[3]!, Number(process.argv[4])));
  else if (role === 'memory') print(await loadMemory(Number(process.argv[3])));
  else if (role === 'walk') print(await walk(process.argv[3]!, Number(process.argv[4])));
  else if (role === 'throughput') print(await throughput(process.argv[3]!, process.argv[4] as 'memory' | 'lmdb'));
  else {
    const count = role ? Number(role) : LEDGER_BENCH_BLOCKS;
    const f = await ledgerBench(count);
    const n = f.count.toLocaleString('en');
    console.error(`seed ledger with ${n} blocks (${PINNED_FRACTION * 100}% pinned, oldest):`);
    console.error(
      `  generate into LMDB (import path)     ${(f.generateMs / 1000).toFixed(1)} s, database ${f.databaseMB.toFixed(0)} MB on disk`,
    );
    const mb = (m: { anonMB: number; fileMB: number }) =>
      `anon ${m.anonMB.toFixed(0)} MB + file ${m.fileMB.toFixed(0)} MB`;
    console.error(`  LMDB ledger: start-up                ${f.lmdb.openMs.toFixed(1)} ms`);
    console.error(`    resident before open / after open / after ${PROBES.toLocaleString('en')} lookups and a plan:`);
    console.error(
      `      ${mb(f.lmdb.before)} / ${mb(f.lmdb.afterOpen)} / ${mb(f.lmdb.afterUse)} (RSS ${f.lmdb.rssMB.toFixed(0)} MB)`,
    );
    console.error(`  in-memory Ledger: load (no walk)     ${f.memory.loadMs.toFixed(0)} ms`);
    console.error(
      `    resident before / after:           ${mb(f.memory.before)} / ${mb(f.memory.afterUse)} (RSS ${f.memory.rssMB.toFixed(0)} MB)`,
    );
    console.error(
      `  has() per call                       LMDB ${f.lmdb.probeUs.toFixed(2)} µs, memory ${f.memory.probeUs.toFixed(2)} µs`,
    );
    console.error(
      `  first eviction plan (1 victim)       LMDB ${f.lmdb.planMs.toFixed(2)} ms, memory ${f.memory.planMs.toFixed(2)} ms`,
    );
    console.error(
      `  today's fs-store open walk           ${f.walk.openMs.toFixed(0)} ms for ${f.walk.files.toLocaleString('en')} files = ` +
        `${f.walk.perFileUs.toFixed(1)} µs per file (~${((f.walk.perFileUs * f.count) / 1e6).toFixed(0)} s for ${n}, warm cache)`,
    );
    const t = f.throughput;
    console.error(
      `  put / get, ${THROUGHPUT_BLOCKS} × 256 KiB synced    today ${t.memoryLedger.putMBps.toFixed(0)} / ${t.memoryLedger.getMBps.toFixed(0)} MB/s, ` +
        `LMDB ledger ${t.lmdbLedger.putMBps.toFixed(0)} / ${t.lmdbLedger.getMBps.toFixed(0)} MB/s`,
    );
    print(f);
  }
}
