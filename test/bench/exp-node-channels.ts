// Experiment: the bare Node-to-Node channel (bare-channel.ts) with more channels on the one
// connection, other message sizes and other send windows, alternating round by round in one run.
// Usage: npx tsx test/bench/exp-node-channels.ts   (env MB=256 ROUNDS=3)
import { spawn } from 'node:child_process';
import path from 'node:path';
import { toBase64Url } from '../../src/content/bytes.js';
import { identityFromSecret, newSecret } from '../../src/net/identity.js';
import { freePort, logged, startMycel } from '../helpers/processes.js';
import { MiB, median } from './units.js';

const K = 1024;
const ALL_CONFIGS: { name: string; env: Record<string, string> }[] = [
  { name: '1 channel, 64 KiB msgs, high 512 KiB / low 64 KiB (the links)', env: {} },
  { name: '2 channels, 64 KiB msgs', env: { BARE_CHANNELS: '2' } },
  { name: '4 channels, 64 KiB msgs', env: { BARE_CHANNELS: '4' } },
  { name: '1 channel, 16 KiB msgs', env: { BARE_MESSAGE: String(16 * K) } },
  {
    name: '1 channel, 256 KiB msgs, high 1 MiB / low 256 KiB',
    env: { BARE_MESSAGE: String(256 * K), BARE_HIGH: String(1024 * K), BARE_LOW: String(256 * K) },
  },
  { name: '1 channel, 256 KiB msgs, high 512 KiB / low 64 KiB', env: { BARE_MESSAGE: String(256 * K) } },
  { name: '1 channel, 128 KiB msgs, high 512 KiB / low 64 KiB', env: { BARE_MESSAGE: String(128 * K) } },
  {
    name: '1 channel, 64 KiB msgs, high 2 MiB / low 512 KiB',
    env: { BARE_HIGH: String(2048 * K), BARE_LOW: String(512 * K) },
  },
];
const CONFIGS = process.env.ONLY
  ? ALL_CONFIGS.filter((_, i) => process.env.ONLY!.split(',').includes(String(i)))
  : ALL_CONFIGS;

const bytes = Number(process.env.MB ?? 256) * MiB;
const rounds = Number(process.env.ROUNDS ?? 3);
const script = path.join(import.meta.dirname, 'bare-channel.ts');

async function once(url: string, env: Record<string, string>): Promise<{ mbps: number; cpu: number }> {
  const a = newSecret();
  const opts = {
    stdio: ['ignore', 'pipe', 'inherit'] as ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  };
  const sender = spawn(process.execPath, ['--import', 'tsx', script, 'send', url, toBase64Url(a), String(bytes)], opts);
  let sOut = '';
  sender.stdout.on('data', (d) => (sOut += d));
  await new Promise<void>((resolve) => sender.stdout.once('data', () => resolve()));
  const receiver = spawn(
    process.execPath,
    ['--import', 'tsx', script, 'recv', url, toBase64Url(newSecret()), identityFromSecret(a).id, String(bytes)],
    opts,
  );
  let rOut = '';
  receiver.stdout.on('data', (d) => (rOut += d));
  const [code] = await Promise.all([
    new Promise((r) => receiver.on('close', r)),
    new Promise((r) => sender.on('close', r)),
  ]);
  if (code !== 0) throw new Error('bare channel failed');
  const r = JSON.parse(rOut.trim());
  const s = JSON.parse(sOut.trim().split('\n').pop()!);
  return { mbps: r.bytes / 1e6 / r.seconds, cpu: (r.cpuMs + s.cpuMs) / (r.bytes / 1e6) };
}

const port = await freePort();
const signal = startMycel(['signal', '--port', String(port), '--host', '127.0.0.1']);
try {
  await signal.waitForLine(logged('listening'));
  const url = `ws://127.0.0.1:${port}/signal`;
  const results = CONFIGS.map(() => [] as { mbps: number; cpu: number }[]);
  for (let r = 0; r < rounds; r++) {
    const order = [...CONFIGS.keys()];
    for (let k = 0; k < r % order.length; k++) order.push(order.shift()!);
    for (const i of order) results[i]!.push(await once(url, CONFIGS[i]!.env));
    console.error(`round ${r + 1}: ${results.map((x) => x.at(-1)!.mbps.toFixed(1)).join(' / ')}`);
  }
  CONFIGS.forEach((cfg, i) =>
    console.log(
      `${median(results[i]!.map((x) => x.mbps))
        .toFixed(1)
        .padStart(6)} MB/s  ${median(results[i]!.map((x) => x.cpu))
        .toFixed(1)
        .padStart(6)} ms CPU/MB both ends  ${cfg.name}  [${results[i]!.map((x) => x.mbps.toFixed(1)).join(', ')}]`,
    ),
  );
} finally {
  await signal.kill();
}
