// An open seed (no allow list) that a stranger cannot squat: a real `mycel serve` and real `mycel
// put`/`mycel renew` processes, each stranger with its own identity kept in a folder; and a peer in
// this process speaking the wire protocol over a real data channel.
//
// Played here: a stranger uploads until its per-peer quota refuses it (the refusal names that
// limit), and an honest put still works, before and after a restart of the seed (the stranger's
// files still count: owners and sizes are on disk); the operator shortens the TTL, and the
// stranger's unrenewed files are withdrawn and their space freed while its renewed one stays. A
// stranger that commits only a root block, or a file missing one block, is refused `incomplete`
// and the seed never announces it.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreRefusedError } from '../../src/errors.js';
import { parseLink } from '../../src/content/share-link.js';
import { sealFile, type SealedBlock } from '../../src/content/seal.js';
import { ephemeralIdentity } from '../../src/net/identity.js';
import { SignalClient } from '../../src/net/signal-client.js';
import { nodeSocketFactory } from '../../src/node/seed.js';
import { pseudoRandomBytes } from '../helpers/data.js';
import { sameFiles, writeGeneratedFile } from '../helpers/files.js';
import { freePort, logged, runMycel, seedIdOf, startMycel, tempDir, type MycelProcess } from '../helpers/processes.js';
import { startUploader, type Uploader } from '../helpers/uploader.js';

const MiB = 2 ** 20;
const running: MycelProcess[] = [];
const dirs: string[] = [];
const closers: (() => void)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await Promise.all(running.splice(0).map((p) => p.kill('SIGKILL')));
  await Promise.all(dirs.splice(0).map((d) => fs.rm(d, { recursive: true, force: true })));
});

interface Net {
  dir: string;
  data: string;
  port: number;
  url: string;
  signalUrl: string;
  seedId: string;
}

async function net(): Promise<Net> {
  const dir = await tempDir('open-seed');
  dirs.push(dir);
  const data = path.join(dir, 'seed');
  const port = await freePort();
  return {
    dir,
    data,
    port,
    url: `http://127.0.0.1:${port}`,
    signalUrl: `ws://127.0.0.1:${port}/signal`,
    seedId: await seedIdOf(data),
  };
}

/** `mycel serve` on the network's fixed port (links keep working across restarts). */
async function serve(n: Net, extra: string[] = []): Promise<MycelProcess> {
  const proc = startMycel(['serve', '--port', String(n.port), '--host', '127.0.0.1', '--data', n.data, ...extra]);
  running.push(proc);
  await proc.waitForLine(logged('seed ready'), 30_000);
  return proc;
}

async function observer(signalUrl: string): Promise<SignalClient> {
  const client = new SignalClient({ url: signalUrl, identity: ephemeralIdentity(), createSocket: nodeSocketFactory });
  closers.push(() => client.close());
  client.start();
  await client.ready();
  return client;
}

const lastLine = (text: string) => text.trim().split('\n').pop();

describe('an open seed and a stranger who would fill it', () => {
  it('holds the stranger to its own quota across a restart, until its unrenewed files expire; honest puts work throughout', async () => {
    const n = await net();
    const stranger = path.join(n.dir, 'stranger');
    const files = await Promise.all(
      ['a', 'b', 'c', 'honest-1', 'honest-2'].map(async (name, i) => {
        const file = path.join(n.dir, `${name}.bin`);
        await writeGeneratedFile(file, 3 * MiB, 100 + i);
        return file;
      }),
    );
    const [fileA, fileB, fileC, honest1, honest2] = files as [string, string, string, string, string];
    const put = (file: string, identity?: string) =>
      runMycel(['put', file, '--server', n.url, ...(identity ? ['--identity', identity] : [])]);
    const overQuota =
      /refused to store: this seed keeps at most 8\.00 MiB for each peer not on its allow list, and [\d.]+ MiB are held for this one$/;
    const limits = ['--quota', '64MiB', '--peer-quota', '8MiB'];

    let seed = await serve(n, [...limits, '--open-ttl', '1h']);
    const a = await put(fileA, stranger);
    expect(a.code, a.stderr).toBe(0);
    const b = await put(fileB, stranger);
    expect(b.code, b.stderr).toBe(0);
    const c = await put(fileC, stranger);
    expect(c.code).toBe(1);
    expect(lastLine(c.stderr)).toMatch(overQuota);
    const h1 = await put(honest1);
    expect(h1.code, h1.stderr).toBe(0);

    // Restarted: the stranger's files still count against it, and honest puts still work.
    await seed.kill('SIGTERM');
    seed = await serve(n, [...limits, '--open-ttl', '1h']);
    const again = await put(fileC, stranger);
    expect(again.code).toBe(1);
    expect(lastLine(again.stderr)).toMatch(overQuota);
    const h2 = await put(honest2);
    expect(h2.code, h2.stderr).toBe(0);
    const out = path.join(n.dir, 'a.out');
    const getA = await runMycel(['get', a.stdout.trim(), '-o', out, '--cache', path.join(n.dir, 'cache')]);
    expect(getA.code, getA.stderr).toBe(0);
    expect(await sameFiles(fileA, out)).toBe(true);

    // The stranger keeps renewing file a (as its page would), not file b. The operator shortens
    // the TTL to 20 s: file b lapses, file a stays.
    const renew = () => runMycel(['renew', a.stdout.trim(), '--identity', stranger]);
    const firstRenewal = await renew();
    expect(firstRenewal.code, firstRenewal.stderr).toBe(0);
    expect(lastLine(firstRenewal.stderr)).toBe('renewed on 1 seed');
    await seed.kill('SIGTERM');
    seed = await serve(n, [...limits, '--open-ttl', '20s']);
    let renewing = true;
    const renewals = (async () => {
      const failed: string[] = [];
      while (renewing) {
        const r = await renew();
        if (r.code !== 0) failed.push(r.stderr);
      }
      return failed;
    })();
    const rootA = parseLink(a.stdout.trim()).root;
    const rootB = parseLink(b.stdout.trim()).root;
    try {
      const looker = await observer(n.signalUrl);
      await expect.poll(() => looker.lookup(rootB), { timeout: 45_000, interval: 500 }).toEqual([]);
      expect(await looker.lookup(rootA)).toEqual([n.seedId]);
      const expired = await seed.waitForLine((line) => logged('file expired')(line) && JSON.parse(line).root === rootB);
      expect(JSON.parse(expired).bytes).toBeGreaterThanOrEqual(3 * MiB);
    } finally {
      renewing = false;
    }
    // One process at a time per identity: the signaling server keeps only the latest connection.
    expect(await renewals).toEqual([]);
    // File b's space is free again: a + c fit in the stranger's 8 MiB.
    const c2 = await put(fileC, stranger);
    expect(c2.code, c2.stderr).toBe(0);
  }, 240_000);
});

