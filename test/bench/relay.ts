// `mycel get` through a TURN relay beside a direct connection, in one run on one machine: a
// network of namespaces (test/helpers/net) with `mycel signal` and coturn on the "public" side, a
// seed and a getter in homes behind cone NATs (direct, srflx) and behind symmetric NATs (only the
// relay connects). The same file size, the same processes, the path checked from `get --json`.
// Needs root and `ip netns`; returns undefined (the suite skips) without them.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createNetwork, netnsAvailable, startTurn, type Home, type TestNetwork } from '../helpers/net/index.js';
import { logged, runMycel } from '../helpers/processes.js';
import { writeGeneratedFile } from '../helpers/files.js';
import { MiB, median } from './units.js';

export interface RelayFigures {
  directMBps: number;
  relayMBps: number;
  /** From reaching the signaling server to the first byte: lookup, connect (ICE, TURN allocation), first block. */
  directTtfbMs: number;
  relayTtfbMs: number;
  bytes: number;
}

const FILE_BYTES = 64 * MiB;
const ROUNDS = 3;

interface Summary {
  ttfbMs: number;
  transferMs: number;
  bytes: number;
  sources: Record<string, { candidate: string | null }>;
}

async function scenario(
  net: TestNetwork,
  name: string,
  port: number,
  seedHome: Home,
  getHome: Home,
  ice: string[],
): Promise<{ mbps: number; ttfbMs: number }> {
  const data = path.join(net.dir, `seed-${name}`);
  const id = (await runMycel(['id', '--data', data])).stdout.trim();
  const signal = net.startMycel(net.public.ns, [
    'signal',
    '--host',
    net.public.address,
    '--port',
    String(port),
    '--seed',
    id,
    ...ice,
  ]);
  await signal.waitForLine(logged('listening'));
  const server = `http://${net.public.address}:${port}`;
  const seed = net.startMycel(seedHome.host.ns, [
    'seed',
    '--signal',
    `${server.replace('http', 'ws')}/signal`,
    '--data',
    data,
    '--min-free',
    '0',
  ]);
  await seed.waitForLine(logged('seed ready'));
  const file = path.join(net.dir, `${name}.bin`);
  await writeGeneratedFile(file, FILE_BYTES, port);
  const put = await mycelIn(net, seedHome, ['put', file, '--server', server]);
  const link = put.trim();
  const rates: number[] = [];
  const ttfbs: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const out = await mycelIn(net, getHome, [
      'get',
      link,
      '-o',
      '/dev/null',
      '--force',
      '--cache',
      path.join(net.dir, `cache-${name}-${round}`),
      '--json',
    ]);
    const summary = JSON.parse(out.trim().split('\n').pop()!) as Summary;
    const path_ = summary.sources[id]?.candidate;
    const expected = name === 'relay' ? ['relay'] : ['srflx', 'prflx', 'host'];
    if (!path_ || !expected.includes(path_))
      throw new Error(`${name}: the get went by ${path_}, not ${expected.join('/')}`);
    rates.push(summary.bytes / 1e6 / (summary.transferMs / 1000));
    ttfbs.push(summary.ttfbMs);
  }
  return { mbps: median(rates), ttfbMs: median(ttfbs) };
}

async function mycelIn(net: TestNetwork, home: Home, args: string[]): Promise<string> {
  const proc = net.startMycel(home.host.ns, args, { env: { MYCEL_LOG: '' } });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`mycel ${args[0]} exited ${code}: ${proc.stderr.join('\n')}`);
  return proc.stdout.join('\n');
}

export async function relayBench(): Promise<RelayFigures | undefined> {
  if (!netnsAvailable()) return undefined;
  const net = await createNetwork({
    homes: [{ nat: 'cone' }, { nat: 'cone' }, { nat: 'symmetric' }, { nat: 'symmetric' }],
  });
  try {
    const turn = await startTurn(net);
    const secretFile = path.join(net.dir, 'turn-secret');
    await fs.writeFile(secretFile, turn.secret, { mode: 0o600 });
    const direct = await scenario(net, 'direct', 8080, net.home(1), net.home(2), ['--stun', turn.stunUrl]);
    const relay = await scenario(net, 'relay', 8081, net.home(3), net.home(4), [
      '--stun',
      turn.stunUrl,
      '--turn',
      turn.turnUrl,
      '--turn-secret-file',
      secretFile,
    ]);
    return {
      directMBps: direct.mbps,
      relayMBps: relay.mbps,
      directTtfbMs: direct.ttfbMs,
      relayTtfbMs: relay.ttfbMs,
      bytes: FILE_BYTES,
    };
  } finally {
    await net.destroy();
  }
}
