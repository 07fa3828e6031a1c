// `npm run bench`: every benchmark, each figure beside its ceiling measured in the same run.
// Prints a table and writes bench-results.json as {"figures": [{name, value, unit, baseline,
// baselineValue, ratio}]}. Suites needing Chromium skip (and say so) when it is not installed.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { hasChromium } from '../chromium.js';
import { openPair, sealPair } from './pipeline.js';
import { openBenchPage } from './chromium.js';
import { networkBench } from './network.js';
import { browserBench } from './browsers.js';

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
  console.error('network: mycel get vs a bare data channel (256 MiB x 3), then put/get of 1 GiB for RSS…');
  const net = await networkBench();
  pair(
    'node→node: get transfer (first to last byte)',
    'MB/s',
    net.getMBps,
    'bare RTCDataChannel between two processes, same bytes',
    net.bareMBps,
  );
  alone(
    'node→node: get time to first byte, from reaching the signaling server',
    'ms',
    net.getTtfbMs,
    'bare channel: signaling to first byte',
    net.bareTtfbMs,
  );
  alone('node: put of 1 GiB to the seed', 'MB/s', net.putMBps);
  alone('node: peak RSS of put, 1 GiB file', 'MB', net.putPeakRssMB, 'budget', 200);
  alone('node: peak RSS of get, 1 GiB file', 'MB', net.getPeakRssMB, 'budget', 200);
}

if (wanted('browsers')) {
  if (!hasChromium) {
    console.error('browsers: skipped, no Chromium installed (apt-get install -y chromium)');
  } else {
    console.error(
      'browsers: page → page through the app vs a bare data channel (128 MiB x 3), then 1 GiB added and downloaded…',
    );
    const b = await browserBench();
    pair(
      'chromium→chromium: app download, no seed (click to saved)',
      'MB/s',
      b.appMBps,
      'bare RTCDataChannel between the same two pages',
      b.bareMBps,
    );
    alone('chromium: add of 1 GiB (encrypt, IndexedDB, push to seed)', 'MB/s', b.addMBps);
    alone('chromium: download of 1 GiB from the seed (click to saved)', 'MB/s', b.getMBps);
    alone('chromium: fetching 1 GiB from the seed into IndexedDB', 'MB/s', b.fetchMBps);
    for (const [what, m] of [
      ['add', b.add],
      ['download (fetch phase)', b.get],
      ['download (stream-to-disk phase)', b.stream],
    ] as const) {
      alone(
        `chromium: page renderer peak RSS during 1 GiB ${what}`,
        'MB',
        m.peakMB,
        'the same renderer before',
        m.beforeMB,
      );
      alone(
        `chromium: renderer peak RSS during 1 GiB ${what}, whole vs first half`,
        'MB',
        m.peakMB,
        'peak over the first half',
        m.halfwayPeakMB,
      );
      alone(`chromium: page JS heap peak during 1 GiB ${what}`, 'MB', m.jsHeapPeakMB);
    }
  }
}

const width = Math.max(...figures.map((f) => f.name.length));
console.log(`${'figure'.padEnd(width)}  ${'value'.padStart(9)}  unit   ${'baseline'.padStart(9)}  ratio  baseline is`);
for (const f of figures) {
  console.log(
    `${f.name.padEnd(width)}  ${String(f.value).padStart(9)}  ${f.unit.padEnd(5)}  ${String(f.baselineValue ?? '-').padStart(9)}  ${String(f.ratio ?? '-').padStart(5)}  ${f.baseline ?? ''}`,
  );
}
const json = JSON.stringify({ figures }, null, 2);
writeFileSync('bench-results.json', json + '\n');
console.log(`\n${json}`);
console.error('wrote bench-results.json');
