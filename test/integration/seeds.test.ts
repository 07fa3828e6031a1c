// Several seeds, and seeds that die: real `mycel signal`, `mycel seed`, `mycel put`, `mycel get`
// processes over loopback. The signaling server lists its seeds by peer id (learned with `mycel
// id`, as an operator would) before they start.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseLink } from '../../src/content/share-link.js';
import { ephemeralIdentity } from '../../src/net/identity.js';
import { freePort, logged, runMycel, seedIdOf, startMycel, tempDir, type MycelProcess } from '../helpers/processes.js';
import { sameFiles, writeGeneratedFile } from '../helpers/files.js';

const MiB = 1024 * 1024;
/** The chunk size files are put with (DEFAULT_CHUNK_SIZE). */
const CHUNK = 256 * 1024;
const running: MycelProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.kill('SIGKILL')));
  await Promise.all(dirs.splice(0).map((d) => fs.rm(d, { recursive: true, force: true })));
});

/** A signaling server listing `seeds` started seeds and `later` seed folders started by the test. */
async function network(seeds: number, later: string[] = []) {
  const dir = await tempDir('seeds');
  dirs.push(dir);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const folders = [...Array.from({ length: seeds }, (_, i) => `seed-${i}`), ...later].map((name) =>
    path.join(dir, name),
  );
  const listed = (await Promise.all(folders.map(seedIdOf))).flatMap((id) => ['--seed', id]);
  const signal = startMycel(['signal', '--port', String(port), '--host', '127.0.0.1', ...listed]);
  running.push(signal);
  await signal.waitForLine(logged('listening'));
  const seedProcs: { proc: MycelProcess; data: string; peer: string }[] = [];
  for (const data of folders.slice(0, seeds)) seedProcs.push({ ...(await startSeed(url, data)), data });
  return { dir, url, seeds: seedProcs };
}

async function startSeed(url: string, data: string, extra: string[] = []) {
  const proc = startMycel(['seed', '--signal', `${url.replace('http', 'ws')}/signal`, '--data', data, ...extra]);
  running.push(proc);
  const ready = JSON.parse(await proc.waitForLine(logged('seed ready')));
  return { proc, peer: ready.peer as string };
}

/** Counts whole blocks in a store folder (the fetch's progress, seen from outside). */
async function blocksIn(dir: string): Promise<number> {
  let count = 0;
  const root = path.join(dir, 'blocks');
  for (const a of await fs.readdir(root).catch(() => [])) {
    for (const b of await fs.readdir(path.join(root, a)).catch(() => [])) {
      count += (await fs.readdir(path.join(root, a, b)).catch(() => [])).length;
    }
  }
  return count;
}

/** Bytes in the partial files of gets to `dir` (the fetch's progress, seen from outside). */
async function partialBytes(dir: string): Promise<number> {
  let bytes = 0;
  for (const name of await fs.readdir(dir)) {
    if (name.endsWith('.mycel-partial'))
      bytes += (await fs.stat(path.join(dir, name)).catch(() => undefined))?.size ?? 0;
  }
  return bytes;
}

/** Where a get of `link` to `out` keeps what it wrote until it is done (as `mycel get` names it). */
function partialFor(out: string, link: string): string {
  return path.join(path.dirname(out), `.${path.basename(out)}.${parseLink(link).root.slice(0, 16)}.mycel-partial`);
}