describe('a commit of a file the seed does not hold whole', () => {
  it('is refused as incomplete, naming how many blocks are missing, and never announced', async () => {
    const n = await net();
    await serve(n);
    const up: Uploader = await startUploader(n.signalUrl);
    closers.push(() => up.close());
    const session = await up.swarm.connect(n.seedId);
    const blocks: SealedBlock[] = [];
    const sealed = await sealFile([pseudoRandomBytes(3 * MiB, 7)], (block) => void blocks.push(block), {
      name: 'partial.bin',
    });
    expect(blocks).toHaveLength(13); // 12 data blocks and the root
    const looker = await observer(n.signalUrl);

    // Only the root block: the seed could not serve a byte of the file.
    const rootOnly = randomBytes(16);
    await session.store(rootOnly, blocks.find((b) => b.id === sealed.root)!.bytes);
    const refused = await session.commit(rootOnly, sealed.root).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(StoreRefusedError);
    expect(refused).toMatchObject({
      reason: 'incomplete',
      detail: "the seed lacks 12 of the file's 13 blocks, and keeps only whole files",
    });

    // Every block but one.
    const allButOne = randomBytes(16);
    for (const block of blocks) if (block !== blocks[5]) await session.store(allButOne, block.bytes);
    const refusedAgain = await session.commit(allButOne, sealed.root).catch((e: unknown) => e);
    expect(refusedAgain).toMatchObject({
      reason: 'incomplete',
      detail: "the seed lacks 1 of the file's 13 blocks, and keeps only whole files",
    });
    expect(await looker.lookup(sealed.root)).toEqual([]);
    expect(up.swarm.isBanned(n.seedId)).toBe(false);

    // The same file whole is taken and announced: the refusals were about wholeness alone.
    const whole = randomBytes(16);
    for (const block of blocks) await session.store(whole, block.bytes);
    await session.commit(whole, sealed.root);
    await expect.poll(() => looker.lookup(sealed.root), { timeout: 10_000 }).toEqual([n.seedId]);
  }, 90_000);

  it('is listed through its index blocks: refused without them or without its data, taken whole', async () => {
    const n = await net();
    await serve(n);
    const up: Uploader = await startUploader(n.signalUrl);
    closers.push(() => up.close());
    const session = await up.swarm.connect(n.seedId);
    // 4,100 chunks of 1 KiB: more than a root lists inline, so the data ids are in an index block.
    const blocks: SealedBlock[] = [];
    const sealed = await sealFile([pseudoRandomBytes(4100 * 1024, 8)], (block) => void blocks.push(block), {
      name: 'indexed.bin',
      chunkSize: 1024,
    });
    expect(sealed.indexIds).toHaveLength(1);
    const root = blocks.find((b) => b.id === sealed.root)!;
    const index = blocks.find((b) => b.id === sealed.indexIds[0])!;
    const pushAll = async (upload: Uint8Array, which: SealedBlock[]) => {
      const window: Promise<void>[] = [];
      for (const block of which) {
        window.push(session.store(upload, block.bytes));
        if (window.length >= 8) await window.shift();
      }
      await Promise.all(window);
    };

    const rootOnly = randomBytes(16);
    await pushAll(rootOnly, [root]);
    expect(await session.commit(rootOnly, sealed.root).catch((e: unknown) => e)).toMatchObject({
      reason: 'incomplete',
      detail: "the seed lacks 4101 of the file's 4102 blocks, and keeps only whole files",
    });
    const noData = randomBytes(16);
    await pushAll(noData, [root, index]);
    expect(await session.commit(noData, sealed.root).catch((e: unknown) => e)).toMatchObject({
      reason: 'incomplete',
      detail: "the seed lacks 4100 of the file's 4102 blocks, and keeps only whole files",
    });
    const whole = randomBytes(16);
    await pushAll(whole, blocks);
    await session.commit(whole, sealed.root);
    const looker = await observer(n.signalUrl);
    await expect.poll(() => looker.lookup(sealed.root), { timeout: 10_000 }).toEqual([n.seedId]);
  }, 120_000);
});
