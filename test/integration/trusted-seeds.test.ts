// Seeds are the deployment's word, and a copy counts only once it is proven. Real `mycel signal`
// (listing its seeds by id), a real `mycel seed`, real `mycel put`/`get` processes, and in this
// process seeds built from the real Seed class over a store that acknowledges every write and
// keeps nothing but roots (what a cheating or broken seed does).
//
// Played here: unlisted peers announcing the seeds topic (refused, never offered, a put with only
// them around stores nowhere and says so); a LISTED seed that acknowledges stores and the commit but
// kept nothing (the put's read-back catches it: reported failed, never counted).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ephemeralIdentity, type PeerIdentity } from '../../src/net/identity.js';
import { SEEDS_TOPIC } from '../../src/net/signal-messages.js';
import { SignalClient } from '../../src/net/signal-client.js';
import { Seed, nodeSocketFactory } from '../../src/node/seed.js';
import { createLogger } from '../../src/node/log.js';
import { createMemoryBlockStore } from '../../src/store/memory.js';
import type { BlockStore } from '../../src/store/block-store.js';
import { decodeRootStructure } from '../../src/content/manifest.js';
import { freePort, logged, runMycel, seedIdOf, startMycel, tempDir, type MycelProcess } from '../helpers/processes.js';
import { sameFiles, writeGeneratedFile } from '../helpers/files.js';

const running: MycelProcess[] = [];
const seeds: Seed[] = [];
const clients: SignalClient[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(seeds.splice(0).map((s) => s.close()));
  await Promise.all(running.splice(0).map((p) => p.kill('SIGKILL')));
  await Promise.all(dirs.splice(0).map((d) => fs.rm(d, { recursive: true, force: true })));
});

/**
 * A block store that says yes to every write and keeps nothing but roots: it claims to hold every
 * block it was given (enough to pass the seed's own whole-file check at commit), and keeps only
 * the root (enough for that check to read it).
 */
