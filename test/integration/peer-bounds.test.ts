// Bounded state from every peer, against a real `mycel serve` and real `mycel get` processes over
// real data channels, with the seed's memory sampled from /proc while each attack runs:
// - a `have` flood on an authenticated channel is cut off as a flood, and gets keep working;
// - a new session is never told what the seed holds;
// - ids that announce a file and answer not-found are replaced by the holder that has it;
// - dead offers (signed hellos, real SDP offers, never any ICE) do not keep honest peers out.
// Figures (memory, times, attempts held) are printed for the report, never asserted.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLink } from '../../src/content/share-link.js';
import { ephemeralIdentity } from '../../src/net/identity.js';
import { MAX_CONNECTING } from '../../src/net/limits.js';
import { Swarm } from '../../src/net/swarm.js';
import { FrameType, MAX_HAVE_TOPICS } from '../../src/net/wire.js';
import { nodeSocketFactory } from '../../src/node/seed.js';
import { nodeWrtc } from '../../src/node/wrtc.js';
import type { BlockStore } from '../../src/store/block-store.js';
import { createMemoryBlockStore } from '../../src/store/memory.js';
import { sameFiles, writeGeneratedFile } from '../helpers/files.js';
import { errorFrames, framesOf, openRawLink, startOfferFlood, type RawLink } from '../helpers/hostile.js';
import { MiB, mib, sampleRss } from '../helpers/memory.js';
import { runMycel, startServeHoldingFile, type MycelProcess } from '../helpers/processes.js';

let dir: string;
let serve: { proc: MycelProcess; url: string; port: number };
let signalUrl: string;
let seedPeer: string;
let file: string;
let link: string;
let gets = 0;

/** A figure for the report (printed, not asserted). */
function report(what: string, figures: Record<string, unknown>): void {
  process.stderr.write(`[figure] ${what}: ${JSON.stringify(figures)}\n`);
}

