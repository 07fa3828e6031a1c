// Node-to-Node transfers with real processes on loopback: `mycel get` from a `mycel serve` seed,
// beside a bare data channel between two processes pushing the same bytes with no protocol; time to
// first byte of each; and the peak RSS of put and get of a 1 GiB file.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { toBase64Url } from '../../src/content/bytes.js';
import { identityFromSecret, newSecret } from '../../src/net/identity.js';
import { runMycel, startServe, tempDir } from '../helpers/processes.js';
import { writeGeneratedFile } from '../helpers/files.js';
import { GiB, MiB, median } from './units.js';

export interface NetworkFigures {
  getMBps: number;
  bareMBps: number;
  getTtfbMs: number;
  bareTtfbMs: number;
  putMBps: number;
  putPeakRssMB: number;
  getPeakRssMB: number;
  bigBytes: number;
}

const here = import.meta.dirname;
const probe = path.join(here, 'rss-probe.mjs');

/** One bare transfer, retried with fresh processes when a connect fails (as ours are). */
async function bareTransfer(signalUrl: string, bytes: number): Promise<{ mbps: number; ttfbMs: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await bareTransferOnce(signalUrl, bytes);
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

async function bareTransferOnce(signalUrl: string, bytes: number): Promise<{ mbps: number; ttfbMs: number }> {
  const [secretA, secretB] = [newSecret(), newSecret()];
  const [a, b] = [identityFromSecret(secretA).id, identityFromSecret(secretB).id];
  const script = path.join(here, 'bare-channel.ts');
  const receiver = spawn(
    process.execPath,
    ['--import', 'tsx', script, 'recv', signalUrl, toBase64Url(secretB), a, String(bytes)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  receiver.stdout.on('data', (d) => (out += d));
  const sender = spawn(
    process.execPath,
    ['--import', 'tsx', script, 'send', signalUrl, toBase64Url(secretA), b, String(bytes)],
    { stdio: 'inherit' },
  );
  const [code] = await Promise.all([
    new Promise<number | null>((resolve) => receiver.on('exit', resolve)),
    new Promise<number | null>((resolve) => sender.on('exit', resolve)),
  ]);
  if (code !== 0) throw new Error('bare channel receiver failed');
  const result = JSON.parse(out.trim());
  return { mbps: result.bytes / 1e6 / result.seconds, ttfbMs: result.ttfbMs };
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
  const serve = await startServe(path.join(dir, 'seed'));
  const signalUrl = `ws://127.0.0.1:${serve.port}/signal`;
  try {
    const file = path.join(dir, 'transfer.bin');
    await writeGeneratedFile(file, transferBytes, 1);
    const put = await runMycel(['put', file, '--server', serve.url]);
    if (put.code !== 0) throw new Error(put.stderr);
    const link = put.stdout.trim();

    const ours: number[] = [];
    const bare: number[] = [];
    const ttfb: number[] = [];
    const bareTtfb: number[] = [];
    for (let r = 0; r < rounds; r++) {
      // Alternating runs, a fresh cache each time: every block crosses the channel.
      // The file goes to disk (as a user's would), not through this process's pipes.
      const out = path.join(dir, `out-${r}.bin`);
      const get = await runMycel(['get', link, '-o', out, '--json', '--cache', path.join(dir, `cache-${r}`)]);
      if (get.code !== 0) throw new Error(get.stderr);
      const summary = JSON.parse(get.stdout.trim().split('\n').pop()!);
      await fs.rm(out);
      ours.push(summary.bytes / 1e6 / (summary.transferMs / 1000));
      ttfb.push(summary.ttfbMs);
      const b = await bareTransfer(signalUrl, transferBytes);
      bare.push(b.mbps);
      bareTtfb.push(b.ttfbMs);
      await fs.rm(path.join(dir, `cache-${r}`), { recursive: true, force: true });
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
      getMBps: median(ours),
      bareMBps: median(bare),
      getTtfbMs: median(ttfb),
      bareTtfbMs: median(bareTtfb),
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
