// Where the time of a browser transfer goes: CPU per MB by process and thread (from /proc, for the
// processes of the two Chromiums and the seed only), WebCrypto calls per block counted in the pages,
// and optionally a JS CPU profile of the receiving page's main thread (CDP Profiler).
// Usage: npx tsx test/bench/profile-browsers.ts <scenario>   (env MB=128, PROFILE=1, ROOT=<checkout
// whose bin and built web app to run>, OUT=<dir for the .cpuprofile files>)
// - p2p: page to page through the app, no seed, click to saved;
// - seed: a file added in one browser and pushed to a seed, downloaded from the seed in another;
// - seed-pin: the same, but pinned (fetched whole into the block store) rather than downloaded;
// - bare, bare-keep, bare-verify: the bench's bare channels between two pages (bare-page.ts);
// - node-bare, node-bare-keep, node-bare-verify: the bare channel from a Node process to a page.
import type { CDPSession, Page } from '@playwright/test';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { freePort, tempDir } from '../helpers/processes.js';
import { writeGeneratedFile } from '../helpers/files.js';
import type { BareMode } from './bare-page.js';
import { bareFromNode, barePages, connected, downloadToDisk, launchPeer, type Peer } from './browsers.js';
import { printSummary, summarize } from './cpuprofile.js';
import { threadSnapshot, threadUse } from './threads.js';
import { MiB } from './units.js';

const scenario = process.argv[2] ?? 'p2p';
/** bare, bare-keep, bare-verify (and node-…): the mode is the scenario's last word. */
const bareMode = (name: string): BareMode =>
  name.endsWith('-keep') ? 'keep' : name.endsWith('-verify') ? 'verify' : 'discard';
const bytes = Number(process.env.MB ?? 128) * MiB;
const root = path.resolve(process.env.ROOT ?? path.join(import.meta.dirname, '..', '..'));
const profiling = process.env.PROFILE === '1';

/** Counts WebCrypto calls in the page by operation and size (a block is > 64 KiB), and IndexedDB calls. */
const COUNT_CRYPTO = `(() => {
  const counts = (window.__cryptoCounts = {});
  const proto = Object.getPrototypeOf(crypto.subtle);
  for (const op of ['digest', 'encrypt', 'decrypt']) {
    const orig = proto[op];
    proto[op] = function (alg, ...rest) {
      const size = rest[rest.length - 1]?.byteLength ?? 0;
      const key = op + (size > 65536 ? ' (block)' : ' (small)');
      counts[key] = (counts[key] ?? 0) + 1;
      return orig.call(this, alg, ...rest);
    };
  }
  // IndexedDB: transactions by mode, and block puts and gets (on the 'blocks' store), so the split
  // can say how many transactions a block costs and whether blocks are read back.
  const count = (key) => (counts[key] = (counts[key] ?? 0) + 1);
  const transaction = IDBDatabase.prototype.transaction;
  IDBDatabase.prototype.transaction = function (names, mode, ...rest) {
    count('idb transaction ' + (mode ?? 'readonly'));
    return transaction.call(this, names, mode, ...rest);
  };
  for (const op of ['put', 'get']) {
    const orig = IDBObjectStore.prototype[op];
    IDBObjectStore.prototype[op] = function (...args) {
      if (this.name === 'blocks') count('idb ' + op + ' (block)');
      return orig.apply(this, args);
    };
  }
})();`;