function droppingStore(): { store: BlockStore; writes: () => number } {
  const inner = createMemoryBlockStore();
  const claimed = new Map<string, number>();
  let writes = 0;
  const isRoot = (id: string, bytes: Uint8Array) => {
    try {
      decodeRootStructure(id, bytes);
      return true;
    } catch {
      return false;
    }
  };
  const lies: Partial<BlockStore> = {
    put: async (id, bytes) => {
      writes++;
      claimed.set(id, bytes.length);
      if (isRoot(id, bytes)) await inner.put(id, bytes);
    },
    has: async (id) => claimed.has(id),
    blockSize: (id) => claimed.get(id),
    usage: async () => ({ ...(await inner.usage()), blocks: claimed.size }),
  };
  const store = new Proxy(inner, {
    get(target, prop) {
      if (prop in lies) return lies[prop as keyof BlockStore];
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store, writes: () => writes };
}

/** A real Seed in this process, keeping nothing; `log` collects what it logs. */
async function hollowSeed(signalUrl: string, dir: string, identity: PeerIdentity) {
  const { store, writes } = droppingStore();
  const lines: string[] = [];
  const seed = await Seed.start({
    dataDir: dir,
    quota: 2 ** 30,
    signalUrl,
    identity,
    store,
    log: createLogger({ level: 'info', write: (line) => lines.push(line) }),
  });
  seeds.push(seed);
  await seed.swarm.signaling.ready();
  return { seed, writes, lines };
}

async function network(listed: string[]) {
  const dir = await tempDir('trusted');
  dirs.push(dir);
  const port = await freePort();
  const signal = startMycel([
    'signal',
    '--port',
    String(port),
    '--host',
    '127.0.0.1',
    ...listed.flatMap((id) => ['--seed', id]),
  ]);
  running.push(signal);
  await signal.waitForLine(logged('listening'));
  return { dir, url: `http://127.0.0.1:${port}`, signalUrl: `ws://127.0.0.1:${port}/signal`, signal };
}

async function observer(signalUrl: string): Promise<SignalClient> {
  const client = new SignalClient({ url: signalUrl, identity: ephemeralIdentity(), createSocket: nodeSocketFactory });
  clients.push(client);
  client.start();
  await client.ready();
  return client;
}

describe('seeds the deployment did not name', () => {
  it('are refused when they announce the seeds topic, and never offered as seeds', async () => {
    const dir = await tempDir('trusted-listed');
    dirs.push(dir);
    const honestData = path.join(dir, 'honest');
    const honestId = await seedIdOf(honestData);
    const net = await network([honestId]);
    const honest = startMycel(['seed', '--signal', net.signalUrl, '--data', honestData]);
    running.push(honest);
    await honest.waitForLine(logged('seed ready'));

    const fakes = await Promise.all(
      [1, 2, 3].map((i) => hollowSeed(net.signalUrl, path.join(net.dir, `fake-${i}`), ephemeralIdentity())),
    );
    for (const fake of fakes) {
      const refused = JSON.parse(
        await waitFor(fake.lines, (l) =>
          logged('the signaling server does not list this seed, so nobody is offered it as a seed')(l),
        ),
      );
      expect(refused.fix).toBe(`start the signaling server with --seed ${fake.seed.peerId}`);
    }
    const looker = await observer(net.signalUrl);
    await expect.poll(() => looker.lookup(SEEDS_TOPIC), { timeout: 10_000 }).toEqual([honestId]);
    const metrics = await (await fetch(`${net.url}/metrics`)).text();
    expect(metrics).toMatch(/mycel_signal_rejected_total\{reason="not-a-seed"\} [3-9]/);
  }, 60_000);

  it('take no put: with only them around, put stores nowhere and says so', async () => {
    const net = await network([ephemeralIdentity().id]); // the listed seed is not running
    const fakes = await Promise.all(
      [1, 2].map((i) => hollowSeed(net.signalUrl, path.join(net.dir, `fake-${i}`), ephemeralIdentity())),
    );
    const file = path.join(net.dir, 'nowhere.bin');
    await writeGeneratedFile(file, 1024 * 1024, 51);
    const put = await runMycel(['put', file, '--server', net.url, '--timeout', '3']);
    expect(put.code).toBe(1);
    expect(put.stdout).toBe('');
    expect(put.stderr).toMatch(/no seed answered at .*: nowhere to keep the file/);
    expect(fakes.map((f) => f.writes())).toEqual([0, 0]);
  }, 60_000);
});

describe('a listed seed that keeps nothing', () => {
  it('is caught by the read-back: the put reports it failed and counts only the honest seed', async () => {
    const dir = await tempDir('trusted-hollow');
    dirs.push(dir);
    const honestData = path.join(dir, 'honest');
    const honestId = await seedIdOf(honestData);
    const hollowIdentity = ephemeralIdentity();
    const net = await network([honestId, hollowIdentity.id]);
    const honest = startMycel(['seed', '--signal', net.signalUrl, '--data', honestData]);
    running.push(honest);
    await honest.waitForLine(logged('seed ready'));
    const hollow = await hollowSeed(net.signalUrl, path.join(net.dir, 'hollow'), hollowIdentity);
    const looker = await observer(net.signalUrl);
    await expect
      .poll(async () => (await looker.lookup(SEEDS_TOPIC)).sort(), { timeout: 10_000 })
      .toEqual([honestId, hollowIdentity.id].sort());

    const file = path.join(net.dir, 'proven.bin');
    await writeGeneratedFile(file, 3 * 1024 * 1024, 52);
    const put = await runMycel(['put', file, '--server', net.url]);
    expect(put.code, put.stderr).toBe(0);
    // It did acknowledge every block and the commit...
    expect(hollow.writes()).toBeGreaterThan(10);
    await waitFor(hollow.lines, logged('file stored'));
    // ...and is reported as failed, not counted.
    expect(put.stderr).toContain(
      `mycel: seed ${hollowIdentity.id} failed: peer ${hollowIdentity.id.slice(0, 12)} said it stored the file, but did not have block`,
    );
    expect(put.stderr).toMatch(/stored [\d.]+ MiB on 1 seed$/);
    const out = path.join(net.dir, 'proven.out');
    const get = await runMycel(['get', put.stdout.trim(), '-o', out, '--cache', path.join(net.dir, 'cache')]);
    expect(get.code, get.stderr).toBe(0);
    expect(await sameFiles(file, out)).toBe(true);
  }, 90_000);

  it('alone makes the put fail: no link is printed for a copy that is not there', async () => {
    const hollowIdentity = ephemeralIdentity();
    const net = await network([hollowIdentity.id]);
    const hollow = await hollowSeed(net.signalUrl, path.join(net.dir, 'hollow'), hollowIdentity);
    const file = path.join(net.dir, 'unproven.bin');
    await writeGeneratedFile(file, 1024 * 1024 + 7, 53);
    const put = await runMycel(['put', file, '--server', net.url]);
    expect(put.code).toBe(1);
    expect(put.stdout).toBe('');
    expect(put.stderr.trim().split('\n').pop()).toMatch(
      /^mycel: peer .* said it stored the file, but did not have block .* when asked: not counted as a copy$/,
    );
    expect(hollow.writes()).toBeGreaterThan(0);
  }, 60_000);
});

/** Resolves with the first line in `lines` (now or later) that `match` accepts. */
async function waitFor(lines: string[], match: (line: string) => boolean, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = lines.find(match);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no matching line; got:\n${lines.slice(-10).join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
