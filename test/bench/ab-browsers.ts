// Side by side in one run: the app moving a file page to page (no seed, each page in its own
// Chromium with an on-disk profile, click to saved) for several builds of Mycel (checkouts with
// their own `npm run build`), the order turning round by round, with the bare channel between the
// same two pages after each. So a change is measured against the code it changes at the same load.
// Usage: npx tsx test/bench/ab-browsers.ts <checkout> [<checkout> …]   (env MB=128 ROUNDS=3,
// SCENARIO=p2p|seed|held: seed downloads from a `mycel serve` seed of each build instead; held
// downloads the file the page just added, served by its service worker from its own block store)
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { freePort, tempDir } from '../helpers/processes.js';
import { writeGeneratedFile } from '../helpers/files.js';
import { barePages, connected, downloadToDisk, launchPeer, type Peer } from './browsers.js';
import { cpuUsed } from './chromium-processes.js';
import { CpuSampler } from './proc-cpu.js';
import { MiB, median } from './units.js';

const roots = process.argv.slice(2).map((r) => path.resolve(r));
const bytes = Number(process.env.MB ?? 128) * MiB;
const rounds = Number(process.env.ROUNDS ?? 3);
const scenario = process.env.SCENARIO ?? 'p2p';

function server(root: string, args: string[], ready: string) {
  const child = spawn(process.execPath, [path.join(root, 'bin', 'mycel.js'), ...args], {
    env: { ...process.env, MYCEL_LOG: 'info' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const up = new Promise<void>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${root}: no "${ready}"`)), 30_000);
    child.stderr.on('data', (d) => {
      seen += d;
      if (seen.includes(ready)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { child, up };
}

interface Run {
  mbps: number;
  cpu: number;
  receiverCpu: number;
  /** CPU ms per MB by browser and Chromium process type ('receiver renderer', 'sender gpu-process', …). */
  byProcess?: Record<string, number>;
}

function byType(
  into: Record<string, number>,
  side: string,
  used: Map<number, { type: string; ms: number }>,
  mb: number,
) {
  for (const { type, ms } of used.values()) into[`${side} ${type}`] = (into[`${side} ${type}`] ?? 0) + ms / mb;
}

const cpuMs = (
  before: Map<number, { seconds: number; type: string }>,
  after: Map<number, { seconds: number; type: string }>,
) => [...cpuUsed(before, after).values()].reduce((s, p) => s + p.ms, 0);

async function once(root: string, file: string, dir: string, withBare: boolean): Promise<{ ours: Run; bare?: Run }> {
  const port = await freePort();
  const seed = scenario === 'seed';
  const srv = seed
    ? server(
        root,
        ['serve', '--port', String(port), '--host', '127.0.0.1', '--data', path.join(dir, 'seed')],
        '"seed ready"',
      )
    : server(root, ['signal', '--port', String(port), '--host', '127.0.0.1'], '"listening"');
  const peers: Peer[] = [];
  try {
    await srv.up;
    const url = `http://localhost:${port}/`;
    const a = await launchPeer(path.join(dir, 'a'), url);
    peers.push(a);
    await connected(a.page);
    await a.page.getByLabel('Add files').setInputFiles(file);
    const link = await a.page.getByRole('textbox', { name: 'Share link' }).inputValue({ timeout: 600_000 });
    if (scenario === 'held') {
      await a.page.goto(link);
      const before = await a.procs.cpu();
      const t = await downloadToDisk(a.page, bytes);
      const used = cpuUsed(before, await a.procs.cpu());
      const mb = bytes / 1e6;
      const byProcess: Record<string, number> = {};
      byType(byProcess, 'reader', used, mb);
      const cpu = [...used.values()].reduce((sum, p) => sum + p.ms, 0) / mb;
      return { ours: { mbps: mb / t.savedSeconds, cpu, receiverCpu: cpu, byProcess } };
    }
    const b = await launchPeer(path.join(dir, 'b'), url);
    peers.push(b);
    await connected(b.page);
    await b.page.goto(link);
    await b.page.getByRole('button', { name: 'Download', exact: true }).waitFor({ timeout: 60_000 });
    const seedCpu = seed ? new CpuSampler(srv.child.pid!) : undefined;
    const began = Date.now();
    const before = [await a.procs.cpu(), await b.procs.cpu()];
    const t = await downloadToDisk(b.page, bytes);
    const after = [await a.procs.cpu(), await b.procs.cpu()];
    seedCpu?.stop();
    const mb = bytes / 1e6;
    const receiver = cpuMs(before[1]!, after[1]!);
    const sender = seed ? seedCpu!.between(began, Date.now()) : cpuMs(before[0]!, after[0]!);
    const byProcess: Record<string, number> = {};
    byType(byProcess, 'receiver', cpuUsed(before[1]!, after[1]!), mb);
    if (!seed) byType(byProcess, 'sender', cpuUsed(before[0]!, after[0]!), mb);
    const ours = { mbps: mb / t.savedSeconds, cpu: (receiver + sender) / mb, receiverCpu: receiver / mb, byProcess };
    if (!withBare || seed) return { ours };
    const bare = await barePages(a, b, bytes, 'discard');
    return { ours, bare: { mbps: bare.mbps, cpu: bare.cpu.total, receiverCpu: bare.cpu.receiver } };
  } finally {
    for (const peer of peers) await peer.close().catch(() => undefined); // a browser already gone has nothing left to close
    srv.child.kill();
    await fs.rm(path.join(dir, 'a'), { recursive: true, force: true });
    await fs.rm(path.join(dir, 'b'), { recursive: true, force: true });
    await fs.rm(path.join(dir, 'seed'), { recursive: true, force: true });
  }
}

const dir = await tempDir('ab-browsers');
try {
  const file = path.join(dir, 'file.bin');
  await writeGeneratedFile(file, bytes, 31);
  const results: Run[][] = roots.map(() => []);
  const bare: Run[] = [];
  for (let r = 0; r < rounds; r++) {
    const order = [...roots.keys()];
    for (let k = 0; k < r % order.length; k++) order.push(order.shift()!);
    for (const [n, i] of order.entries()) {
      const { ours, bare: b } = await once(roots[i]!, file, dir, n === 0);
      results[i]!.push(ours);
      if (b) bare.push(b);
    }
    console.error(
      `round ${r + 1}: ${results.map((x) => x.at(-1)!.mbps.toFixed(1)).join(' / ')}${bare.length ? ` / bare ${bare.at(-1)!.mbps.toFixed(1)}` : ''} MB/s`,
    );
  }
  const show = (name: string, runs: Run[]) =>
    console.log(
      `${name.padEnd(16)} ${median(runs.map((x) => x.mbps))
        .toFixed(1)
        .padStart(6)} MB/s  cpu ${median(runs.map((x) => x.cpu))
        .toFixed(1)
        .padStart(6)} ms/MB both ends, ` +
        `${median(runs.map((x) => x.receiverCpu))
          .toFixed(1)
          .padStart(6)} receiving browser  [${runs.map((x) => x.mbps.toFixed(1)).join(', ')}]`,
    );
  roots.forEach((root, i) => {
    show(path.basename(root), results[i]!);
    const kinds = [...new Set(results[i]!.flatMap((x) => Object.keys(x.byProcess ?? {})))].sort();
    const split = kinds.map((k) => `${k} ${median(results[i]!.map((x) => x.byProcess?.[k] ?? 0)).toFixed(1)}`);
    console.log(`${''.padEnd(16)} ms/MB by process: ${split.join(', ')}`);
  });
  if (bare.length) show('bare channel', bare);
} finally {
  await fs.rm(dir, { recursive: true, force: true });
}
