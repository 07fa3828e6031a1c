// Node-to-Node transfers with real processes on loopback: `mycel get` from a `mycel serve` seed,
// beside a bare data channel between two processes pushing the same bytes with no protocol (see
// bare-channel.ts: the ceiling), and beside the same bare channel writing what arrives to a file (as a
// get must: the ceiling for a get that keeps its file); time to first byte of each, from the receiving process reaching
// the signaling server; CPU per MB of each end over the transfer window (first to last byte); and
// the peak RSS of put and get of a 1 GiB file.
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { toBase64Url } from '../../src/content/bytes.js';
import { identityFromSecret, newSecret } from '../../src/net/identity.js';
import { runMycel, startServe, tempDir } from '../helpers/processes.js';
import { writeGeneratedFile } from '../helpers/files.js';
import { BENCH_PEER_QUOTA, GiB, MiB, median } from './units.js';
import { withBareRetries } from './bare-retry.js';
import { CpuSampler } from './proc-cpu.js';

/** CPU ms per MB moved, over the transfer window: both ends, and each end. */
export interface CpuPerMB {
  total: number;
  receiver: number;
  sender: number;
}

export interface NetworkFigures {
  getMBps: number;
  bareMBps: number;
  /** The bare channel whose receiver writes what arrives to a file. */
  bareKeepMBps: number;
  getTtfbMs: number;
  bareTtfbMs: number;
  getCpu: CpuPerMB;
  bareCpu: CpuPerMB;
  bareKeepCpu: CpuPerMB;
  putMBps: number;
  putPeakRssMB: number;
  getPeakRssMB: number;
  bigBytes: number;
}

const here = import.meta.dirname;
const probe = path.join(here, 'rss-probe.mjs');
const writeProbe = path.join(here, 'write-probe.mjs');

export interface Side {
  /** CPU ms over the transfer window (first byte to last). */
  cpuMs: number;
}

export interface TransferRun {
  mbps: number;
  ttfbMs: number;
  /** Bare channel only: from reaching the signaling server to the channel's open. */
  openMs?: number;
  bytes: number;
  receiver: Side;
  sender: Side;
}

/** One bare transfer, retried with fresh processes when a connect fails (as ours are). */
function bareTransfer(signalUrl: string, bytes: number, keepIn?: string): Promise<TransferRun> {
  return withBareRetries(() => bareTransferOnce(signalUrl, bytes, keepIn));
}

function lines(child: ChildProcess): { next(): Promise<Record<string, unknown>>; exited: Promise<number | null> } {
  const queue: Record<string, unknown>[] = [];
  const waiting: ((v: Record<string, unknown>) => void)[] = [];
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    const parts = (partial + d.toString('utf8')).split('\n');
    partial = parts.pop()!;
    for (const line of parts) {
      if (!line.trim()) continue;
      const value = JSON.parse(line) as Record<string, unknown>;
      const w = waiting.shift();
      if (w) w(value);
      else queue.push(value);
    }
  });
  // 'close', not 'exit': stdout may still hold the last line when the process exits.
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return {
    exited,
    next: () =>
      new Promise((resolve, reject) => {
        const q = queue.shift();
        if (q) return resolve(q);
        waiting.push(resolve);
        exited
          .then((code) => reject(new Error(`bare channel process exited (${code}) before printing its result`)))
          .catch(reject);
      }),
  };
}

