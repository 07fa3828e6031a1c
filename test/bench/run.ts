// `npm run bench`: every benchmark, each figure beside its ceiling measured in the same run.
// Prints a table and writes bench-results.json as {"figures": [{name, value, unit, baseline,
// baselineValue, ratio}], "machine": {cpus, before, after}} (the load around the run: other work on
// the same cores moves every figure). Suites needing Chromium skip (and say so) when it is not
// installed. `npm run bench -- <suite> …` runs only the suites named.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hasChromium } from '../chromium.js';
import { openPair, sealPair } from './pipeline.js';
import { openBenchPage } from './chromium.js';
import { networkBench } from './network.js';
import { browserBench, type CpuSplit } from './browsers.js';
import { relayBench } from './relay.js';
import { GiB, MiB } from './units.js';
import { LEDGER_BENCH_BLOCKS, ledgerBench } from './ledger.js';
import { LOAD_SOCKETS, signalingLoadBench, type LoadFigures } from './signaling-load.js';

interface Figure {
  name: string;
  value: number;
  unit: string;
  baseline: string | null;
  baselineValue: number | null;
  ratio: number | null;
}

const figures: Figure[] = [];
const round = (n: number) => Math.round(n * 100) / 100;
function pair(name: string, unit: string, ours: number, baseline: string, bare: number) {
  figures.push({ name, value: round(ours), unit, baseline, baselineValue: round(bare), ratio: round(ours / bare) });
}
function alone(
  name: string,
  unit: string,
  value: number,
  baseline: string | null = null,
  baselineValue: number | null = null,
) {
  figures.push({
    name,
    value: round(value),
    unit,
    baseline,
    baselineValue: baselineValue === null ? null : round(baselineValue),
    ratio: baselineValue ? round(value / baselineValue) : null,
  });
}

function runChild(script: string, args: string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', script, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${script} exited with ${code}`))));
  });
}