/** Blocks a get's --json summary says it fetched, over all sources. */
function fetchedBlocks(summary: { sources: Record<string, { blocks: number }> }): number {
  return Object.values(summary.sources).reduce((a, b) => a + b.blocks, 0);
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('seeds', () => {
  // Retried because the claim needs both WebRTC connections up before the file is through, and
  // about one connect in twenty on node-datachannel needs a second attempt (see the notes).
  it(
    'a put stores the file on every seed, and a get draws blocks from both',
    { retry: 2, timeout: 120_000 },
    async () => {
      const net = await network(2);
      const file = path.join(net.dir, 'shared.bin');
      // Large enough that the fetch is still running when the second seed's connection is up.
      await writeGeneratedFile(file, 64 * MiB, 5);
      const put = await runMycel(['put', file, '--server', net.url]);
      expect(put.code, put.stderr).toBe(0);
      expect(put.stderr).toMatch(/on 2 seeds/);
      const out = path.join(net.dir, 'shared.out');
      const get = await runMycel([
        'get',
        put.stdout.trim(),
        '-o',
        out,
        '--cache',
        path.join(net.dir, 'cache'),
        '--json',
      ]);
      expect(get.code, get.stderr).toBe(0);
      expect(await sameFiles(file, out)).toBe(true);
      const { sources } = JSON.parse(get.stdout.trim());
      const [a = 0, b = 0] = net.seeds.map((s) => (sources as Record<string, { blocks: number }>)[s.peer]?.blocks ?? 0);
      expect(a).toBeGreaterThan(0);
      expect(b).toBeGreaterThan(0);
      expect(a + b).toBeGreaterThanOrEqual(257); // 256 data blocks and the manifest root
    },
  );

  it('a get survives its only seed being killed and restarted, and completes with equal bytes', async () => {
    const net = await network(1);
    const seed = net.seeds[0]!;
    const file = path.join(net.dir, 'resume.bin');
    await writeGeneratedFile(file, 96 * MiB, 9);
    const put = await runMycel(['put', file, '--server', net.url]);
    expect(put.code, put.stderr).toBe(0);

    const cache = path.join(net.dir, 'cache');
    const out = path.join(net.dir, 'resume.out');
    const get = startMycel(['get', put.stdout.trim(), '-o', out, '--cache', cache, '--json', '--timeout', '60']);
    running.push(get);
    await until(async () => (await partialBytes(net.dir)) >= 40 * CHUNK, 60_000, 'the get to write 40 chunks');
    expect(await seed.proc.kill('SIGKILL')).toBe('SIGKILL');
    expect(await partialBytes(net.dir)).toBeLessThan(96 * MiB);

    const restarted = await startSeed(net.url, seed.data);
    expect(restarted.peer).toBe(seed.peer);
    expect(await get.exited).toBe(0);
    expect(await sameFiles(file, out)).toBe(true);
  }, 180_000);

  it('a get that is killed and started again fetches only the chunks its partial file lacks', async () => {
    const net = await network(1);
    const file = path.join(net.dir, 'again.bin');
    await writeGeneratedFile(file, 64 * MiB, 13);
    const link = (await runMycel(['put', file, '--server', net.url])).stdout.trim();
    const cache = path.join(net.dir, 'cache');
    const out = path.join(net.dir, 'again.out');
    const first = startMycel(['get', link, '-o', out, '--cache', cache]);
    running.push(first);
    await until(async () => (await partialBytes(net.dir)) >= 60 * CHUNK, 60_000, 'the first get to write 60 chunks');
    expect(await first.kill('SIGKILL')).toBe('SIGKILL');
    const held = Math.floor((await partialBytes(net.dir)) / CHUNK);
    expect(held).toBeLessThan(256);
    // The data blocks went to the file alone, not to the block cache as well.
    expect(await blocksIn(cache)).toBeLessThanOrEqual(1);

    const second = await runMycel(['get', link, '-o', out, '--cache', cache, '--json']);
    expect(second.code, second.stderr).toBe(0);
    expect(await sameFiles(file, out)).toBe(true);
    const summary = JSON.parse(second.stdout.trim());
    expect(summary.resumed).toBe(held * CHUNK);
    // 256 data blocks and the root (held in the cache by the first get): the second get fetched
    // only the chunks after the resumed ones.
    expect(fetchedBlocks(summary)).toBeLessThanOrEqual(256 - held + 1);
    expect(fetchedBlocks(summary)).toBeGreaterThan(0);
    expect(await partialBytes(net.dir)).toBe(0);
  }, 120_000);

  it('a get that is interrupted keeps its partial file and says the same get resumes it', async () => {
    const net = await network(1);
    const file = path.join(net.dir, 'stopped.bin');
    await writeGeneratedFile(file, 64 * MiB, 15);
    const link = (await runMycel(['put', file, '--server', net.url])).stdout.trim();
    const out = path.join(net.dir, 'stopped.out');
    const get = startMycel(['get', link, '-o', out, '--cache', path.join(net.dir, 'cache')]);
    running.push(get);
    await until(async () => (await partialBytes(net.dir)) >= 20 * CHUNK, 60_000, 'the get to write 20 chunks');
    expect(await get.kill('SIGINT')).not.toBe(0);
    expect(get.stderr.join('\n')).toMatch(/kept .*\.mycel-partial .*: the same get resumes it/);
    expect(await partialBytes(net.dir)).toBeGreaterThanOrEqual(20 * CHUNK);
    await expect(fs.stat(out)).rejects.toThrow();
  }, 120_000);

  it('a partial file overwritten in the middle is cut at the first bad chunk, and the file comes out equal', async () => {
    const net = await network(1);
    const file = path.join(net.dir, 'torn.bin');
    await writeGeneratedFile(file, 16 * MiB, 16);
    const link = (await runMycel(['put', file, '--server', net.url])).stdout.trim();
    const out = path.join(net.dir, 'torn.out');
    // What a crash can leave: the first 40 chunks written, garbage over part of chunk 20.
    const bytes = (await fs.readFile(file)).subarray(0, 40 * CHUNK);
    bytes.fill(0xa5, 20 * CHUNK + 1000, 20 * CHUNK + 5000);
    await fs.writeFile(partialFor(out, link), bytes);

    const get = await runMycel(['get', link, '-o', out, '--cache', path.join(net.dir, 'cache'), '--json']);
    expect(get.code, get.stderr).toBe(0);
    expect(await sameFiles(file, out)).toBe(true);
    const summary = JSON.parse(get.stdout.trim());
    expect(summary.resumed).toBe(20 * CHUNK);
    // 64 data blocks and the root: the 20 good chunks were not fetched.
    expect(fetchedBlocks(summary)).toBeLessThanOrEqual(64 - 20 + 1);
  }, 120_000);

  it('a partial file of another file under the same name is not trusted', async () => {
    const net = await network(1);
    const file = path.join(net.dir, 'mine.bin');
    const other = path.join(net.dir, 'other.bin');
    await writeGeneratedFile(file, 16 * MiB, 17);
    await writeGeneratedFile(other, 16 * MiB, 18);
    const link = (await runMycel(['put', file, '--server', net.url])).stdout.trim();
    const out = path.join(net.dir, 'mine.out');
    await fs.copyFile(other, partialFor(out, link));

    const get = await runMycel(['get', link, '-o', out, '--cache', path.join(net.dir, 'cache'), '--json']);
    expect(get.code, get.stderr).toBe(0);
    expect(await sameFiles(file, out)).toBe(true);
    expect(JSON.parse(get.stdout.trim()).resumed).toBe(0);
  }, 120_000);

  it('a seed keeps its files across a restart', async () => {
    const net = await network(1);
    const file = path.join(net.dir, 'kept.bin');
    await writeGeneratedFile(file, 3 * MiB, 11);
    const link = (await runMycel(['put', file, '--server', net.url])).stdout.trim();
    await net.seeds[0]!.proc.kill('SIGTERM');
    await startSeed(net.url, net.seeds[0]!.data);
    const out = path.join(net.dir, 'kept.out');
    const get = await runMycel(['get', link, '-o', out, '--cache', path.join(net.dir, 'cache')]);
    expect(get.code, get.stderr).toBe(0);
    expect(await sameFiles(file, out)).toBe(true);
  }, 60_000);

  it('a seed refuses what its quota cannot hold, and the put says so', async () => {
    const net = await network(0, ['small-seed']);
    // The whole quota open to strangers: the limit met is the quota's, not the open share's.
    await startSeed(net.url, path.join(net.dir, 'small-seed'), ['--quota', '1MiB', '--open-share', '1']);
    const file = path.join(net.dir, 'too-big.bin');
    await writeGeneratedFile(file, 4 * MiB, 12);
    const put = await runMycel(['put', file, '--server', net.url]);
    expect(put.code).toBe(1);
    expect(put.stdout).toBe('');
    expect(put.stderr.trim().split('\n').pop()).toMatch(/^mycel: peer .* refused to store: storage quota exceeded/);
  }, 60_000);

  it('a seed with an allow list refuses everyone else', async () => {
    const net = await network(0, ['s']);
    await startSeed(net.url, path.join(net.dir, 's'), ['--allow', ephemeralIdentity().id]);
    const file = path.join(net.dir, 'f.bin');
    await fs.writeFile(file, 'data');
    const put = await runMycel(['put', file, '--server', net.url]);
    expect(put.code).toBe(1);
    expect(put.stderr).toMatch(/refused to store: this seed keeps blocks only for its allow list/);
  }, 60_000);

  it('a seed with an allow list takes a put from a listed peer, proven by its key', async () => {
    const net = await network(0, ['s']);
    const uploader = path.join(net.dir, 'uploader');
    await startSeed(net.url, path.join(net.dir, 's'), ['--allow', await seedIdOf(uploader)]);
    const file = path.join(net.dir, 'f.bin');
    await writeGeneratedFile(file, 1024 * 1024, 14);
    const put = await runMycel(['put', file, '--server', net.url, '--identity', uploader]);
    expect(put.code, put.stderr).toBe(0);
    expect(put.stderr).toMatch(/on 1 seed\b/);
    const out = path.join(net.dir, 'f.out');
    const get = await runMycel(['get', put.stdout.trim(), '-o', out, '--cache', path.join(net.dir, 'cache')]);
    expect(get.code, get.stderr).toBe(0);
    expect(await sameFiles(file, out)).toBe(true);
  }, 60_000);
});

/** The claims (lock files) gets hold on their partial files in `dir`. */
async function claimsIn(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).filter((name) => name.endsWith('.mycel-partial.lock'));
}