function mycel(args: string[]) {
  // With PROFILE=1 and OUT, the seed writes a V8 profile of its main thread there when it stops.
  const prof = profiling && process.env.OUT ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.OUT)}`] : [];
  const child = spawn(process.execPath, [...prof, path.join(root, 'bin', 'mycel.js'), ...args], {
    env: { ...process.env, MYCEL_LOG: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ready = (text: string) =>
    new Promise<void>((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => reject(new Error(`${args[0]}: no "${text}"`)), 30_000);
      child.stderr.on('data', (d) => {
        seen += d;
        if (seen.includes(text)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  return { child, ready };
}

async function pidsOf(peer: Peer): Promise<Map<number, string>> {
  const page = await peer.renderer();
  const out = new Map<number, string>();
  for (const [pid, { type }] of await peer.procs.cpu()) {
    const short = type.replace(/^(network|storage)\.mojom\.(\w+)$/, '$2');
    out.set(pid, pid === page ? 'page renderer' : type === 'renderer' ? 'other renderer' : short);
  }
  return out;
}

async function startProfiler(page: Page): Promise<CDPSession> {
  const session = await page.context().newCDPSession(page);
  await session.send('Profiler.enable');
  await session.send('Profiler.setSamplingInterval', { interval: 500 });
  await session.send('Profiler.start');
  return session;
}

async function stopProfiler(session: CDPSession, name: string, mb: number): Promise<void> {
  const { profile } = await session.send('Profiler.stop');
  if (process.env.OUT) await fs.writeFile(path.join(process.env.OUT, `${name}.cpuprofile`), JSON.stringify(profile));
  console.log(`\n== ${name}: main-thread JS profile`);
  const fns = [
    'onData',
    'push',
    'onFrame',
    'want',
    'put',
    'flush',
    'sendNow',
    'answer',
    'request',
    'pump',
    'report',
    'fetchAll',
    'get',
  ];
  printSummary(summarize(profile as never, fns), mb, 22);
  await session.detach();
}

/** Thread snapshots (and profilers) around a window; prints the split per MB after. */
function instrument(labels: Map<number, string>, pages: { name: string; page: Page }[], refresh: () => Promise<void>) {
  let before: ReturnType<typeof threadSnapshot>;
  const sessions: { name: string; session: CDPSession }[] = [];
  return {
    spawned(pid: number) {
      labels.set(pid, 'node sender');
    },
    async before() {
      before = threadSnapshot(labels.keys());
      if (profiling) for (const { name, page } of pages) sessions.push({ name, session: await startProfiler(page) });
    },
    async after() {
      await refresh();
      const after = threadSnapshot(labels.keys());
      report(before, after, labels);
      for (const { name, session } of sessions.splice(0)) await stopProfiler(session, name, bytes / 1e6);
    },
  };
}

function report(
  before: ReturnType<typeof threadSnapshot>,
  after: ReturnType<typeof threadSnapshot>,
  labels: Map<number, string>,
): void {
  const mb = bytes / 1e6;
  const use = [...threadUse(before, after, (pid) => labels.get(pid))].sort((x, y) => y[1] - x[1]);
  const byProcess = new Map<string, number>();
  for (const [name, ms] of use) {
    const proc = name.split(' · ')[0]!;
    byProcess.set(proc, (byProcess.get(proc) ?? 0) + ms);
  }
  const total = [...byProcess.values()].reduce((a, b) => a + b, 0);
  console.log(`\nCPU by process (ms/MB), total ${(total / mb).toFixed(1)}:`);
  for (const [proc, ms] of [...byProcess].sort((x, y) => y[1] - x[1]))
    console.log(`${(ms / mb).toFixed(2).padStart(8)}  ${proc}`);
  console.log('\nCPU by thread (ms/MB):');
  for (const [name, ms] of use) if (ms / mb >= 0.2) console.log(`${(ms / mb).toFixed(2).padStart(8)}  ${name}`);
}

const dir = await tempDir('profile-browsers');
const peers: Peer[] = [];
const servers: ReturnType<typeof mycel>[] = [];
try {
  const port = await freePort();
  const url = `http://localhost:${port}/`;
  const app = scenario === 'p2p' || scenario.startsWith('seed');
  let seedPid: number | undefined;
  if (scenario.startsWith('seed') || scenario.startsWith('node-')) {
    const server = mycel(['serve', '--port', String(port), '--host', '127.0.0.1', '--data', path.join(dir, 'seed')]);
    servers.push(server);
    await server.ready('"seed ready"');
    seedPid = server.child.pid!;
  } else {
    const server = mycel(['signal', '--port', String(port), '--host', '127.0.0.1']);
    servers.push(server);
    await server.ready('"listening"');
  }
  const labels = new Map<number, string>();
  const label = async (peer: Peer, side: string) => {
    for (const [pid, what] of await pidsOf(peer)) if (!labels.has(pid)) labels.set(pid, `${side} ${what}`);
  };
  if (!app) {
    const receiver = await launchPeer(path.join(dir, 'b'), url);
    peers.push(receiver);
    await label(receiver, 'receiver');
    const pages = [{ name: `${scenario}-receiver`, page: receiver.page }];
    if (scenario.startsWith('node-')) {
      const t = await bareFromNode(
        receiver,
        bytes,
        bareMode(scenario),
        instrument(labels, pages, () => label(receiver, 'receiver')),
      );
      console.log(`${scenario}: ${t.mbps.toFixed(1)} MB/s`);
    } else {
      const sender = await launchPeer(path.join(dir, 'a'), url);
      peers.push(sender);
      await label(sender, 'sender');
      pages.push({ name: `${scenario}-sender`, page: sender.page });
      const t = await barePages(
        sender,
        receiver,
        bytes,
        bareMode(scenario),
        instrument(labels, pages, () => label(receiver, 'receiver')),
      );
      console.log(`${scenario}: ${t.mbps.toFixed(1)} MB/s`);
    }
  } else {
    const file = path.join(dir, 'file.bin');
    await writeGeneratedFile(file, bytes, 21);
    const sender = await launchPeer(path.join(dir, 'a'), url);
    peers.push(sender);
    await sender.page.addInitScript(COUNT_CRYPTO);
    await sender.page.reload();
    await connected(sender.page);
    await sender.page.getByLabel('Add files').setInputFiles(file);
    const link = await sender.page.getByRole('textbox', { name: 'Share link' }).inputValue({ timeout: 600_000 });
    console.log(
      'adding page, WebCrypto and IndexedDB calls:',
      JSON.stringify(await sender.page.evaluate(() => (window as never as { __cryptoCounts: unknown }).__cryptoCounts)),
    );
    if (scenario.startsWith('seed')) {
      await sender.close();
      peers.length = 0;
    }
    const receiver = await launchPeer(path.join(dir, 'b'), url);
    peers.push(receiver);
    await receiver.page.addInitScript(COUNT_CRYPTO);
    await receiver.page.reload();
    await connected(receiver.page);
    await receiver.page.goto(link);
    await receiver.page.getByRole('button', { name: 'Download', exact: true }).waitFor({ timeout: 60_000 });
    const resetCounts = (page: Page) =>
      page.evaluate(() => {
        const counts = (window as never as { __cryptoCounts: Record<string, number> }).__cryptoCounts;
        for (const k of Object.keys(counts)) delete counts[k];
      });
    const countsOf = async (page: Page) =>
      JSON.stringify(await page.evaluate(() => (window as never as { __cryptoCounts: unknown }).__cryptoCounts));
    await resetCounts(receiver.page);
    if (scenario === 'p2p') await resetCounts(sender.page);
    await label(receiver, 'receiver');
    const pages = [{ name: `${scenario}-receiver`, page: receiver.page }];
    if (scenario === 'p2p') {
      await label(sender, 'sender');
      pages.push({ name: `${scenario}-sender`, page: sender.page });
    }
    if (seedPid) labels.set(seedPid, 'seed');
    const hooks = instrument(labels, pages, () => label(receiver, 'receiver'));
    await hooks.before();
    const mb = bytes / 1e6;
    if (scenario === 'seed-pin') {
      const started = performance.now();
      await receiver.page.getByRole('button', { name: 'Pin', exact: true }).click();
      await receiver.page.getByText('Pinned: kept on this device, opens offline.').waitFor({ timeout: 600_000 });
      console.log(`\n${scenario}: ${(mb / ((performance.now() - started) / 1000)).toFixed(1)} MB/s click to pinned`);
    } else {
      const t = await downloadToDisk(receiver.page, bytes);
      console.log(
        `\n${scenario}: ${(mb / t.savedSeconds).toFixed(1)} MB/s click to saved, ${Math.round(t.eventSeconds * 1000)} ms click to the download starting (it streams)`,
      );
    }
    console.log('receiving page, WebCrypto and IndexedDB calls:', await countsOf(receiver.page));
    if (scenario === 'p2p') console.log('sending page, WebCrypto and IndexedDB calls:', await countsOf(sender.page));
    await hooks.after();
  }
} finally {
  for (const peer of peers) await peer.close().catch(() => undefined); // a browser already gone has nothing left to close
  for (const { child } of servers) {
    if (child.exitCode !== null || child.signalCode !== null) continue; // already gone
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill();
    await exited; // its profile is written as it exits
  }
  await fs.rm(dir, { recursive: true, force: true });
}
