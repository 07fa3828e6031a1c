// Real processes on loopback: `mycel serve`, then `mycel put <folder>` and `mycel get <link> <dir>`
// over real data channels. A hostile sender's collections (paths climbing out, absolute, colliding)
// are pushed to the real seed by a peer in this process, as a malicious sender's own code would,
// and `mycel get` must refuse them and write nothing outside (or, for a whole-listing problem,
// nothing at all).
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatLink } from '../../src/content/share-link.js';
import { randomBytes } from '../../src/content/crypto.js';
import { connectSeeds } from '../../src/net/transfer.js';
import { UPLOAD_ID_BYTES } from '../../src/net/wire.js';
import { sealHostile } from '../helpers/collections.js';
import { runMycel, startServe, tempDir, type MycelProcess } from '../helpers/processes.js';
import { startUploader, type Uploader } from '../helpers/uploader.js';
import { writeGeneratedFile } from '../helpers/files.js';

/** Every file and folder under `dir`, as relative path -> sha256 (or 'folder'). */
async function treeOf(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (at: string, prefix: string) => {
    for (const child of await fs.readdir(at, { withFileTypes: true })) {
      const rel = prefix ? `${prefix}/${child.name}` : child.name;
      const full = path.join(at, child.name);
      if (child.isDirectory()) {
        out[rel] = 'folder';
        await walk(full, rel);
      } else
        out[rel] = createHash('sha256')
          .update(await fs.readFile(full))
          .digest('hex');
    }
  };
  await walk(dir, '');
  return out;
}

