// A real `mycel serve --trust-proxy 127.0.0.1` on loopback, attacked the way a public deployment
// behind a reverse proxy is. This test process plays the proxy: its connections come from
// 127.0.0.1 and carry X-Forwarded-For naming the "real" client.
//
// - One client behind the proxy opens 70 sockets: it is limited as one client, while another
//   client behind the same proxy connects, announces and is found.
// - Clients at many forwarded addresses announce every topic they may: the server refuses past its
//   budget with a typed error, its memory stays under the bound the limits imply, honest peers
//   and an honest put/get keep working, and the memory comes back once the flood leaves.
// - 1,000 half-sent HTTP requests are closed at the header deadline (shortened to 2 s here with
//   --header-timeout), and /health answers meanwhile; one address cannot hold more than its share
//   of connections.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../signaling/server.js';
import { DEFAULT_HTTP_LIMITS } from '../../src/node/http-guard.js';
import { runMycel, startServe, tempDir, type MycelProcess } from '../helpers/processes.js';
import { sameFiles, writeGeneratedFile } from '../helpers/files.js';
import { errorCode, rawSocket, peerIdFor, sayHello, type RawSocket } from '../helpers/signal.js';

/** Heap one topic entry costs at worst (two holders per topic), measured by `npm run bench -- signaling`. */
const WORST_BYTES_PER_TOPIC_ENTRY = 200;
/**
 * What the process may grow by for each flood socket besides its topics: an idle socket measured
 * ~10 KB of RSS (5,000 of them: +50 MB); one that is sending also has receive buffers.
 */
const BYTES_PER_SOCKET = 40 * 1024;
/**
 * RSS beyond the live heap: garbage not yet collected from parsing 3,000 announce messages, the
 * young generation's semispaces (16 MiB each on 64-bit Node 20) and old-space growth steps.
 */
const HEAP_HEADROOM_BYTES = 64 * 1024 * 1024;
/** Live heap a flood may leave behind once its sockets are gone (its topics took ~50 MB). */
const LEFTOVER_HEAP_MB = 8;
const HEADER_TIMEOUT_S = 2;
/** Lets the test ask the server process for a full GC and its live heap (see the probe). */
const GC_PROBE = path.join(import.meta.dirname, '..', 'helpers', 'gc-probe.mjs');

let dir: string;
let serve: { proc: MycelProcess; url: string; port: number };
let wsUrl: string;
const opened: RawSocket[] = [];

/** A socket from a client the proxy says is at `forwardedFor`. */
async function behindProxy(forwardedFor: string): Promise<RawSocket> {
  const client = await rawSocket(wsUrl, { localAddress: '127.0.0.1', headers: { 'x-forwarded-for': forwardedFor } });
  opened.push(client);
  return client;
}

let lookups = 0;
async function holders(client: RawSocket, topic: string): Promise<string[]> {
  const id = ++lookups;
  client.send({ t: 'lookup', id, topic });
  return (await client.next((m) => m.t === 'holders' && m.id === id)).peers!;
}

const randomTopics = (n: number) => Array.from({ length: n }, () => randomBytes(32).toString('hex'));

/**
 * The server's /metrics. While the flood saturates the server's one thread (worse on a shared
 * machine), its header deadline can pass before it reads a probe's headers: that is the slowloris
 * guard answering 408 as designed, so the probe asks again, a bounded number of times.
 */
async function metricsText(): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const last = attempt === METRICS_ATTEMPTS;
    // The guard closes the connection with its 408: undici may then report "fetch failed".
    const response = await fetch(`${serve.url}/metrics`).catch((error: unknown) => {
      if (last) throw error;
      return undefined;
    });
    if (response?.status === 200 || (response && last)) return response.text();
    await response?.arrayBuffer();
  }
}
const METRICS_ATTEMPTS = 3;