/** `keepIn`: the receiver writes what arrives to this file (removed afterwards). */
async function bareTransferOnce(signalUrl: string, bytes: number, keepIn?: string): Promise<TransferRun> {
  const [secretA, secretB] = [newSecret(), newSecret()];
  const a = identityFromSecret(secretA).id;
  const script = path.join(here, 'bare-channel.ts');
  // The sender is registered with the signaling server before the receiver exists: no race.
  const sender = spawn(
    process.execPath,
    ['--import', 'tsx', script, 'send', signalUrl, toBase64Url(secretA), String(bytes)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const fromSender = lines(sender);
  let receiver: ChildProcess | undefined;
  try {
    await fromSender.next(); // {"ready": true}
    receiver = spawn(
      process.execPath,
      ['--import', 'tsx', script, 'recv', signalUrl, toBase64Url(secretB), a, String(bytes)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: keepIn ? { ...process.env, BARE_KEEP: keepIn } : process.env,
      },
    );
    const fromReceiver = lines(receiver);
    const [got, sent] = await Promise.all([fromReceiver.next(), fromSender.next()]);
    await Promise.all([fromReceiver.exited, fromSender.exited]);
    const r = got as { bytes: number; seconds: number; ttfbMs: number; openMs: number; cpuMs: number };
    return {
      mbps: r.bytes / 1e6 / r.seconds,
      ttfbMs: r.ttfbMs,
      openMs: r.openMs,
      bytes: r.bytes,
      receiver: { cpuMs: r.cpuMs },
      sender: { cpuMs: (sent as { cpuMs: number }).cpuMs },
    };
  } finally {
    sender.kill();
    receiver?.kill();
    if (keepIn) await fs.rm(keepIn, { force: true });
  }
}

/** One `mycel get` of `link` to disk with a fresh cache; the seed's CPU taken over its transfer window. */
async function ourTransfer(link: string, dir: string, round: number, seedPid: number): Promise<TransferRun> {
  const out = path.join(dir, `out-${round}.bin`);
  const cache = path.join(dir, `cache-${round}`);
  const window = path.join(dir, `window-${round}.json`);
  const seedCpu = new CpuSampler(seedPid);
  try {
    const get = await runMycel(['get', link, '-o', out, '--json', '--cache', cache], {
      nodeArgs: ['--import', writeProbe],
      env: { MYCEL_WRITE_OUT: window },
    });
    if (get.code !== 0) throw new Error(get.stderr);
    const summary = JSON.parse(get.stdout.trim().split('\n').pop()!);
    const w = JSON.parse(await fs.readFile(window, 'utf8')) as { firstAt: number; lastAt: number; cpuMs: number };
    return {
      mbps: summary.bytes / 1e6 / (summary.transferMs / 1000),
      ttfbMs: summary.ttfbMs,
      bytes: summary.bytes,
      receiver: { cpuMs: w.cpuMs },
      sender: { cpuMs: seedCpu.between(w.firstAt, w.lastAt) },
    };
  } finally {
    seedCpu.stop();
    await fs.rm(out, { force: true });
    await fs.rm(cache, { recursive: true, force: true });
  }
}

/** Medians over the runs of CPU ms per MB moved. */
function cpuPerMB(runs: TransferRun[]): CpuPerMB {
  const per = (cpu: (r: TransferRun) => number) => median(runs.map((r) => cpu(r) / (r.bytes / 1e6)));
  return {
    total: per((r) => r.receiver.cpuMs + r.sender.cpuMs),
    receiver: per((r) => r.receiver.cpuMs),
    sender: per((r) => r.sender.cpuMs),
  };
}

async function peak(file: string): Promise<number> {
  return JSON.parse(await fs.readFile(file, 'utf8')).peakRssMB;
}

export async function networkBench(
  options: { transferBytes?: number; bigBytes?: number; rounds?: number } = {},
): Promise<NetworkFigures> {
  const transferBytes = options.transferBytes ?? 256 * MiB;
  const bigBytes = options.bigBytes ?? GiB;
  const rounds = options.rounds ?? 3;
  const dir = await tempDir('bench-net');
  // The 1 GiB put comes from a peer the seed does not list: lift the per-peer quota (1 GiB) above it.
  const serve = await startServe(path.join(dir, 'seed'), ['--peer-quota', BENCH_PEER_QUOTA]);
  const signalUrl = `ws://127.0.0.1:${serve.port}/signal`;
  try {
    const file = path.join(dir, 'transfer.bin');
    await writeGeneratedFile(file, transferBytes, 1);
    const put = await runMycel(['put', file, '--server', serve.url]);
    if (put.code !== 0) throw new Error(put.stderr);
    const link = put.stdout.trim();

    const ours: TransferRun[] = [];
    const bare: TransferRun[] = [];
    const bareKeep: TransferRun[] = [];
    for (let r = 0; r < rounds; r++) {
      // Alternating runs, a fresh cache each time: every block crosses the channel.
      // The file goes to disk (as a user's would), not through this process's pipes.
      ours.push(await ourTransfer(link, dir, r, serve.proc.child.pid!));
      bare.push(await bareTransfer(signalUrl, transferBytes));
      bareKeep.push(await bareTransfer(signalUrl, transferBytes, path.join(dir, `bare-${r}.bin`)));
      const [o, b, k] = [ours.at(-1)!, bare.at(-1)!, bareKeep.at(-1)!];
      console.error(
        `  round ${r + 1}: get ${o.mbps.toFixed(1)} MB/s ttfb ${o.ttfbMs} ms cpu ${cpuPerMB([o]).total.toFixed(1)} ms/MB; ` +
          `bare ${b.mbps.toFixed(1)} MB/s ttfb ${b.ttfbMs.toFixed(0)} ms (open ${b.openMs!.toFixed(0)} ms) cpu ${cpuPerMB([b]).total.toFixed(1)} ms/MB; ` +
          `bare keeping ${k.mbps.toFixed(1)} MB/s cpu ${cpuPerMB([k]).total.toFixed(1)} ms/MB`,
      );
    }

    const big = path.join(dir, 'big.bin');
    await fs.rm(file);
    await writeGeneratedFile(big, bigBytes, 2);
    const putRss = path.join(dir, 'put-rss.json');
    const t = performance.now();
    const bigPut = await runMycel(['put', big, '--server', serve.url], {
      nodeArgs: ['--import', probe],
      env: { MYCEL_RSS_OUT: putRss },
    });
    if (bigPut.code !== 0) throw new Error(bigPut.stderr);
    const putSeconds = (performance.now() - t) / 1000;
    const getRss = path.join(dir, 'get-rss.json');
    const bigGet = await runMycel(
      ['get', bigPut.stdout.trim(), '-o', path.join(dir, 'big.out'), '--cache', path.join(dir, 'cache-big')],
      {
        nodeArgs: ['--import', probe],
        env: { MYCEL_RSS_OUT: getRss },
      },
    );
    if (bigGet.code !== 0) throw new Error(bigGet.stderr);
    return {
      getMBps: median(ours.map((o) => o.mbps)),
      bareMBps: median(bare.map((b) => b.mbps)),
      bareKeepMBps: median(bareKeep.map((b) => b.mbps)),
      getTtfbMs: median(ours.map((o) => o.ttfbMs)),
      bareTtfbMs: median(bare.map((b) => b.ttfbMs)),
      getCpu: cpuPerMB(ours),
      bareCpu: cpuPerMB(bare),
      bareKeepCpu: cpuPerMB(bareKeep),
      putMBps: bigBytes / 1e6 / putSeconds,
      putPeakRssMB: await peak(putRss),
      getPeakRssMB: await peak(getRss),
      bigBytes,
    };
  } finally {
    await serve.proc.kill();
    await fs.rm(dir, { recursive: true, force: true });
  }
}