describe('mycel put <folder> and get <link> <dir>', () => {
  let dir: string;
  let serve: { proc: MycelProcess; url: string };
  let sender: Uploader;

  beforeAll(async () => {
    dir = await tempDir('collection-cli');
    serve = await startServe(path.join(dir, 'seed-data'));
    sender = await startUploader(`${serve.url.replace('http', 'ws')}/signal`);
  });
  afterAll(async () => {
    sender?.close();
    await serve?.proc.kill();
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** Pushes a collection's blocks to the seed as one upload and commits its root: its link. */
  async function publish(collection: Awaited<ReturnType<typeof sealHostile>>): Promise<string> {
    const [seed] = await connectSeeds(sender.swarm, { timeoutMs: 15_000 });
    const upload = randomBytes(UPLOAD_ID_BYTES);
    for (const bytes of collection.blocks.values()) await seed!.store(upload, bytes);
    await seed!.commit(upload, collection.collection.root);
    return formatLink(serve.url, collection.collection.root, collection.collection.key);
  }

  const get = (args: string[]) => runMycel(['get', ...args, '--cache', path.join(dir, 'cache')]);

  it('round-trips a folder of nested files, an empty file, a non-ASCII name and an empty folder as one link', async () => {
    const source = path.join(dir, 'photos');
    await fs.mkdir(path.join(source, '2024', 'été'), { recursive: true });
    await fs.mkdir(path.join(source, 'empty folder'));
    await writeGeneratedFile(path.join(source, '2024', 'beach.jpg'), 700_000, 3);
    await writeGeneratedFile(path.join(source, '2024', 'été', 'naïve 日本.txt'), 1_500, 4);
    await fs.writeFile(path.join(source, 'empty.txt'), '');
    await fs.writeFile(path.join(source, 'README'), 'hello\n');

    const put = await runMycel(['put', source, '--server', serve.url, '--json']);
    expect(put.code, put.stderr).toBe(0);
    const putSummary = JSON.parse(put.stdout.trim());
    expect(putSummary.link).toMatch(new RegExp(`^${serve.url}/#[A-Za-z0-9_-]{43}\\.[A-Za-z0-9_-]{43}$`));
    expect(putSummary.entries).toHaveLength(5);

    const out = path.join(dir, 'restored');
    const got = await get([putSummary.link, out, '--json']);
    expect(got.code, got.stderr).toBe(0);
    expect(await treeOf(out)).toEqual(await treeOf(source));
    const summary = JSON.parse(got.stdout.trim().split('\n').pop()!);
    expect(summary.files).toBe(4);
    expect(summary.folders).toBe(1);
    expect(summary.entries).toContainEqual({
      path: '2024/été/naïve 日本.txt',
      kind: 'file',
      size: 1_500,
      mediaType: 'text/plain',
    });
    expect(summary.entries).toContainEqual({ path: 'empty folder', kind: 'folder' });

    // A second get into the same folder replaces nothing.
    await fs.writeFile(path.join(out, 'README'), 'mine\n');
    const again = await get([putSummary.link, '-o', out]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^mycel: entry \d+ .* refused/m);
    expect(await fs.readFile(path.join(out, 'README'), 'utf8')).toBe('mine\n');
  }, 120_000);

  it('makes one collection of several files given by name', async () => {
    const a = path.join(dir, 'a.txt');
    const b = path.join(dir, 'b.bin');
    await fs.writeFile(a, 'first\n');
    await writeGeneratedFile(b, 3000, 9);
    const put = await runMycel(['put', a, b, '--server', serve.url]);
    expect(put.code, put.stderr).toBe(0);
    const out = path.join(dir, 'two');
    const got = await get([put.stdout.trim(), out]);
    expect(got.code, got.stderr).toBe(0);
    expect(await treeOf(out)).toEqual({
      'a.txt': createHash('sha256').update('first\n').digest('hex'),
      'b.bin': createHash('sha256')
        .update(await fs.readFile(b))
        .digest('hex'),
    });
  }, 60_000);

  it('does not follow a symbolic link in the target folder out of it', async () => {
    const source = path.join(dir, 'docs-src');
    await fs.mkdir(path.join(source, 'docs'), { recursive: true });
    await fs.writeFile(path.join(source, 'docs', 'plan.txt'), 'plan\n');
    const put = await runMycel(['put', source, '--server', serve.url]);
    expect(put.code, put.stderr).toBe(0);
    const outside = path.join(dir, 'outside-link');
    await fs.mkdir(outside);
    const out = path.join(dir, 'linked');
    await fs.mkdir(out);
    await fs.symlink(outside, path.join(out, 'docs'));
    const got = await get([put.stdout.trim(), out]);
    expect(got.code).toBe(1);
    expect(got.stderr).toMatch(/docs.*refused/);
    expect(await fs.readdir(outside)).toEqual([]);
  }, 60_000);

  it('keeps fetched blocks in a bounded cache that mycel cache shows and --clear empties', async () => {
    const file = path.join(dir, 'cached.bin');
    await writeGeneratedFile(file, 50_000, 11);
    const put = await runMycel(['put', file, '--server', serve.url]);
    expect(put.code, put.stderr).toBe(0);
    const cache = path.join(dir, 'own-cache');
    const got = await runMycel(['get', put.stdout.trim(), '-o', path.join(dir, 'cached.out'), '--cache', cache]);
    expect(got.code, got.stderr).toBe(0);
    const shown = await runMycel(['cache', '--cache', cache]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/: [\d.]+ [KMG]?i?B in [1-9]\d* blocks?, at most 2(\.00)? GiB/);
    const cleared = await runMycel(['cache', '--cache', cache, '--clear']);
    expect(cleared.code, cleared.stderr).toBe(0);
    const after = await runMycel(['cache', '--cache', cache]);
    expect(after.stdout).toMatch(/: 0 B in 0 blocks/);
  });

  const HOSTILE: [string, { path: string; folder?: boolean }[], RegExp][] = [
    [
      'an entry climbing out with ../',
      [{ path: 'ok.txt' }, { path: '../escaped.txt' }],
      /entry 1 "..\/escaped.txt" refused/,
    ],
    ['an absolute path', [{ path: '/tmp/absolute.txt' }], /entry 0 "\/tmp\/absolute.txt" refused/],
    ['a path with ../ inside', [{ path: 'a/../../escaped.txt' }], /refused/],
    ['a duplicated name', [{ path: 'same.txt' }, { path: 'same.txt' }], /entry 1 "same.txt".*refused/],
    ['names differing only in case', [{ path: 'Report.txt' }, { path: 'report.txt' }], /entry 1 "report.txt".*refused/],
    ['a Windows device name', [{ path: 'docs/CON' }], /refused/],
  ];
  for (const [what, items, message] of HOSTILE) {
    it(`refuses a collection with ${what} and writes nothing at all`, async () => {
      const link = await publish(await sealHostile(items));
      const parent = await tempDir('hostile');
      const out = path.join(parent, 'target');
      const got = await get([link, out]);
      expect(got.code).toBe(1);
      expect(got.stderr.trim().split('\n')).toHaveLength(1);
      expect(got.stderr).toMatch(message);
      // The whole listing is checked before anything is made: not even the target folder.
      expect(await fs.readdir(parent)).toEqual([]);
      await fs.rm(parent, { recursive: true, force: true });
    }, 60_000);
  }
});