describe("a get's claim on its partial file", () => {
  it('a second get to the same file while the first writes it stops at once, and the first saves it whole', async () => {
    const net = await network(1);
    const file = path.join(net.dir, 'twice.bin');
    await writeGeneratedFile(file, 64 * MiB, 21);
    const link = (await runMycel(['put', file, '--server', net.url])).stdout.trim();
    const out = path.join(net.dir, 'twice.out');
    const first = startMycel(['get', link, '-o', out, '--cache', path.join(net.dir, 'cache-1'), '--timeout', '60']);
    running.push(first);
    await until(async () => (await partialBytes(net.dir)) >= 8 * CHUNK, 60_000, 'the first get to write 8 chunks');
    // Paused, the first get surely still holds its claim while the second runs, and its partial
    // stays as it is unless the second touches it.
    first.child.kill('SIGSTOP');
    const partialBefore = await fs.readFile(partialFor(out, link));
    const second = await runMycel(['get', link, '-o', out, '--cache', path.join(net.dir, 'cache-2'), '--json']);
    const partialAfter = await fs.readFile(partialFor(out, link));
    const outAfter = await fs.stat(out).catch(() => undefined);
    first.child.kill('SIGCONT');
    expect(partialAfter.equals(partialBefore)).toBe(true);
    expect(outAfter).toBeUndefined();
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`mycel: another get (pid ${first.child.pid}) is writing ${out}`);
    expect(second.stdout).toBe('');

    expect(await first.exited).toBe(0);
    expect(await sameFiles(file, out)).toBe(true);
  }, 120_000);

  it('a claim left by a get killed with SIGKILL is taken over: the next get resumes and leaves no claim', async () => {
    const net = await network(1);
    const file = path.join(net.dir, 'killed.bin');
    await writeGeneratedFile(file, 64 * MiB, 22);
    const link = (await runMycel(['put', file, '--server', net.url])).stdout.trim();
    const cache = path.join(net.dir, 'cache');
    const out = path.join(net.dir, 'killed.out');
    const first = startMycel(['get', link, '-o', out, '--cache', cache]);
    running.push(first);
    await until(async () => (await partialBytes(net.dir)) >= 20 * CHUNK, 60_000, 'the first get to write 20 chunks');
    expect(await first.kill('SIGKILL')).toBe('SIGKILL');
    // Killed outright, the get could not release its claim: its pid names a process that is gone.
    expect(await claimsIn(net.dir)).toHaveLength(1);

    const second = await runMycel(['get', link, '-o', out, '--cache', cache, '--json']);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout.trim()).resumed).toBeGreaterThan(0);
    expect(await sameFiles(file, out)).toBe(true);
    expect(await claimsIn(net.dir)).toEqual([]);
  }, 120_000);

  it('a get that completes leaves no claim behind', async () => {
    const net = await network(1);
    const file = path.join(net.dir, 'done.bin');
    await writeGeneratedFile(file, 4 * MiB, 23);
    const link = (await runMycel(['put', file, '--server', net.url])).stdout.trim();
    const out = path.join(net.dir, 'done.out');
    const get = await runMycel(['get', link, '-o', out, '--cache', path.join(net.dir, 'cache')]);
    expect(get.code, get.stderr).toBe(0);
    expect(await sameFiles(file, out)).toBe(true);
    expect(await claimsIn(net.dir)).toEqual([]);
  }, 120_000);

  it('a get that is interrupted keeps its partial file but not its claim', async () => {
    const net = await network(1);
    const file = path.join(net.dir, 'halted.bin');
    await writeGeneratedFile(file, 64 * MiB, 24);
    const link = (await runMycel(['put', file, '--server', net.url])).stdout.trim();
    const out = path.join(net.dir, 'halted.out');
    const get = startMycel(['get', link, '-o', out, '--cache', path.join(net.dir, 'cache')]);
    running.push(get);
    await until(async () => (await claimsIn(net.dir)).length === 1, 60_000, 'the get to claim its partial file');
    await until(async () => (await partialBytes(net.dir)) >= 8 * CHUNK, 60_000, 'the get to write 8 chunks');
    expect(await get.kill('SIGINT')).not.toBe(0);
    expect(await partialBytes(net.dir)).toBeGreaterThanOrEqual(8 * CHUNK);
    expect(await claimsIn(net.dir)).toEqual([]);
  }, 120_000);
});