interface Memory {
  rssMB: number;
  heapMB: number;
  topicEntries: number;
}
async function memory(): Promise<Memory> {
  const text = await metricsText();
  const gauge = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
  return {
    rssMB: gauge(/^process_resident_memory_bytes (\d+)/m) / 2 ** 20,
    heapMB: gauge(/^nodejs_heap_used_bytes (\d+)/m) / 2 ** 20,
    topicEntries: gauge(/^mycel_signal_topic_entries\{kind="ordinary"\} (\d+)/m),
  };
}

let probes = 0;
/** The server's live heap and RSS right after full garbage collections. */
async function collected(): Promise<{ heapMB: number; rssMB: number }> {
  const n = ++probes;
  serve.proc.child.kill('SIGUSR2');
  const line = await serve.proc.waitForLine((l) => l.includes('"gc probe"') && JSON.parse(l).n === n);
  const { heapUsed, rss } = JSON.parse(line) as { heapUsed: number; rss: number };
  return { heapMB: heapUsed / 2 ** 20, rssMB: rss / 2 ** 20 };
}

beforeAll(async () => {
  dir = await tempDir('signal-proxy');
  serve = await startServe(
    path.join(dir, 'seed'),
    ['--trust-proxy', '127.0.0.1', '--header-timeout', String(HEADER_TIMEOUT_S)],
    {
      nodeArgs: ['--expose-gc', '--import', GC_PROBE],
    },
  );
  wsUrl = `ws://127.0.0.1:${serve.port}/signal`;
});

