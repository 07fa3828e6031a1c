// Where the time of a Node-to-Node `mycel get` goes: the seed is restarted so its figures hold only
// this get; then CPU per MB by process and thread (/proc), WebCrypto calls per block (crypto-probe),
// and, on request, a perf profile of both processes split by kind of work (perf-split.ts) and V8
// CPU profiles of their main threads (cpuprofile.ts).
// Usage: npx tsx test/bench/profile-node.ts   (env MB=256, PERF=1, PROFILE=1, OUT=<dir to keep files>)
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { BIN, runMycel, startServe, tempDir } from '../helpers/processes.js';
import { writeGeneratedFile } from '../helpers/files.js';
import { printSummary, summarize } from './cpuprofile.js';
import { split } from './perf-split.js';
import { sampleThreads, threadUse } from './threads.js';
import { MiB } from './units.js';

const bytes = Number(process.env.MB ?? 256) * MiB;
const perf = process.env.PERF === '1';
const profile = process.env.PROFILE === '1';
const PERF_HZ = 499;
const here = import.meta.dirname;
const dir = await tempDir('profile-node');
const out = process.env.OUT ?? dir;
const probe = path.join(here, 'crypto-probe.mjs');
/** Processes started here, whose perf maps are removed at the end. */
const pids: number[] = [];

/** `perf record` of a command, or of a running pid until stopped. */
function perfRecord(file: string, target: string[] | number, env = process.env): ChildProcess {
  const what = typeof target === 'number' ? ['-p', String(target)] : ['--', ...target];
  return spawn('perf', ['record', '-F', String(PERF_HZ), '-e', 'cpu-clock', '-o', file, ...what], {
    stdio: ['ignore', 'pipe', 'ignore'],
    env,
    cwd: dir,
  });
}

try {
  const seedData = path.join(dir, 'seed');
  let serve = await startServe(seedData);
  const file = path.join(dir, 'file.bin');
  await writeGeneratedFile(file, bytes, 7);
  const put = await runMycel(['put', file, '--server', serve.url]);
  if (put.code !== 0) throw new Error(put.stderr);
  await serve.proc.kill();
  const nodeArgs = (who: string) => [
    '--import',
    probe,
    ...(perf ? ['--perf-basic-prof'] : []),
    ...(profile ? ['--cpu-prof', '--cpu-prof-dir', path.join(out, `prof-${who}`)] : []),
  ];
  // Run in the temporary folder: --perf-basic-prof leaves V8 logs in the working directory.
  serve = await startServe(seedData, [], {
    nodeArgs: nodeArgs('seed'),
    env: { MYCEL_CRYPTO_OUT: path.join(dir, 'seed-crypto.json') },
    cwd: dir,
  });
  const link = put.stdout.trim().replace(/^http:\/\/127\.0\.0\.1:\d+/, serve.url);
  const seedPid = serve.proc.child.pid!;
  pids.push(seedPid);
  const seedPerf = perf ? perfRecord(path.join(out, 'seed.perf'), seedPid) : undefined;
  let getPid = 0;
  let perfPid = 0;
  // Under perf the get is perf's child: found once perf has started it.
  const findGet = () => {
    if (!getPid && perfPid) {
      try {
        getPid = Number(readFileSync(`/proc/${perfPid}/task/${perfPid}/children`, 'utf8').trim().split(' ')[0]) || 0;
      } catch {
        // not yet
      }
    }
    return getPid ? [seedPid, getPid] : [seedPid];
  };
  const threads = sampleThreads(findGet, 20);
  const getArgs = [
    ...nodeArgs('get'),
    BIN,
    'get',
    link,
    '-o',
    path.join(dir, 'out.bin'),
    '--json',
    '--cache',
    path.join(dir, 'cache'),
  ];
  const env = { ...process.env, MYCEL_CRYPTO_OUT: path.join(dir, 'get-crypto.json') };
  const get = perf
    ? perfRecord(path.join(out, 'get.perf'), [process.execPath, ...getArgs], env)
    : spawn(process.execPath, getArgs, { stdio: ['ignore', 'pipe', 'ignore'], env, cwd: dir });
  if (perf) perfPid = get.pid!;
  else getPid = get.pid!;
  let summaryText = '';
  get.stdout!.on('data', (d) => (summaryText += d));
  await new Promise((resolve) => get.on('close', resolve));
  const after = threads.stop();
  pids.push(getPid);
  seedPerf?.kill('SIGINT');
  if (seedPerf) await new Promise((resolve) => seedPerf.on('close', resolve));
  await serve.proc.kill();
  const summary = JSON.parse(summaryText.trim().split('\n').pop()!);
  const mb = bytes / 1e6;
  console.log(
    `get: ${(mb / (summary.transferMs / 1000)).toFixed(1)} MB/s first to last byte, ttfb ${summary.ttfbMs} ms`,
  );
  console.log(
    `WebCrypto calls for ${Math.ceil(bytes / (256 * 1024))} data blocks: get ${readFileSync(path.join(dir, 'get-crypto.json'), 'utf8')}, seed ${readFileSync(path.join(dir, 'seed-crypto.json'), 'utf8')}`,
  );
  console.log('\nCPU by thread over the get (ms/MB; "node" without "main" is the libuv pool and V8 helpers):');
  const use = threadUse(threads.first, after, (pid) => (pid === seedPid ? 'seed' : pid === getPid ? 'get' : undefined));
  for (const [name, ms] of [...use].sort((x, y) => y[1] - x[1]))
    if (ms / mb >= 0.05) console.log(`${(ms / mb).toFixed(2).padStart(7)}  ${name}`);
  if (perf) {
    for (const who of ['get', 'seed']) {
      const s = split(path.join(out, `${who}.perf`));
      console.log(`\n== ${who}: perf, ${((s.samples * 1000) / PERF_HZ / mb).toFixed(2)} ms/MB sampled`);
      const rows = [...s.byKind]
        .map(([kind, t]) => ({ kind, t, n: [...t.values()].reduce((a, b) => a + b, 0) }))
        .sort((a, b) => b.n - a.n);
      for (const { kind, t, n } of rows) {
        const where = [...t]
          .sort((a, b) => b[1] - a[1])
          .map(([name, c]) => `${name} ${((100 * c) / n).toFixed(0)}%`)
          .join(', ');
        console.log(`${((n * 1000) / PERF_HZ / mb).toFixed(2).padStart(7)} ms/MB  ${kind.padEnd(40)} ${where}`);
      }
    }
  }
  if (profile) {
    for (const who of ['get', 'seed']) {
      const pdir = path.join(out, `prof-${who}`);
      const f = readdirSync(pdir)[0]!;
      console.log(`\n== ${who}: main-thread V8 profile`);
      printSummary(summarize(JSON.parse(readFileSync(path.join(pdir, f), 'utf8'))), mb, 20);
    }
  }
} finally {
  await fs.rm(dir, { recursive: true, force: true });
  // --perf-basic-prof's symbol maps of our two processes (perf has read them by now).
  for (const pid of pids) await fs.rm(`/tmp/perf-${pid}.map`, { force: true });
}
