// Node only (it runs Debian's unzip and Python's zipfile on what it makes). "Download all" of a
// collection as one zip (src/content/zip.ts over client-zip): the archive is checked by two
// independent readers, its entries are byte-equal to the files, non-ASCII names carry the UTF-8
// flag, an empty file and an empty folder survive; the zip is made as it is read, never ahead; a
// listing that is refused fails the zip before its first byte, and a block that fails mid-way
// ends the stream with that error.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openCollection } from '../../src/content/collection-open.js';
import { type BlockId } from '../../src/content/format.js';
import { zipCollection, zipLength } from '../../src/content/zip.js';
import { BlockMissingError, PathError } from '../../src/errors.js';
import { recordingGetter } from '../helpers/blocks.js';
import { fileAt, sealHostile, sealTree, type TreeItem } from '../helpers/collections.js';
import { concatBytes } from '../../src/content/bytes.js';

const UNZIP = '/usr/bin/unzip';
const hasReaders =
  existsSync(UNZIP) &&
  (() => {
    try {
      execFileSync('python3', ['-c', 'import zipfile']);
      return true;
    } catch {
      return false;
    }
  })();

const TREE: TreeItem[] = [
  fileAt('photos/2024/beach.jpg', 70_000, 'image/jpeg'),
  fileAt('photos/été/naïve 日本.txt', 1_500, 'text/plain'),
  fileAt('docs/empty.txt', 0, 'text/plain'),
  fileAt('.config/settings', 33),
  { path: 'photos/2025', folder: true },
];

/** What Python's zipfile reads: each entry's name, UTF-8 flag, size and SHA-256; testzip's verdict. */
const READ_ZIP = `
import hashlib, json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
bad = z.testzip()
print(json.dumps({"bad": bad, "entries": [
  {"name": i.filename, "utf8": bool(i.flag_bits & 0x800), "size": i.file_size,
   "sha256": hashlib.sha256(z.read(i)).hexdigest(), "dir": i.is_dir()}
  for i in z.infolist()]}))
`;

async function drain(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of stream as unknown as AsyncIterable<Uint8Array>) parts.push(part);
  return concatBytes(...parts);
}

async function open(root: BlockId, key: Uint8Array, blocks: Map<BlockId, Uint8Array>) {
  return openCollection(root, key, recordingGetter(blocks).get);
}

describe('a collection as a zip', () => {
  // Skipped only where unzip or python3 is missing: the check is those real readers opening the archive.
  it.skipIf(!hasReaders)(
    'is a valid archive whose entries are byte-equal to the files, names and folders kept (unzip -t and Python zipfile)',
    async () => {
      const { collection, blocks } = await sealTree(TREE);
      const opened = await open(collection.root, collection.key, blocks);
      const entries = await opened.list();
      const zip = await drain(zipCollection(opened, recordingGetter(blocks).get, { entries }));
      expect(zip.length).toBe(zipLength(entries));

      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mycel-zip-'));
      try {
        const file = path.join(dir, 'all.zip');
        await fs.writeFile(file, zip);
        const tested = execFileSync(UNZIP, ['-t', file], { encoding: 'utf8' });
        expect(tested).toMatch(/No errors detected/);
        const read = JSON.parse(execFileSync('python3', ['-c', READ_ZIP, file], { encoding: 'utf8' }));
        expect(read.bad).toBeNull();
        expect(read.entries).toEqual(
          TREE.map((item) =>
            'folder' in item
              ? {
                  name: `${String(item.path)}/`,
                  utf8: true,
                  size: 0,
                  sha256: createHash('sha256').digest('hex'),
                  dir: true,
                }
              : {
                  name: item.path,
                  utf8: true,
                  size: item.bytes.length,
                  sha256: createHash('sha256').update(item.bytes).digest('hex'),
                  dir: false,
                },
          ),
        );
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    },
  );

  it('is made as it is read: the first bytes come before the last file is asked for', async () => {
    const tree = [fileAt('a.bin', 40_000), fileAt('b.bin', 40_000), fileAt('c.bin', 40_000)];
    const { collection, blocks } = await sealTree(tree);
    const getter = recordingGetter(blocks);
    const opened = await openCollection(collection.root, collection.key, getter.get);
    const entries = await opened.list();
    const reader = zipCollection(opened, getter.get, { entries }).getReader();
    await reader.read();
    const last = entries[2]!;
    expect(last.kind === 'file' && getter.requests.some((r) => r.id === last.root)).toBe(false);
  });

  it('stops every fetch it started when cancelled, and cancels quietly', async () => {
    const { collection, blocks } = await sealTree([fileAt('a.bin', 200_000)]);
    const getter = recordingGetter(blocks);
    const opened = await openCollection(collection.root, collection.key, getter.get);
    const reader = zipCollection(opened, getter.get).getReader();
    await reader.read();
    await reader.read();
    await expect(reader.cancel('the person pressed Cancel')).resolves.toBeUndefined();
    const dataRequests = getter.requests.filter((r) => r.request.signal);
    expect(dataRequests.length).toBeGreaterThan(0);
    expect(dataRequests.every((r) => r.request.signal!.aborted)).toBe(true);
  });

  it('fails before its first byte when the listing is refused', async () => {
    const { collection, blocks } = await sealHostile([{ path: 'a.txt' }, { path: 'A.TXT' }]);
    const reader = zipCollection(
      await open(collection.root, collection.key, blocks),
      recordingGetter(blocks).get,
    ).getReader();
    const error = await reader.read().catch((e) => e);
    expect(error).toBeInstanceOf(PathError);
    expect(error).toMatchObject({ problem: 'collision', entry: 1 });
  });

  it('ends with the error of a block that cannot be had, never as a complete-looking zip', async () => {
    const { collection, blocks } = await sealTree([fileAt('a.bin', 10_000), fileAt('b.bin', 10_000)]);
    const second = collection.entries[1]!;
    if (second.kind !== 'file') throw new Error('expected a file');
    blocks.delete(Buffer.from(second.blockIds.subarray(64, 96)).toString('hex'));
    const error = await drain(
      zipCollection(await open(collection.root, collection.key, blocks), recordingGetter(blocks).get),
    ).catch((e) => e);
    expect(error).toBeInstanceOf(BlockMissingError);
  });
});
