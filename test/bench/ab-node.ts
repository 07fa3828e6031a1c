// Side by side in one run: `mycel get` from a `mycel serve` seed for several builds of Mycel (each
// a checkout with its own `npm run build:node`), alternating round by round with the bare channel,
// so a change to src/ is measured against the code it changes on the same machine at the same load.
// Usage: npx tsx test/bench/ab-node.ts <checkout> [<checkout> …]   (env MB=256 ROUNDS=3)
// The order of the builds (and the bare channel) turns every round. A checkout written
// <dir>::<flag>,<flag> runs its seed and its gets with those Node flags (e.g. V8 heap sizes).
// Prints, per build: median MB/s, time to first byte, CPU ms per MB of each end.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { toBase64Url } from '../../src/content/bytes.js';
import { identityFromSecret, newSecret } from '../../src/net/identity.js';
import { freePort, tempDir } from '../helpers/processes.js';
import { writeGeneratedFile } from '../helpers/files.js';
import { withBareRetries } from './bare-retry.js';
import { CpuSampler } from './proc-cpu.js';
import { MiB, median } from './units.js';

const builds = process.argv.slice(2).map((arg) => {
  const [dir, flags] = arg.split('::');
  return { label: path.basename(arg), root: path.resolve(dir!), flags: flags ? flags.split(',') : [] };
});
const roots = builds.map((b) => b.root);
const bytes = Number(process.env.MB ?? 256) * MiB;
const rounds = Number(process.env.ROUNDS ?? 3);
const here = import.meta.dirname;

function run(root: string, args: string[], env: Record<string, string> = {}, nodeArgs: string[] = []) {
  const child = spawn(process.execPath, [...nodeArgs, path.join(root, 'bin', 'mycel.js'), ...args], {
    env: { ...process.env, MYCEL_LOG: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const done = new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, out, err })),
  );
  return { child, done };
}

async function serve(root: string, dir: string, flags: string[]): Promise<{ url: string; pid: number; stop(): void }> {
  const port = await freePort();
  const proc = run(
    root,
    ['serve', '--port', String(port), '--host', '127.0.0.1', '--data', dir],
    { MYCEL_LOG: 'info' },
    flags,
  );
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`seed of ${root} not ready`)), 30_000);
    proc.child.stderr.on('data', (d) => {
      seen += d;
      if (seen.includes('"seed ready"')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { url: `http://127.0.0.1:${port}`, pid: proc.child.pid!, stop: () => proc.child.kill() };
}

interface Run {
  mbps: number;
  ttfbMs: number;
  recvCpu: number;
  sendCpu: number;
}

async function ourGet(root: string, link: string, dir: string, seedPid: number, flags: string[]): Promise<Run> {
  const window = path.join(dir, 'window.json');
  const seedCpu = new CpuSampler(seedPid);
  const get = run(
    root,
    ['get', link, '-o', path.join(dir, 'out.bin'), '--json', '--cache', path.join(dir, 'cache')],
    { MYCEL_WRITE_OUT: window },
    [...flags, '--import', path.join(here, 'write-probe.mjs')],
  );
  const { code, out, err } = await get.done;
  seedCpu.stop();
  if (code !== 0) throw new Error(err);
  const summary = JSON.parse(out.trim().split('\n').pop()!);
  const w = JSON.parse(await fs.readFile(window, 'utf8'));
  await fs.rm(path.join(dir, 'out.bin'), { force: true });
  await fs.rm(path.join(dir, 'cache'), { recursive: true, force: true });
  const mb = summary.bytes / 1e6;
  return {
    mbps: mb / (summary.transferMs / 1000),
    ttfbMs: summary.ttfbMs,
    recvCpu: w.cpuMs / mb,
    sendCpu: seedCpu.between(w.firstAt, w.lastAt) / mb,
  };
}

/** The bare channel, retried with fresh processes when a connect fails (as network.ts does). */
function bare(signalUrl: string): Promise<Run> {
  return withBareRetries(() => bareOnce(signalUrl));
}

async function bareOnce(signalUrl: string): Promise<Run> {
  const script = path.join(here, 'bare-channel.ts');
  const a = newSecret();
  const sender = spawn(
    process.execPath,
    ['--import', 'tsx', script, 'send', signalUrl, toBase64Url(a), String(bytes)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let sOut = '';
  sender.stdout.on('data', (d) => (sOut += d));
  await new Promise<void>((resolve) => sender.stdout.once('data', () => resolve()));
  const receiver = spawn(
    process.execPath,
    ['--import', 'tsx', script, 'recv', signalUrl, toBase64Url(newSecret()), identityFromSecret(a).id, String(bytes)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let rOut = '';
  receiver.stdout.on('data', (d) => (rOut += d));
  const [rc] = await Promise.all([
    new Promise((r) => receiver.on('close', r)),
    new Promise((r) => sender.on('close', r)),
  ]);
  if (rc !== 0) throw new Error('bare channel failed');
  const r = JSON.parse(rOut.trim());
  const s = JSON.parse(sOut.trim().split('\n').pop()!);
  const mb = r.bytes / 1e6;
  return { mbps: mb / r.seconds, ttfbMs: r.ttfbMs, recvCpu: r.cpuMs / mb, sendCpu: s.cpuMs / mb };
}

const dir = await tempDir('ab-node');
const seeds: Awaited<ReturnType<typeof serve>>[] = [];
try {
  const file = path.join(dir, 'file.bin');
  await writeGeneratedFile(file, bytes, 11);
  const links: string[] = [];
  for (const [i, root] of roots.entries()) {
    const seed = await serve(root, path.join(dir, `seed-${i}`), builds[i]!.flags);
    seeds.push(seed);
    const put = run(root, ['put', file, '--server', seed.url]);
    const { code, out, err } = await put.done;
    if (code !== 0) throw new Error(err);
    links.push(out.trim());
  }
  const results: Run[][] = roots.map(() => []);
  const bareRuns: Run[] = [];
  for (let r = 0; r < rounds; r++) {
    // The order turns round by round (the bare channel included), so no build always runs first.
    const order = [...roots.keys(), -1];
    for (let k = 0; k < r % order.length; k++) order.push(order.shift()!);
    for (const i of order) {
      if (i < 0) bareRuns.push(await bare(`ws://${new URL(seeds[0]!.url).host}/signal`));
      else results[i]!.push(await ourGet(roots[i]!, links[i]!, path.join(dir), seeds[i]!.pid, builds[i]!.flags));
    }
    console.error(
      `round ${r + 1}: ${results.map((x) => x.at(-1)!.mbps.toFixed(1)).join(' / ')} / bare ${bareRuns.at(-1)!.mbps.toFixed(1)} MB/s`,
    );
  }
  const show = (name: string, runs: Run[]) =>
    console.log(
      `${name.padEnd(28)} ${median(runs.map((x) => x.mbps))
        .toFixed(1)
        .padStart(6)} MB/s  ttfb ${median(runs.map((x) => x.ttfbMs))
        .toFixed(0)
        .padStart(5)} ms  ` +
        `cpu recv ${median(runs.map((x) => x.recvCpu))
          .toFixed(1)
          .padStart(5)}  send ${median(runs.map((x) => x.sendCpu))
          .toFixed(1)
          .padStart(5)} ms/MB  ` +
        `[${runs.map((x) => x.mbps.toFixed(1)).join(', ')}]`,
    );
  builds.forEach((b, i) => show(b.label, results[i]!));
  show('bare channel', bareRuns);
} finally {
  for (const seed of seeds) seed.stop();
  await fs.rm(dir, { recursive: true, force: true });
}
