// Node only (real disk). Writing a collection into a folder (src/node/collection-write.ts), as
// `mycel get` of a collection will: the tree comes back byte for byte; a collection made by a
// hostile sender, whose entries try to climb out of the folder, name absolute paths, drives or
// devices, or collide, is refused before anything is written; and what is already in the folder
// (a symbolic link pointing out of it, a file) is neither followed nor overwritten.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openCollection } from '../../src/content/collection-open.js';
import { type BlockId } from '../../src/content/format.js';
import { BlockMissingError, PathError } from '../../src/errors.js';
import { resolveInside, writeCollection } from '../../src/node/collection-write.js';
import { recordingGetter } from '../helpers/blocks.js';
import { fileAt, sealHostile, sealTree, type TreeItem } from '../helpers/collections.js';
import { sameBytes } from '../helpers/data.js';

let scratch: string;
let target: string;
beforeEach(async () => {
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'mycel-collection-write-'));
  target = path.join(scratch, 'target');
});
afterEach(async () => {
  await fs.rm(scratch, { recursive: true, force: true });
});

/** Every path under `dir`, relative, with `/` for folders; [] if `dir` does not exist. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (at: string, prefix: string) => {
    for (const entry of await fs.readdir(at, { withFileTypes: true })) {
      const rel = prefix + entry.name;
      if (entry.isDirectory()) {
        out.push(`${rel}/`);
        await walk(path.join(at, entry.name), `${rel}/`);
      } else out.push(rel);
    }
  };
  await walk(dir, '').catch((error) => {
    if (error.code !== 'ENOENT') throw error;
  });
  return out.sort();
}

async function opened(root: BlockId, key: Uint8Array, blocks: Map<BlockId, Uint8Array>) {
  return openCollection(root, key, recordingGetter(blocks).get);
}

describe('resolveInside', () => {
  it('gives the absolute path of a valid entry inside the target', () => {
    expect(resolveInside('/srv/out', 'a/b c/d.txt')).toBe(path.resolve('/srv/out/a/b c/d.txt'));
  });

  const HOSTILE: [string, string][] = [
    ['../x', 'dot-segment'],
    ['/etc/passwd', 'absolute'],
    ['C:\\x', 'drive'],
    ['a/../../b', 'dot-segment'],
    ['\\\\server\\share', 'unc'],
    ['con.txt', 'device-name'],
  ];
  for (const [entryPath, problem] of HOSTILE) {
    it(`refuses ${JSON.stringify(entryPath)} (${problem})`, () => {
      expect(() => resolveInside('/srv/out', entryPath, 3)).toThrow(expect.objectContaining({ problem, entry: 3 }));
    });
  }
});

describe('writing a collection into a folder', () => {
  const TREE: TreeItem[] = [
    fileAt('photos/2024/beach.jpg', 5000),
    fileAt('photos/été/naïve 日本.txt', 700),
    fileAt('docs/empty.txt', 0),
    fileAt('.config/settings', 33),
    { path: 'photos/2025', folder: true },
  ];

  it('restores the tree: nested folders, an empty file, non-ASCII names, an empty folder, nothing executable', async () => {
    const { collection, blocks } = await sealTree(TREE);
    const result = await writeCollection(
      await opened(collection.root, collection.key, blocks),
      recordingGetter(blocks).get,
      target,
    );
    expect(result).toEqual({ files: 4, folders: 1, bytes: 5733 });
    expect(await tree(target)).toEqual(
      [
        '.config/',
        '.config/settings',
        'docs/',
        'docs/empty.txt',
        'photos/',
        'photos/2024/',
        'photos/2024/beach.jpg',
        'photos/2025/',
        'photos/été/',
        'photos/été/naïve 日本.txt',
      ].sort(),
    );
    for (const item of TREE) {
      if ('folder' in item) continue;
      const written = path.join(target, ...(item.path as string).split('/'));
      expect(sameBytes(new Uint8Array(await fs.readFile(written)), item.bytes), String(item.path)).toBe(true);
      expect((await fs.stat(written)).mode & 0o111, 'executable').toBe(0);
    }
  });

  const HOSTILE: [string, { path: string }[], string][] = [
    ['climbs out', [{ path: 'ok.txt' }, { path: '../x' }], 'dot-segment'],
    ['is absolute', [{ path: 'ok.txt' }, { path: '/etc/passwd' }], 'absolute'],
    ['names a drive', [{ path: 'ok.txt' }, { path: 'C:\\x' }], 'drive'],
    ['climbs out from inside', [{ path: 'ok.txt' }, { path: 'a/../../b' }], 'dot-segment'],
    ['is a device', [{ path: 'ok.txt' }, { path: 'aux.txt' }], 'device-name'],
    ['collides with another in case', [{ path: 'ok.txt' }, { path: 'OK.txt' }], 'collision'],
  ];
  for (const [what, items, problem] of HOSTILE) {
    it(`refuses a collection with an entry that ${what}, and writes nothing at all`, async () => {
      const { collection, blocks } = await sealHostile(items);
      const error = await writeCollection(
        await opened(collection.root, collection.key, blocks),
        recordingGetter(blocks).get,
        target,
      ).catch((e) => e);
      expect(error).toBeInstanceOf(PathError);
      expect(error).toMatchObject({ problem, entry: 1 });
      // Not even the target folder, nor anything beside it.
      expect(await tree(scratch)).toEqual([]);
    });
  }

  it('refuses to follow a symbolic link already in the target out of it', async () => {
    const outside = path.join(scratch, 'outside');
    await fs.mkdir(outside);
    await fs.mkdir(target);
    await fs.symlink(outside, path.join(target, 'docs'));
    const { collection, blocks } = await sealHostile([{ path: 'docs/x.txt' }]);
    const error = await writeCollection(
      await opened(collection.root, collection.key, blocks),
      recordingGetter(blocks).get,
      target,
    ).catch((e) => e);
    expect(error).toMatchObject({ code: 'BAD_PATH', problem: 'symlink', entry: 0 });
    expect(await fs.readdir(outside)).toEqual([]);
  });

  it('never overwrites a file already there', async () => {
    await fs.mkdir(target);
    await fs.writeFile(path.join(target, 'a.txt'), 'mine');
    const { collection, blocks } = await sealHostile([{ path: 'a.txt' }]);
    const error = await writeCollection(
      await opened(collection.root, collection.key, blocks),
      recordingGetter(blocks).get,
      target,
    ).catch((e) => e);
    expect(error).toMatchObject({ problem: 'exists', entry: 0 });
    expect(await fs.readFile(path.join(target, 'a.txt'), 'utf8')).toBe('mine');
  });

  it('never writes through a symbolic link at the entry’s own name', async () => {
    const outside = path.join(scratch, 'outside');
    await fs.mkdir(outside);
    await fs.mkdir(target);
    await fs.symlink(path.join(outside, 'planted'), path.join(target, 'a.txt'));
    const { collection, blocks } = await sealHostile([{ path: 'a.txt' }]);
    const error = await writeCollection(
      await opened(collection.root, collection.key, blocks),
      recordingGetter(blocks).get,
      target,
    ).catch((e) => e);
    expect(error).toMatchObject({ problem: 'exists' });
    expect(await fs.readdir(outside)).toEqual([]);
  });

  it('removes a file that fails part way and keeps the ones finished before it', async () => {
    const items = [fileAt('first.bin', 3000), fileAt('second.bin', 5000)];
    const { collection, blocks } = await sealTree(items);
    const second = collection.entries[1]!;
    if (second.kind !== 'file') throw new Error('expected a file');
    // Lose the second file's second data block (its ids come first in its block list).
    const lost = Buffer.from(second.blockIds.subarray(32, 64)).toString('hex');
    blocks.delete(lost);
    const error = await writeCollection(
      await opened(collection.root, collection.key, blocks),
      recordingGetter(blocks).get,
      target,
    ).catch((e) => e);
    expect(error).toBeInstanceOf(BlockMissingError);
    expect(await tree(target)).toEqual(['first.bin']);
  });
});