describe('a standalone seed with --metrics', () => {
  it('serves its replication health and audits on /metrics, by counts only, and /health with its peer id', async () => {
    const net = await network(0, ['metered']);
    const data = path.join(net.dir, 'metered');
    const { proc, peer } = await startSeed(net.url, data, ['--metrics', '127.0.0.1:0', '--grace', '4s']);
    const metricsUrl = JSON.parse(await proc.waitForLine(logged('metrics listening'))).url as string;
    expect(new URL(metricsUrl).hostname).toBe('127.0.0.1');
    const health = await (await fetch(metricsUrl.replace(/\/metrics$/, '/health'))).json();
    expect(health).toEqual({ ok: true, peer });

    const file = path.join(net.dir, 'one.bin');
    await writeGeneratedFile(file, 2 * MiB, 11);
    const put = await runMycel(['put', file, '--server', net.url, '--copies', '1', '--json']);
    expect(put.code, put.stderr).toBe(0);
    const { link } = JSON.parse(put.stdout) as { link: string };
    // Planned once its put has settled: one file, at its target of one copy.
    await expect
      .poll(async () => (await fetch(metricsUrl)).text(), { timeout: 20_000 })
      .toMatch(/^mycel_replication_files\{state="at_target"\} 1$/m);
    const text = await (await fetch(metricsUrl)).text();
    expect(text).toMatch(/^mycel_audits_total\{result="failed"\} 0$/m);
    expect(text).toMatch(/^mycel_seed_sessions \d+$/m);
    // Nothing that names a file or its link: no root, no key.
    const { root } = parseLink(link);
    expect(root).toMatch(/^[0-9a-f]{64}$/);
    expect(text).not.toContain(root.slice(0, 16));
    expect((await fetch(metricsUrl, { method: 'POST' })).status).toBe(405);
  }, 60_000);
});
