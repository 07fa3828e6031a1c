// A file put with an expiry (`mycel put --expire`), through real `mycel serve`/`put`/`renew`/`get`
// processes: past its expiry the seed no longer serves it, its blocks are gone from the disk and the
// ledger, and /metrics counts it; a renewal with a later expiry before then keeps it; a commit whose
// expiry has already passed is refused.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseLink } from '../../src/content/share-link.js';
import { StoreRefusedError } from '../../src/errors.js';
import { renewFile } from '../../src/net/transfer.js';
import { LEDGER_DIR } from '../../src/store/fs.node.js';
import { LmdbLedger } from '../../src/store/lmdb-ledger.node.js';
import { writeGeneratedFile } from '../helpers/files.js';
import { logged, runMycel, seedIdOf, startServe, tempDir, type MycelProcess } from '../helpers/processes.js';
import { startUploader } from '../helpers/uploader.js';

const MiB = 1024 * 1024;
const running: MycelProcess[] = [];
const dirs: string[] = [];
const closers: (() => void)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await Promise.all(running.splice(0).map((p) => p.kill('SIGKILL')));
  await Promise.all(dirs.splice(0).map((d) => fs.rm(d, { recursive: true, force: true })));
});

async function blockFiles(data: string): Promise<number> {
  let n = 0;
  const root = path.join(data, 'blocks');
  for (const a of await fs.readdir(root).catch(() => [])) {
    for (const b of await fs.readdir(path.join(root, a))) n += (await fs.readdir(path.join(root, a, b))).length;
  }
  return n;
}

describe('a file put with --expire', () => {
  it('is dropped at its expiry: no longer served, its blocks gone from disk and ledger; a renewal moves it later', async () => {
    const dir = await tempDir('expiry');
    dirs.push(dir);
    const data = path.join(dir, 'data');
    const serve = await startServe(data);
    running.push(serve.proc);
    const [kept, dropped] = [path.join(dir, 'kept.bin'), path.join(dir, 'dropped.bin')];
    await writeGeneratedFile(kept, 1 * MiB, 81);
    await writeGeneratedFile(dropped, 1 * MiB, 82);

    const up = await startUploader(serve.url.replace('http', 'ws') + '/signal');
    closers.push(() => up.close());
    const session = await up.swarm.connect(await seedIdOf(data));

    // Put first and at once renewed to a minute; the other file, put after it with the same
    // expiry, expires later than this one would have without the renewal.
    const putKept = await runMycel(['put', kept, '--server', serve.url, '--expire', '6s']);
    expect(putKept.code, putKept.stderr).toBe(0);
    const keptRoot = parseLink(putKept.stdout.trim()).root;
    expect(await renewFile(session, keptRoot, { terms: { expiresAt: Date.now() + 60_000 } })).toBe('renewed');
    const putDropped = await runMycel(['put', dropped, '--server', serve.url, '--expire', '6s']);
    expect(putDropped.code, putDropped.stderr).toBe(0);
    const droppedRoot = parseLink(putDropped.stdout.trim()).root;

    const expired = JSON.parse(
      await serve.proc.waitForLine((l) => logged('file expired')(l) && JSON.parse(l).root === droppedRoot, 30_000),
    );
    expect(expired.collected).toBeGreaterThan(0);
    expect(serve.proc.stderr.some((l) => logged('file expired')(l) && JSON.parse(l).root === keptRoot)).toBe(false);

    const get = await runMycel([
      'get',
      putDropped.stdout.trim(),
      '-o',
      path.join(dir, 'dropped.out'),
      '--timeout',
      '3',
      '--cache',
      path.join(dir, 'cache'),
    ]);
    expect(get.code).not.toBe(0);
    expect(get.stderr).toMatch(/no peer holding/);
    const getKept = await runMycel(['get', putKept.stdout.trim(), '-o', path.join(dir, 'kept.out')]);
    expect(getKept.code, getKept.stderr).toBe(0);

    const metrics = await (await fetch(`${serve.url}/metrics`)).text();
    expect(metrics).toMatch(/^mycel_expired_files_total 1$/m);
    expect(metrics).toMatch(new RegExp(`^mycel_collected_blocks_total ${expired.collected}$`, 'm'));

    // A commit whose expiry has passed is refused, and changes nothing.
    await expect(renewFile(session, keptRoot, { terms: { expiresAt: Date.now() - 5_000 } })).rejects.toMatchObject({
      constructor: StoreRefusedError,
      reason: 'not-allowed',
    });

    // Only the kept file's blocks are left, on disk and in the ledger.
    const onDisk = await blockFiles(data);
    await serve.proc.kill('SIGTERM');
    const ledger = await LmdbLedger.open({ path: path.join(data, LEDGER_DIR) });
    try {
      expect(ledger.usage().blocks).toBe(onDisk);
      expect(ledger.pinNames().filter((name) => name.includes(droppedRoot))).toEqual([]);
    } finally {
      await ledger.close();
    }
    expect(onDisk).toBe(storedBlocks(serve.proc.stderr, keptRoot));
  }, 120_000);
});

describe('collection on a seed', () => {
  it("deletes the blocks no file needs any more (a stranger's file whose hold ended), from disk and ledger", async () => {
    const dir = await tempDir('collect');
    dirs.push(dir);
    const data = path.join(dir, 'data');
    // The hold ends 2 s after the put; collection sweeps every 0.5 s and waits 0.5 s (tests only).
    const serve = await startServe(data, ['--open-ttl', '2s'], { env: { MYCEL_TEST_COLLECT_MS: '500' } });
    running.push(serve.proc);
    const file = path.join(dir, 'file.bin');
    await writeGeneratedFile(file, 1 * MiB, 83);
    const put = await runMycel(['put', file, '--server', serve.url]);
    expect(put.code, put.stderr).toBe(0);
    const root = parseLink(put.stdout.trim()).root;
    const blocks = storedBlocks(serve.proc.stderr, root);

    // Its hold ended: unpinned (cache), and then collected.
    await serve.proc.waitForLine((l) => logged('file expired')(l) && JSON.parse(l).root === root, 30_000);
    const collected = JSON.parse(await serve.proc.waitForLine(logged('collected blocks no file needs'), 30_000));
    expect(collected.blocks).toBe(blocks);
    expect(await blockFiles(data)).toBe(0);
    const metrics = await (await fetch(`${serve.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^mycel_collected_blocks_total ${blocks}$`, 'm'));
    expect(metrics).toMatch(/^mycel_expired_files_total 0$/m);
    await serve.proc.kill('SIGTERM');
    const ledger = await LmdbLedger.open({ path: path.join(data, LEDGER_DIR) });
    try {
      expect(ledger.usage().blocks).toBe(0);
    } finally {
      await ledger.close();
    }
  }, 120_000);
});

/** A file's block count, from the seed's 'file stored' line. */
function storedBlocks(lines: string[], root: string): number {
  const line = lines.find((l) => logged('file stored')(l) && JSON.parse(l).root === root);
  return (JSON.parse(line!) as { blocks: number }).blocks;
}