afterAll(async () => {
  for (const c of opened) c.ws.terminate();
  await serve?.proc.kill();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('signaling behind a trusted proxy', () => {
  it('limits one forwarded client to its sockets while another behind the same proxy works', async () => {
    const attempts = await Promise.all(Array.from({ length: 70 }, () => behindProxy('198.51.100.66')));
    const outcomes = await Promise.all(
      attempts.map(async (c, i) => {
        const first = await c.next((m) => m.t === 'challenge' || errorCode('too-many-sockets')(m));
        if (first.t !== 'challenge') return first.t;
        return (await sayHello(c, `one-client-socket-${i}`)).t;
      }),
    );
    expect(outcomes.filter((t) => t === 'welcome')).toHaveLength(DEFAULT_LIMITS.maxSocketsPerAddress);

    const honest = await behindProxy('198.51.100.7');
    await sayHello(honest, 'honest-behind-proxy');
    const [topic] = randomTopics(1);
    honest.send({ t: 'announce', topics: [topic] });
    const neighbour = await behindProxy('198.51.100.8');
    await sayHello(neighbour, 'neighbour-behind-proxy');
    await expect.poll(() => holders(neighbour, topic!)).toEqual([peerIdFor('honest-behind-proxy')]);
    expect(honest.messages.filter((m) => m.t === 'error')).toEqual([]);
    for (const c of [...attempts, honest, neighbour]) c.ws.terminate();
  });

  it('keeps topic memory under its bound through a flood from many addresses, serves honest peers, and gives the memory back', async () => {
    const { maxTopicEntries } = DEFAULT_LIMITS;
    // An honest peer announced before the flood; others will look for it during the flood.
    const early = await behindProxy('192.0.2.10');
    await sayHello(early, 'honest-early-peer');
    const [earlyTopic] = randomTopics(1);
    early.send({ t: 'announce', topics: [earlyTopic] });
    await expect.poll(async () => (await memory()).topicEntries).toBe(1);
    const before = await collected();

    const first = await floodRound(async (flood) => {
      // Honest work while the flood runs: a put to the embedded seed, and a get of it.
      const file = path.join(dir, 'during-topic-flood.bin');
      await writeGeneratedFile(file, 1024 * 1024, 7);
      const put = await runMycel(['put', file, '--server', serve.url]);
      expect(put.code, put.stderr).toBe(0);
      await flood;
      const out = path.join(dir, 'during-topic-flood.out');
      const get = await runMycel(['get', put.stdout.trim(), '-o', out, '--cache', path.join(dir, 'cache')]);
      expect(get.code, get.stderr).toBe(0);
      expect(await sameFiles(file, out)).toBe(true);

      // The budget is full: past it, announces get a typed refusal, and nothing grows.
      expect((await memory()).topicEntries).toBe(maxTopicEntries);
      // The honest early peer is still found by a newcomer, who can connect and look up; its own
      // announce is refused as busy, not dropped silently.
      const newcomer = await behindProxy('192.0.2.11');
      await sayHello(newcomer, 'honest-newcomer');
      expect(await holders(newcomer, earlyTopic!)).toEqual([peerIdFor('honest-early-peer')]);
      const [late] = randomTopics(1);
      newcomer.send({ t: 'announce', topics: [late] });
      await newcomer.next(errorCode('server-busy'));
      newcomer.ws.terminate();
    });
    const afterFirst = await collected();
    // A second flood reuses the memory the first one left: the process does not grow with each.
    const second = await floodRound(async (flood) => {
      await flood;
    });
    const afterSecond = await collected();

    const boundMB =
      (maxTopicEntries * WORST_BYTES_PER_TOPIC_ENTRY + first.sockets * BYTES_PER_SOCKET + HEAP_HEADROOM_BYTES) /
      2 ** 20;
    const mb = (n: number) => n.toFixed(0);
    console.log(
      `topic flood, ${first.sockets} sockets from ${first.addresses} forwarded addresses, budget ${maxTopicEntries} entries (bound on growth ${mb(boundMB)} MB):\n` +
        `  server RSS  before ${mb(before.rssMB)} MB, peak ${mb(first.peak.rssMB)} MB, after (collected) ${mb(afterFirst.rssMB)} MB; ` +
        `second flood peak ${mb(second.peak.rssMB)} MB, after ${mb(afterSecond.rssMB)} MB\n` +
        `  live heap   before ${mb(before.heapMB)} MB, peak ${mb(first.peak.heapMB)} MB, after (collected) ${mb(afterFirst.heapMB)} MB; ` +
        `second flood peak ${mb(second.peak.heapMB)} MB, after ${mb(afterSecond.heapMB)} MB; ` +
        `refused as busy: ${first.busy} of ${first.sockets} sockets`,
    );
    expect(first.busy).toBeGreaterThan(0);
    expect(first.peak.rssMB - before.rssMB).toBeLessThan(boundMB);
    expect(second.peak.rssMB - before.rssMB).toBeLessThan(boundMB);
    // Everything the flood announced is gone from the heap once its sockets have closed.
    expect(afterFirst.heapMB - before.heapMB).toBeLessThan(LEFTOVER_HEAP_MB);
    expect(afterSecond.heapMB - before.heapMB).toBeLessThan(LEFTOVER_HEAP_MB);
  }, 240_000);
});

/**
 * Sockets at many forwarded addresses each announce their full allowance, 100 topics per message,
 * then look up, whose answer says the server has handled them all. Together they try 20% more than
 * the budget. `during` runs meanwhile, given the flood's completion; the server's RSS and heap are
 * sampled throughout. Once `during` is done the flood's sockets close and the table empties.
 */
async function floodRound(during: (flood: Promise<unknown>) => Promise<void>) {
  const { maxTopicsPerSocket, maxTopicsPerAddress, maxTopicEntries } = DEFAULT_LIMITS;
  const socketsPerAddress = maxTopicsPerAddress / maxTopicsPerSocket;
  const addresses = Math.ceil((maxTopicEntries * 1.2) / maxTopicsPerAddress);
  const round = randomBytes(2).readUInt16BE();
  let peak = await memory();
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const now = await memory();
      peak = {
        rssMB: Math.max(peak.rssMB, now.rssMB),
        heapMB: Math.max(peak.heapMB, now.heapMB),
        topicEntries: Math.max(peak.topicEntries, now.topicEntries),
      };
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  const flood: RawSocket[] = [];
  const floodSocket = async (address: number, index: number) => {
    const client = await behindProxy(`198.18.${address >> 8}.${address & 255}`);
    flood.push(client);
    await sayHello(client, `flood-${round}-${address}-${index}`);
    const mine = randomTopics(maxTopicsPerSocket);
    for (let i = 0; i < mine.length; i += 100) client.send({ t: 'announce', topics: mine.slice(i, i + 100) });
    await holders(client, mine[0]!);
  };
  const done = Promise.all(
    Array.from({ length: addresses }, (_, a) =>
      Promise.all(Array.from({ length: socketsPerAddress }, (_, i) => floodSocket(a + 1, i))),
    ),
  );
  try {
    await during(done);
    await done;
  } finally {
    sampling = false;
    await sampler;
  }
  const busy = flood.filter((c) => c.messages.some(errorCode('server-busy'))).length;
  for (const c of flood) c.ws.terminate();
  // Only the honest early peer's topic is left.
  await expect.poll(async () => (await memory()).topicEntries, { timeout: 20_000 }).toBe(1);
  return { peak, busy, sockets: addresses * socketsPerAddress, addresses };
}

describe('the HTTP front', () => {
  /** Opens a raw TCP connection from `localAddress`; records what it received and when it closed. */
  function rawTcp(localAddress: string, partial: string) {
    let received = '';
    const socket = net.connect({ host: '127.0.0.1', port: serve.port, localAddress });
    const connected = new Promise<void>((resolve, reject) => {
      socket.once('connect', () => {
        socket.write(partial);
        resolve();
      });
      socket.once('error', reject);
    });
    socket.on('data', (d: Buffer) => (received += d.toString()));
    const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(received)));
    socket.on('error', () => {
      // A reset is one of the ways the server may cut it off: `closed` says what arrived.
    });
    return { socket, connected, closed };
  }

  const partials = [
    'GET /hea',
    'GET /health HTTP/1.1\r\nHost: x\r\n',
    'GET /signal HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnec',
  ];

  it('closes 1,000 half-sent requests at the header deadline and answers /health meanwhile', async () => {
    // Eight client addresses (not the trusted proxy), each under the per-address connection cap.
    const slow = Array.from({ length: 1_000 }, (_, i) =>
      rawTcp(`127.0.1.${1 + (i % 8)}`, partials[i % partials.length]!),
    );
    await Promise.all(slow.map((s) => s.connected));
    const health = await fetch(`${serve.url}/health`);
    expect(health.status).toBe(200);
    const deadline = (HEADER_TIMEOUT_S * 1000 + DEFAULT_HTTP_LIMITS.checkIntervalMs) * 3;
    const answers = await Promise.race([
      Promise.all(slow.map((s) => s.closed)),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('half-sent requests still open past the header deadline')), deadline),
      ),
    ]);
    expect(answers.filter((a) => a.startsWith('HTTP/1.1 408'))).toHaveLength(1_000);
  });

  it('closes connections from one address past its share at once, and serves others', async () => {
    const cap = DEFAULT_HTTP_LIMITS.maxConnectionsPerAddress;
    const hogs = Array.from({ length: cap + 40 }, () => rawTcp('127.0.2.1', 'GET /'));
    // Over the cap: closed on accept, before any answer. The rest wait for the header deadline.
    const health = await fetch(`${serve.url}/health`);
    expect(health.status).toBe(200);
    const settled = await Promise.all(hogs.map((h) => h.closed));
    expect(settled.filter((a) => a === '')).toHaveLength(40);
    expect(settled.filter((a) => a.startsWith('HTTP/1.1 408'))).toHaveLength(cap);
    const metrics = await metricsText();
    const refused = Number(/^mycel_http_refused_total\{reason="too-many-connections"\} (\d+)$/m.exec(metrics)?.[1]);
    expect(refused).toBeGreaterThanOrEqual(40);
  });
});