/** How busy the machine is: other work on the same cores moves every figure (ratios less). */
function load(): { loadAverage1m: number; cpuPressureAvg60: number | null } {
  let pressure: number | null = null;
  try {
    pressure = Number(/some avg10=[\d.]+ avg60=([\d.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'))?.[1] ?? NaN);
  } catch {
    // no PSI on this kernel
  }
  return { loadAverage1m: Math.round(os.loadavg()[0]! * 100) / 100, cpuPressureAvg60: pressure };
}
const loadBefore = load();

/**
 * Quick checks and profiling shrink the runs; figures then say so. MYCEL_BENCH_BIG_MIB: the 1 GiB
 * runs; MYCEL_BENCH_TRANSFER_MIB, MYCEL_BENCH_ROUNDS: the browsers' page to page transfers.
 */
const fromEnv = (name: string) => (process.env[name] ? Number(process.env[name]) : undefined);
const mibFromEnv = (name: string) => {
  const n = fromEnv(name);
  return n === undefined ? undefined : n * MiB;
};
const bigBytes = mibFromEnv('MYCEL_BENCH_BIG_MIB');
const transferBytes = mibFromEnv('MYCEL_BENCH_TRANSFER_MIB');
const rounds = fromEnv('MYCEL_BENCH_ROUNDS');

const only = process.argv.slice(2);
const wanted = (suite: string) => only.length === 0 || only.includes(suite);
const here = import.meta.dirname;

if (wanted('pipeline')) {
  console.error('pipeline: Node, 64 MiB x 5 rounds each way…');
  const seal = await sealPair();
  pair('node: encrypt+hash (sealFile)', 'MB/s', seal.ours, 'bare WebCrypto AES-GCM + SHA-256, 4 in flight', seal.bare);
  const open = await openPair();
  pair(
    'node: decrypt+verify (readFile)',
    'MB/s',
    open.ours,
    'bare WebCrypto SHA-256 + AES-GCM decrypt, 4 in flight',
    open.bare,
  );
}

if (wanted('memory')) {
  console.error('memory: 1 GiB through seal → disk store → read, in its own process…');
  const report = JSON.parse(await runChild(path.join(here, 'memory-pipeline.ts')));
  alone(
    'node: peak RSS sealing 1 GiB into the disk store',
    'MB',
    report.seal.peakMB,
    'RSS before',
    report.seal.baselineMB,
  );
  alone(
    'node: peak RSS reading 1 GiB back (verify+decrypt)',
    'MB',
    report.read.peakMB,
    'RSS before',
    report.read.baselineMB,
  );
}

if (wanted('zip')) {
  console.error(
    'zip: 200 MiB (50 files) through client-zip alone, then as a collection from the disk store, each in its own process…',
  );
  for (const mode of ['alone', 'collection'] as const) {
    const r = JSON.parse(await runChild(path.join(here, 'zip-memory.ts'), [mode, '200']));
    const what = mode === 'alone' ? 'client-zip alone, generated entries' : 'a collection zipped from the disk store';
    alone(`node: peak RSS zipping 200 MiB, ${what}`, 'MB', r.peakMB, 'RSS before the zip', r.baselineMB);
  }
}

if (wanted('signaling')) {
  console.error(
    'signaling: heap per announced topic entry, 250 sockets x 1,000 topics, each layout in its own process…',
  );
  for (const [mode, sockets, per, what] of [
    ['distinct', 250, 1000, 'one holder per topic'],
    ['pairs', 250, 1000, 'two holders per topic (worst layout)'],
    ['shared', 250, 1000, '250 holders per topic'],
    ['trusted', 1, 200000, 'one trusted socket, 200,000 topics'],
  ] as const) {
    const r = JSON.parse(await runChild(path.join(here, 'signaling-memory.ts'), [mode, String(sockets), String(per)]));
    alone(`signaling: heap per topic entry, ${what}`, 'B', r.bytesPerEntry);
    alone(
      `signaling: heap after those sockets left, ${what}`,
      'MB',
      r.heapAfterMB,
      'heap before they announced',
      r.heapBeforeMB,
    );
  }
}

if (wanted('signaling-load')) {
  const n = LOAD_SOCKETS.toLocaleString('en');
  console.error(`signaling-load: ${n} sockets on one in-memory process, then over two processes on Redis…`);
  const { memory, redis } = await signalingLoadBench();
  for (const [what, pick] of [
    ['connect and proven hello', (f: LoadFigures) => f.connect.perSecond],
    ['announce (and its own lookup)', (f: LoadFigures) => f.announce.perSecond],
    ['lookup', (f: LoadFigures) => f.lookup.perSecond],
    ['relay within a process', (f: LoadFigures) => f.relayWithin.perSecond],
  ] as const)
    alone(
      `signaling-load: ${what}, ${n} sockets, 2 processes on Redis`,
      '/s',
      pick(redis),
      'one process in memory',
      pick(memory),
    );
  alone('signaling-load: relay across processes (Redis)', '/s', redis.relayAcross!.perSecond);
  for (const q of ['p50Ms', 'p99Ms'] as const) {
    alone(
      `signaling-load: relay latency ${q.slice(0, 3)} within a process, Redis`,
      'ms',
      redis.relayWithin[q],
      'in memory',
      memory.relayWithin[q],
    );
    alone(
      `signaling-load: relay latency ${q.slice(0, 3)} across processes, Redis`,
      'ms',
      redis.relayAcross![q],
      'in memory, one process',
      memory.relayWithin[q],
    );
  }
  alone(
    'signaling-load: resident memory per 1,000 sockets, Redis (both processes)',
    'MB',
    redis.rssPer1000SocketsMB,
    'one process in memory',
    memory.rssPer1000SocketsMB,
  );
}

if (wanted('ledger')) {
  const n = LEDGER_BENCH_BLOCKS.toLocaleString('en');
  console.error(`ledger: a seed's ledger with ${n} blocks, LMDB beside the in-memory one, each in its own process…`);
  const f = await ledgerBench();
  alone(
    `ledger: seed start-up with ${n} blocks (LMDB)`,
    'ms',
    f.lmdb.openMs,
    'in-memory load, no walk',
    f.memory.loadMs,
  );
  alone(`ledger: seed start-up walk per block file (before the ledger: ~× ${n})`, 'µs', f.walk.perFileUs);
  alone(`ledger: RSS with ${n} blocks, LMDB after use`, 'MB', f.lmdb.rssMB, 'in-memory Ledger', f.memory.rssMB);
  alone(
    `ledger: anonymous resident memory with ${n} blocks, LMDB after use`,
    'MB',
    f.lmdb.afterUse.anonMB,
    'in-memory Ledger',
    f.memory.afterUse.anonMB,
  );
  const t = f.throughput;
  alone(
    'ledger: put 256 KiB blocks (synced), LMDB store',
    'MB/s',
    t.lmdbLedger.putMBps,
    'store before the ledger',
    t.memoryLedger.putMBps,
  );
  alone(
    'ledger: get 256 KiB blocks, LMDB store',
    'MB/s',
    t.lmdbLedger.getMBps,
    'store before the ledger',
    t.memoryLedger.getMBps,
  );
}

if (wanted('chromium')) {
  if (!hasChromium) {
    console.error('chromium: skipped, no Chromium installed (apt-get install -y chromium)');
  } else {
    console.error('pipeline: Chromium, 64 MiB x 5 rounds each way…');
    const bench = await openBenchPage();
    try {
      const seal = await bench.page.evaluate(() => window.mycelBench.sealPair());
      pair(
        'chromium: encrypt+hash (sealFile)',
        'MB/s',
        seal.ours,
        'bare WebCrypto AES-GCM + SHA-256, 4 in flight',
        seal.bare,
      );
      const open = await bench.page.evaluate(() => window.mycelBench.openPair());
      pair(
        'chromium: decrypt+verify (readFile)',
        'MB/s',
        open.ours,
        'bare WebCrypto SHA-256 + AES-GCM decrypt, 4 in flight',
        open.bare,
      );
    } finally {
      await bench.close();
    }
  }
}

if (wanted('network')) {
  console.error(
    'network: mycel get vs a bare data channel, discarding and writing a file (256 MiB x 3), then put/get of 1 GiB for RSS…',
  );
  const net = await networkBench({ bigBytes });
  pair(
    'node→node: get transfer (first to last byte)',
    'MB/s',
    net.getMBps,
    'bare RTCDataChannel between two processes, same bytes',
    net.bareMBps,
  );
  pair(
    'node→node: get transfer, vs a channel that writes what arrives to a file',
    'MB/s',
    net.getMBps,
    'bare RTCDataChannel between two processes, receiver writes a file (as a get must)',
    net.bareKeepMBps,
  );
  alone(
    'node→node: get time to first byte, from reaching the signaling server',
    'ms',
    net.getTtfbMs,
    'bare channel: signaling to first byte',
    net.bareTtfbMs,
  );
  const bareCpu = 'bare RTCDataChannel, same bytes, same window';
  alone(
    'node→node: get CPU per MB, both ends (first to last byte)',
    'ms/MB',
    net.getCpu.total,
    bareCpu,
    net.bareCpu.total,
  );
  alone('node→node: get CPU per MB, receiver (mycel get)', 'ms/MB', net.getCpu.receiver, bareCpu, net.bareCpu.receiver);
  alone('node→node: get CPU per MB, sender (seed)', 'ms/MB', net.getCpu.sender, bareCpu, net.bareCpu.sender);
  alone(
    'node→node: CPU per MB, both ends, of a bare channel that writes a file',
    'ms/MB',
    net.bareKeepCpu.total,
    bareCpu,
    net.bareCpu.total,
  );
  const big = `${Math.round(net.bigBytes / MiB)} MiB`;
  alone(`node: put of ${big} to the seed`, 'MB/s', net.putMBps);
  alone(`node: peak RSS of put, ${big} file`, 'MB', net.putPeakRssMB, 'budget', 200);
  alone(`node: peak RSS of get, ${big} file`, 'MB', net.getPeakRssMB, 'budget', 200);
}

if (wanted('relay')) {
  console.error('relay: get of 64 MiB x 3 across NATs in namespaces, through coturn and direct…');
  const r = await relayBench();
  if (!r) console.error('relay: skipped, needs root and ip netns');
  else {
    pair(
      'node→node across NATs: get through the TURN relay (coturn)',
      'MB/s',
      r.relayMBps,
      'the same get direct across cone NATs (srflx), same run',
      r.directMBps,
    );
    pair(
      'node→node across NATs: time to first byte through the relay',
      'ms',
      r.relayTtfbMs,
      'direct across cone NATs, same run',
      r.directTtfbMs,
    );
  }
}

if (wanted('browsers')) {
  if (!hasChromium) {
    console.error('browsers: skipped, no Chromium installed (apt-get install -y chromium)');
  } else {
    const mb = (bytes: number) => `${Math.round(bytes / MiB)} MiB`;
    console.error(
      `browsers: page → page through the app vs a bare data channel (${mb(transferBytes ?? 128 * MiB)} x ${rounds ?? 3}), ` +
        `then ${mb(bigBytes ?? GiB)} added and downloaded, then a video viewed…`,
    );
    const b = await browserBench({ addBytes: bigBytes, transferBytes, rounds });
    const bare = 'bare RTCDataChannel between the same two pages, received and discarded (ceiling)';
    const keep = 'bare RTCDataChannel between the same two pages, receiver keeps in IndexedDB';
    const p2p = `chromium→chromium, ${mb(b.transferBytes)}, no seed`;
    pair(`${p2p}: app download (click to saved)`, 'MB/s', b.app.mbps, bare, b.bare.mbps);
    pair(`${p2p}: app download (click to saved), vs a channel that keeps`, 'MB/s', b.app.mbps, keep, b.bareKeep.mbps);
    const verify = 'bare RTCDataChannel between the same two pages, receiver hashes and AES-GCMs, keeps nothing';
    pair(`${p2p}: ${verify}`, 'MB/s', b.bareVerify.mbps, bare, b.bare.mbps);
    alone(`${p2p}: app download start (click to the download event; it streams)`, 'ms', b.appStartMs);
    cpuFigures(p2p, b.app.cpu, b.bare.cpu, bare, 'sending browser');
    cpuFigures(`${p2p}, keeping channel`, b.bareKeep.cpu, b.bare.cpu, bare, 'sending browser');
    alone(`chromium: add of ${mb(b.addBytes)} (encrypt, IndexedDB, push to seed)`, 'MB/s', b.addMBps);
    const seedBare = 'bare RTCDataChannel from a Node process to the same page, discarded (ceiling)';
    const seedKeep = 'bare RTCDataChannel from a Node process to the same page, kept in IndexedDB';
    const dl = `chromium: download of ${mb(b.addBytes)} from the seed`;
    pair(`${dl} (click to saved)`, 'MB/s', b.download.mbps, seedBare, b.seedBare.mbps);
    pair(`${dl} (click to saved), vs a channel that keeps`, 'MB/s', b.download.mbps, seedKeep, b.seedBareKeep.mbps);
    pair(
      `${dl}: bare RTCDataChannel from a Node process to the same page, hashed and AES-GCMed, kept nowhere`,
      'MB/s',
      b.seedBareVerify.mbps,
      seedBare,
      b.seedBare.mbps,
    );
    alone(`${dl}: download start (click to the download event; it streams)`, 'ms', b.downloadStartMs);
    cpuFigures(dl, b.download.cpu, b.seedBare.cpu, seedBare, 'seed');
    for (const [what, m] of [
      ['add', b.add],
      ['download (streamed, click to saved)', b.get],
    ] as const) {
      alone(
        `chromium: page renderer peak RSS during ${mb(b.addBytes)} ${what}`,
        'MB',
        m.peakMB,
        'the same renderer before',
        m.beforeMB,
      );
      alone(
        `chromium: renderer peak RSS during ${mb(b.addBytes)} ${what}, whole vs first half`,
        'MB',
        m.peakMB,
        'peak over the first half',
        m.halfwayPeakMB,
      );
      alone(`chromium: page JS heap peak during ${mb(b.addBytes)} ${what}`, 'MB', m.jsHeapPeakMB);
      alone(
        `chromium: other renderers of that browser (service worker) peak RSS during ${mb(b.addBytes)} ${what}`,
        'MB',
        m.otherRenderersPeakMB,
        'the same before',
        m.otherRenderersBeforeMB,
      );
    }
    alone(
      `chromium: View to first video frame (${Math.round(b.video.bytes / 1e6)} MB WebM on the seed, not on the device)`,
      'ms',
      b.video.firstFrameMs,
      'fetching the same video whole (Pin), another fresh browser',
      b.video.wholeMs,
    );
  }
}

/** CPU per MB of a transfer beside the same figure for its bare channel: both ends, then by process. */
function cpuFigures(what: string, ours: CpuSplit, bare: CpuSplit, baseline: string, senderName: string) {
  const parts: [keyof CpuSplit, string][] = [
    ['total', 'both ends'],
    ['sender', senderName],
    ['receiver', 'receiving browser, all processes'],
    ['receiverPage', "receiving page's renderer"],
    ['receiverOtherRenderers', 'receiving browser, other renderers (service worker)'],
    ['receiverNetwork', 'receiving browser, network service'],
    ['receiverStorage', 'receiving browser, storage service'],
    ['receiverBrowser', 'receiving browser, browser process (IndexedDB backend, downloads)'],
    ['receiverOther', 'receiving browser, GPU and other'],
  ];
  for (const [key, name] of parts) alone(`${what}: CPU per MB, ${name}`, 'ms/MB', ours[key], baseline, bare[key]);
}

const width = Math.max(...figures.map((f) => f.name.length));
console.log(`${'figure'.padEnd(width)}  ${'value'.padStart(9)}  unit   ${'baseline'.padStart(9)}  ratio  baseline is`);
for (const f of figures) {
  console.log(
    `${f.name.padEnd(width)}  ${String(f.value).padStart(9)}  ${f.unit.padEnd(5)}  ${String(f.baselineValue ?? '-').padStart(9)}  ${String(f.ratio ?? '-').padStart(5)}  ${f.baseline ?? ''}`,
  );
}
const machine = { cpus: os.cpus().length, before: loadBefore, after: load() };
console.log(
  `\nmachine: ${machine.cpus} cores; load average (1 min) ${machine.before.loadAverage1m} before, ${machine.after.loadAverage1m} after`,
);
const json = JSON.stringify({ figures, machine }, null, 2);
writeFileSync('bench-results.json', json + '\n');
console.log(`\n${json}`);
console.error('wrote bench-results.json');
