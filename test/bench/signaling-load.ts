// Signaling under load, scaled out: N concurrent sockets spread over two signaling processes on one
// real redis-server, beside the same load on one in-memory process, in the same run. Loopback only,
// bounded in count and in time (every phase has a deadline), and it stops what it started.
//
//   npx tsx test/bench/signaling-load.ts [sockets]       prints the figures and a JSON line
//   import { signalingLoadBench } from './signaling-load.js' for run.ts
//
// Each signaling server runs in a process of its own (this file with the role `server`), so its
// resident memory (read from its /metrics) is its own. The sockets live in this process: each says
// a proven hello, announces one topic, looks up another socket's topic, and pairs of them relay
// signals, timed from send to arrival on the same clock. Limits per address are raised in the
// servers (every socket comes from 127.0.0.1); the figure is the cost of the work, not the limits.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import path from 'node:path';
import WebSocket from 'ws';
import { sha256 } from '@noble/hashes/sha2.js';
import { toBase64Url } from '../../src/content/bytes.js';
import { identityFromSecret } from '../../src/net/identity.js';
import { SIGNAL_VERSION, challengeNonce, helloMessage } from '../../src/net/signal-messages.js';
import { SignalingServer, DEFAULT_LIMITS, stateLimits } from '../../signaling/server.js';
import { RedisSignalingState } from '../../signaling/redis-state.js';
import { startRedis } from '../helpers/redis.js';

export const LOAD_SOCKETS = 10_000;
/** Relayed signals timed per path, and how many are in flight at once. */
const RELAYS = 2_000;
const RELAYS_IN_FLIGHT = 10;
/** Sockets opening at once. */
const OPENING = 200;
/** Each phase must finish within this, or the bench stops with an error. */
const PHASE_DEADLINE_MS = 600_000;

interface Phase {
  ms: number;
  perSecond: number;
}

export interface LoadFigures {
  sockets: number;
  processes: number;
  state: 'memory' | 'redis';
  connect: Phase;
  announce: Phase;
  lookup: Phase;
  relayWithin: Phase & { p50Ms: number; p99Ms: number };
  relayAcross?: Phase & { p50Ms: number; p99Ms: number };
  /** Resident memory of the server processes together, per 1,000 sockets (after less before). */
  rssPer1000SocketsMB: number;
  rssMB: number[];
}

async function serverRole(redisUrl: string | undefined, sockets: number): Promise<void> {
  const limits = {
    maxSocketsPerAddress: sockets,
    maxSockets: sockets,
    maxTopicsPerAddress: sockets * 2,
    maxTopicEntries: sockets * 2,
  };
  const state = redisUrl
    ? await RedisSignalingState.open({ url: redisUrl, limits: stateLimits({ ...DEFAULT_LIMITS, ...limits }) })
    : undefined;
  const server = new SignalingServer({ limits, ...(state ? { state } : {}) });
  const http = createServer((req, res) => server.handleHttp(req, res) || res.end());
  server.attach(http);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  process.stdout.write(JSON.stringify({ port: (http.address() as { port: number }).port }) + '\n');
  // Ends with its stdin: the bench closes it (or dies, which closes it too).
  process.stdin.resume();
  process.stdin.on('end', () => {
    const stop = async () => {
      await server.close();
      await state?.close();
      http.close();
    };
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

interface Server {
  child: ChildProcess;
  port: number;
}

function startServer(redisUrl: string | undefined, sockets: number): Promise<Server> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', import.meta.filename, 'server', redisUrl ?? 'memory', String(sockets)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve({ child, port: (JSON.parse(out.split('\n')[0]!) as { port: number }).port });
    });
    child.once('exit', (code) => reject(new Error(`signaling server exited with ${code}`)));
  });
}

async function rssMB(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(/^process_resident_memory_bytes (\d+)/m.exec(text)![1]) / 1e6;
}

/** One socket of the load: a proven peer that counts what it hears. */
class Peer {
  readonly ws: WebSocket;
  readonly id: string;
  private readonly waiting = new Map<string, () => void>();
  onSignal: ((data: { n: number }) => void) | undefined;

  constructor(
    readonly index: number,
    url: string,
  ) {
    const identity = identityFromSecret(sha256(new TextEncoder().encode(`mycel load peer ${index}`)));
    this.id = identity.id;
    this.ws = new WebSocket(url);
    this.ws.on('error', () => {
      // A failed socket shows as a phase that does not finish: the deadline reports it.
    });
    this.ws.on('message', (raw: Buffer) => {
      const m = JSON.parse(raw.toString());
      if (m.t === 'challenge') {
        identity
          .sign(helloMessage(challengeNonce(m.nonce)!))
          .then((sig) => this.send({ t: 'hello', v: SIGNAL_VERSION, peer: identity.id, sig: toBase64Url(sig) }))
          .catch(() => {
            // A socket that could not say hello never welcomes: the phase deadline reports it.
          });
      } else if (m.t === 'welcome') this.settle('welcome');
      else if (m.t === 'holders') this.settle(`holders ${m.id}`);
      else if (m.t === 'signal') this.onSignal?.(m.data);
    });
  }

  send(message: unknown): void {
    this.ws.send(JSON.stringify(message));
  }

  when(what: string): Promise<void> {
    return new Promise((resolve) => this.waiting.set(what, resolve));
  }

  private settle(what: string): void {
    const resolve = this.waiting.get(what);
    this.waiting.delete(what);
    resolve?.();
  }
}