/** A `mycel get` of the test file into a fresh cache; resolves with how it ended. */
async function get(
  extra: string[] = [],
): Promise<{ code: number | string; out: string; seconds: number; stderr: string }> {
  const n = ++gets;
  const out = path.join(dir, `got-${n}.bin`);
  const result = await runMycel(['get', link, '-o', out, '--cache', path.join(dir, `cache-${n}`), '--json', ...extra]);
  const summary = result.code === 0 ? JSON.parse(result.stdout.trim().split('\n').pop()!) : undefined;
  return { code: result.code, out, seconds: summary?.seconds ?? NaN, stderr: result.stderr };
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${serve.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

/** Waits (polling /metrics) until `name` reaches `at least`, or fails after `timeoutMs`. */
async function metricReaches(name: string, atLeast: number, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await metric(name);
    if (value >= atLeast) return value;
    if (Date.now() > deadline) throw new Error(`${name} stayed at ${value}, below ${atLeast}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

beforeAll(async () => {
  ({ dir, serve, signalUrl, seedPeer, file, link } = await startServeHoldingFile('peer-bounds', 7));
});

afterAll(async () => {
  await serve?.proc.kill();
  await fs.rm(dir, { recursive: true, force: true });
});

/**
 * Sends `have` frames of MAX_HAVE_TOPICS fresh topics each, as fast as the channel takes them, until
 * the seed closes the channel or `maxTopics` have gone out.
 */
async function floodHaves(raw: RawLink, maxTopics: number): Promise<{ topics: number; cutOffMs: number | undefined }> {
  let closed = false;
  const start = Date.now();
  const cutOff = raw.closed.then(() => {
    closed = true;
    return Date.now() - start;
  });
  let topics = 0;
  let n = 0;
  const channel = (raw.peer as unknown as { _channel: { bufferedAmount: number } })._channel;
  while (!closed && topics < maxTopics) {
    const ids = Array.from({ length: MAX_HAVE_TOPICS }, () => (n++).toString(16).padStart(64, '0'));
    try {
      raw.sendFrame({ type: FrameType.Have, id: 0, topics: ids });
    } catch {
      break; // the channel is gone
    }
    topics += ids.length;
    // Keep our own send buffer small; let the seed's close arrive.
    while (!closed && channel.bufferedAmount > 4 * MiB) await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
  }
  const ms = await Promise.race([
    cutOff,
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 15_000)),
  ]);
  return { topics, cutOffMs: ms };
}

describe('a have flood on an authenticated data channel', () => {
  it('is cut off as a flood, keeps the seed within bounded memory, and gets during and after it return equal bytes', async () => {
    const rss = await sampleRss(serve.proc.child.pid!);
    const during = get();
    let getEnded = false;
    const ended = () => (getEnded = true);
    during.then(ended, ended);
    // One flooder after another (each is banned once cut off) for as long as the get runs. Each
    // would send up to 2 million topics (~64 MB of frames; the seed used to keep them all).
    const floods: { topics: number; cutOffMs: number | undefined; error: string }[] = [];
    while (!getEnded || floods.length < 3) {
      const raw = await openRawLink(signalUrl, seedPeer);
      const result = await floodHaves(raw, 2_000_000);
      floods.push({ ...result, error: errorFrames(raw.received).join('\n') });
      raw.destroy();
    }
    const duringGet = await during;
    const after = await get();
    const rssAfter = await rss.stop();
    report('have flood', {
      flooders: floods.length,
      topicsSentPerFlooder: floods.map((f) => f.topics),
      cutOffMs: floods.map((f) => f.cutOffMs),
      rssBefore: mib(rss.before),
      rssPeak: mib(rss.peak()),
      rssAfter: mib(rssAfter),
      getDuringSeconds: duringGet.seconds,
      getAfterSeconds: after.seconds,
    });
    for (const flood of floods) {
      expect(flood.cutOffMs).toBeDefined();
      expect(flood.error).toMatch(/have topics per second/);
    }
    expect(duringGet.code, duringGet.stderr).toBe(0);
    expect(await sameFiles(file, duringGet.out)).toBe(true);
    expect(after.code, after.stderr).toBe(0);
    expect(await sameFiles(file, after.out)).toBe(true);
    // Bounded: nothing a flooder names is kept (it used to be ~100 B per topic, gigabytes in all).
    expect(rss.peak() - rss.before).toBeLessThan(128 * MiB);
    expect(serve.proc.child.exitCode).toBeNull();
  }, 180_000);
});

describe('a new session with the seed', () => {
  it('is never sent a have naming what the seed holds, not when it opens and not when the seed gains a file', async () => {
    const raw = await openRawLink(signalUrl, seedPeer, { keepAlive: true });
    const other = path.join(dir, 'gained.bin');
    await writeGeneratedFile(other, 300 * 1024, 8);
    const put = await runMycel(['put', other, '--server', serve.url]);
    expect(put.code, put.stderr).toBe(0);
    const pingsAfterPut = framesOf(raw.received).filter((f) => f.type === FrameType.Ping).length + 2;
    // Two heartbeats after the put: the session was open all along and the seed had every chance.
    await raw.until(
      (received) => framesOf(received).filter((f) => f.type === FrameType.Ping).length >= pingsAfterPut,
      15_000,
    );
    const haves = framesOf(raw.received).filter((f) => f.type === FrameType.Have);
    raw.destroy();
    expect(haves).toEqual([]);
    // The seed does hold both files: it simply did not tell a stranger.
    const roots = [parseLink(link).root, parseLink(put.stdout.trim()).root];
    for (const root of roots) expect(await serveHas(root)).toBe(true);
  }, 60_000);
});

/** Whether the seed answers a want for `id` with the block (asked over a fresh raw link). */
async function serveHas(id: string): Promise<boolean> {
  const raw = await openRawLink(signalUrl, seedPeer);
  try {
    raw.sendFrame({ type: FrameType.Want, id: 1, block: id });
    const answer = () =>
      framesOf(raw.received).find((f) => f.id === 1 && (f.type === FrameType.Block || f.type === FrameType.NotFound));
    await raw.until(() => answer() !== undefined);
    return answer()!.type === FrameType.Block;
  } finally {
    raw.destroy();
  }
}

describe('ids that announce a file and answer not-found for every block', () => {
  it('do not make gets fail while the seed holds the file: 5 of 5 return equal bytes', async () => {
    const baseline = await get();
    expect(baseline.code, baseline.stderr).toBe(0);
    const root = parseLink(link).root;
    let notFound = 0;
    const liars: Swarm[] = [];
    for (let i = 0; i < 16; i++) {
      // Holds nothing, so it answers every want with not-found.
      const empty: BlockStore = {
        ...createMemoryBlockStore(),
        get: async () => {
          notFound++;
          return undefined;
        },
        has: async () => false,
      };
      const identity = ephemeralIdentity();
      const liar = new Swarm({
        identity,
        signalUrl,
        createSocket: nodeSocketFactory,
        wrtc: nodeWrtc,
        host: { store: empty },
      });
      liar.announce([root]);
      liar.start();
      liars.push(liar);
    }
    try {
      await Promise.all(liars.map((l) => l.signaling.ready()));
      const results = [];
      for (let i = 0; i < 5; i++) results.push(await get());
      report('not-found holders', {
        liars: liars.length,
        notFoundAnswers: notFound,
        getSecondsWithLiars: results.map((r) => r.seconds),
        getSecondsWithoutLiars: baseline.seconds,
      });
      for (const result of results) {
        expect(result.code, result.stderr).toBe(0);
        expect(await sameFiles(file, result.out)).toBe(true);
      }
      // The liars were reached and did lie: the gets went around them.
      expect(notFound).toBeGreaterThan(0);
    } finally {
      for (const liar of liars) liar.close();
    }
  }, 240_000);
});

describe('a flood of dead offers against the seed', () => {
  it('does not keep honest peers out: 4 of 4 gets during it return equal bytes', async () => {
    // 320 peer ids with real keys from 16 addresses (127.0.0.10–25, so 16 origins), each renewing a
    // real offer every 2 s and never sending a candidate: more attempts than the seed could ever hold.
    const addresses = Array.from({ length: 16 }, (_, i) => `127.0.0.${10 + i}`);
    const rss = await sampleRss(serve.proc.child.pid!);
    const flood = await startOfferFlood(signalUrl, seedPeer, { addresses, idsPerAddress: 20, everyMs: 2_000 });
    try {
      // The seed's table is full, and has turned over twice: the flood is at full strength.
      await metricReaches('mycel_seed_connecting', MAX_CONNECTING);
      await metricReaches('mycel_seed_attempts_evicted', 2 * MAX_CONNECTING);
      const results = await Promise.all([get(), get(), get(), get()]);
      const offersSent = flood.sent();
      flood.stop();
      const rssAfter = await rss.stop();
      report('dead offers', {
        offersSent,
        heldAtPeak: await metric('mycel_seed_connecting_peak'),
        refused: await metric('mycel_seed_offers_refused'),
        evicted: await metric('mycel_seed_attempts_evicted'),
        rssBefore: mib(rss.before),
        rssPeak: mib(rss.peak()),
        rssAfter: mib(rssAfter),
        getSeconds: results.map((r) => r.seconds),
      });
      for (const result of results) {
        expect(result.code, result.stderr).toBe(0);
        expect(await sameFiles(file, result.out)).toBe(true);
      }
      expect(await metric('mycel_seed_connecting_peak')).toBeLessThanOrEqual(MAX_CONNECTING);
    } finally {
      flood.stop();
    }
  }, 180_000);
});
