// Runs in real Chromium (vitest browser mode, bundled by Vite): a collection sealed, opened, listed
// and zipped by the same core modules the page will use, client-zip included; the zip read back
// entry by entry (CRC-32 checked) equals the files.
import { describe, expect, it } from 'vitest';
import { openLinkRoot } from '../../src/content/collection-open.js';
import { zipCollection, zipLength } from '../../src/content/zip.js';
import { recordingGetter } from '../helpers/blocks.js';
import { fileAt, sealTree, type TreeItem } from '../helpers/collections.js';
import { sameBytes } from '../helpers/data.js';
import { readStoredZip } from '../helpers/zip-reader.js';

const TREE: TreeItem[] = [
  fileAt('photos/2024/beach.jpg', 300_000, 'image/jpeg'),
  fileAt('photos/été/naïve 日本.txt', 1_500, 'text/plain'),
  fileAt('docs/empty.txt', 0, 'text/plain'),
  { path: 'photos/2025', folder: true },
];

describe('a collection in Chromium', () => {
  it('lists, and zips into an archive whose entries are the files', async () => {
    const { collection, blocks } = await sealTree(TREE, { chunkSize: 64 * 1024 });
    const get = recordingGetter(blocks).get;
    const opened = await openLinkRoot(collection.root, collection.key, get);
    if (opened.kind !== 'collection') throw new Error('expected a collection');
    const entries = await opened.collection.list();
    expect(entries.map((e) => e.path)).toEqual(TREE.map((t) => t.path));

    const zip = new Uint8Array(await new Response(zipCollection(opened.collection, get, { entries })).arrayBuffer());
    expect(zip.length).toBe(zipLength(entries));
    const read = readStoredZip(zip);
    expect(read.map((e) => [e.name, e.utf8, e.folder])).toEqual(
      TREE.map((t) => ('folder' in t ? [`${String(t.path)}/`, true, true] : [t.path, true, false])),
    );
    for (const [i, item] of TREE.entries()) {
      if ('folder' in item) continue;
      expect(sameBytes(read[i]!.bytes, item.bytes), String(item.path)).toBe(true);
    }
  });
});