function deadline<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    work.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${what} did not finish in ${PHASE_DEADLINE_MS} ms`)),
        PHASE_DEADLINE_MS,
      );
    }),
  ]);
}

async function timed(what: string, count: number, work: () => Promise<void>): Promise<Phase> {
  const started = performance.now();
  await deadline(work(), what);
  const ms = performance.now() - started;
  return { ms, perSecond: (count * 1000) / ms };
}

async function pool<T>(items: readonly T[], inFlight: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

const topicOf = (i: number) => i.toString(16).padStart(64, '0');

async function relays(pairs: [Peer, Peer][]): Promise<Phase & { p50Ms: number; p99Ms: number }> {
  const latencies: number[] = [];
  let n = 0;
  const phase = await timed('relays', pairs.length, () =>
    pool(pairs, RELAYS_IN_FLIGHT, async ([from, to]) => {
      const mine = n++;
      const arrived = new Promise<void>((resolve) => {
        to.onSignal = (data) => {
          if (data.n === mine) resolve();
        };
      });
      const sent = performance.now();
      from.send({ t: 'signal', to: to.id, data: { n: mine } });
      await arrived;
      latencies.push(performance.now() - sent);
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return { ...phase, p50Ms: at(0.5), p99Ms: at(0.99) };
}

/** The load against `servers` (one in memory, or several on `redisUrl`). */
async function load(sockets: number, redisUrl: string | undefined, processes: number): Promise<LoadFigures> {
  const servers = await Promise.all(Array.from({ length: processes }, () => startServer(redisUrl, sockets)));
  const peers: Peer[] = [];
  try {
    const before = await Promise.all(servers.map((s) => rssMB(s.port)));
    const indexes = Array.from({ length: sockets }, (_, i) => i);
    const connect = await timed('connect', sockets, () =>
      pool(indexes, OPENING, async (i) => {
        const peer = new Peer(i, `ws://127.0.0.1:${servers[i % processes]!.port}/signal`);
        peers.push(peer);
        await peer.when('welcome');
      }),
    );
    peers.sort((a, b) => a.index - b.index);
    const announce = await timed('announce', sockets, () =>
      pool(peers, OPENING, async (peer) => {
        // The lookup after it is answered only once the announce was handled (in order per socket).
        const answered = peer.when('holders 1');
        peer.send({ t: 'announce', topics: [topicOf(peer.index)] });
        peer.send({ t: 'lookup', id: 1, topic: topicOf(peer.index) });
        await answered;
      }),
    );
    const lookup = await timed('lookup', sockets, () =>
      pool(peers, OPENING, async (peer) => {
        const answered = peer.when('holders 2');
        // Another socket's topic: on another process when there are several.
        peer.send({ t: 'lookup', id: 2, topic: topicOf((peer.index + 1) % sockets) });
        await answered;
      }),
    );
    const after = await Promise.all(servers.map((s) => rssMB(s.port)));
    // Pairs on one process (i and i + processes), and across (i and i + 1), each peer used once per set.
    const within: [Peer, Peer][] = [];
    const across: [Peer, Peer][] = [];
    for (let i = 0; within.length < RELAYS && i + processes < sockets; i += 2 * processes)
      within.push([peers[i]!, peers[i + processes]!]);
    if (processes > 1)
      for (let i = 1; across.length < RELAYS && i + 1 < sockets; i += 2 * processes)
        across.push([peers[i]!, peers[i + 1]!]);
    const relayWithin = await relays(within);
    const relayAcross = processes > 1 ? await relays(across) : undefined;
    const grown = after.reduce((a, b) => a + b, 0) - before.reduce((a, b) => a + b, 0);
    return {
      sockets,
      processes,
      state: redisUrl ? 'redis' : 'memory',
      connect,
      announce,
      lookup,
      relayWithin,
      ...(relayAcross ? { relayAcross } : {}),
      rssPer1000SocketsMB: (grown * 1000) / sockets,
      rssMB: after,
    };
  } finally {
    for (const peer of peers) peer.ws.terminate();
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.child.once('exit', () => resolve());
            s.child.stdin!.end();
            setTimeout(() => s.child.kill('SIGKILL'), 10_000).unref();
          }),
      ),
    );
  }
}

export async function signalingLoadBench(sockets = LOAD_SOCKETS): Promise<{ memory: LoadFigures; redis: LoadFigures }> {
  const memory = await load(sockets, undefined, 1);
  const redis = await startRedis();
  try {
    return { memory, redis: await load(sockets, redis.url, 2) };
  } finally {
    await redis.close();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  const [role, a, b] = process.argv.slice(2);
  if (role === 'server') await serverRole(a === 'memory' ? undefined : a, Number(b));
  else {
    const sockets = role ? Number(role) : LOAD_SOCKETS;
    const figures = await signalingLoadBench(sockets);
    for (const f of [figures.memory, figures.redis]) {
      const where = f.state === 'memory' ? 'one process in memory' : `${f.processes} processes on Redis`;
      console.error(`${f.sockets.toLocaleString('en')} sockets, ${where}:`);
      const rate = (p: Phase) => `${p.perSecond.toFixed(0)}/s (${(p.ms / 1000).toFixed(1)} s)`;
      console.error(`  connect + proven hello   ${rate(f.connect)}`);
      console.error(`  announce (+ own lookup)  ${rate(f.announce)}`);
      console.error(`  lookup                   ${rate(f.lookup)}`);
      const relay = (r: LoadFigures['relayWithin']) =>
        `${rate(r)}, latency p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms`;
      console.error(`  relay within a process   ${relay(f.relayWithin)}`);
      if (f.relayAcross) console.error(`  relay across processes   ${relay(f.relayAcross)}`);
      console.error(
        `  resident memory          ${f.rssPer1000SocketsMB.toFixed(1)} MB per 1,000 sockets (servers now ${f.rssMB.map((m) => m.toFixed(0)).join(' + ')} MB)`,
      );
    }
    process.stdout.write(JSON.stringify(figures) + '\n');
  }
}
