// Collections (several files and folders under one link): sealing from already-sealed files,
// opening and listing lazily, reading each file back, what a holder without the key can list, and
// what a reader does with a collection made by a hostile sender (paths, structure, declared sizes).
import { describe, expect, it } from 'vitest';
import { BlockKind, blockIdToBytes, MiB, type BlockId } from '../../src/content/format.js';
import {
  DEFAULT_LISTING_BLOCK_BYTES,
  MAX_COLLECTION_ENTRIES,
  MAX_LISTING_BLOCKS,
  MIN_LISTING_BLOCK_BYTES,
  deriveCollectionKeys,
  encodeListingBlock,
  listingAad,
  listingNonce,
  type CollectionHead,
  type ListingRecord,
} from '../../src/content/collection-manifest.js';
import {
  listCollectionBlockIds,
  openCollection,
  openLinkRoot,
  type CollectionEntry,
  type OpenedCollection,
} from '../../src/content/collection-open.js';
import { listFileBlockIds } from '../../src/content/block-list.js';
import { openManifest, readFile } from '../../src/content/open.js';
import { sealCollection, sealCollectionRoot } from '../../src/content/collection-seal.js';
import { sealFile } from '../../src/content/seal.js';
import { toHex } from '../../src/content/bytes.js';
import { webCrypto } from '../../src/content/crypto.js';
import { DEFAULT_ID_LAYOUT } from '../../src/content/manifest.js';
import {
  BadInputError,
  BlockIntegrityError,
  BlockMissingError,
  ManifestError,
  PathError,
  WrongKeyError,
} from '../../src/errors.js';
import { collectIds, recordingGetter } from '../helpers/blocks.js';
import { fileAt, sealHostile, sealTree, type TreeItem } from '../helpers/collections.js';
import { collect, pseudoRandomBytes, sameBytes } from '../helpers/data.js';

async function readAll(collection: OpenedCollection, entry: CollectionEntry, blocks: Map<BlockId, Uint8Array>) {
  if (entry.kind !== 'file') throw new Error('not a file');
  const get = recordingGetter(blocks).get;
  return collect(readFile(await collection.openFile(entry), get));
}

const TREE: TreeItem[] = [
  fileAt('photos/2024/beach.jpg', 5000, 'image/jpeg'),
  fileAt('photos/2024/été à Zürich.jpg', 2048, 'image/jpeg'),
  fileAt('docs/日本語/メモ.txt', 700, 'text/plain'),
  fileAt('docs/empty.txt', 0, 'text/plain'),
  fileAt('.hidden/config', 10),
  fileAt('top.bin', 1024),
  { path: 'photos/2025', folder: true },
];

describe('a collection', () => {
  it('lists every entry as sealed and reads each file back byte for byte', async () => {
    const { collection, blocks } = await sealTree(TREE);
    const opened = await openCollection(collection.root, collection.key, recordingGetter(blocks).get);
    expect(opened.entryCount).toBe(7);
    expect(opened.fileCount).toBe(6);
    expect(opened.totalSize).toBe(5000 + 2048 + 700 + 0 + 10 + 1024);
    const entries = await opened.list();
    expect(entries.map((e) => [e.kind, e.path, e.kind === 'file' ? e.size : null])).toEqual(
      TREE.map((t) => ('folder' in t ? ['folder', t.path, null] : ['file', t.path, t.bytes.length])),
    );
    expect(entries[0]).toMatchObject({ mediaType: 'image/jpeg', index: 0 });
    for (const [i, entry] of entries.entries()) {
      const item = TREE[i]!;
      if ('folder' in item) continue;
      expect(sameBytes(await readAll(opened, entry, blocks), item.bytes), String(item.path)).toBe(true);
    }
  });

  it('keeps paths as the sender normalised them (NFC, forbidden characters replaced, names given one by one)', async () => {
    const { collection, blocks } = await sealTree([
      fileAt('notes/e\u0301te\u0301?.txt', 3),
      fileAt(['in', 'a\\b:c'], 3),
    ]);
    const opened = await openCollection(collection.root, collection.key, recordingGetter(blocks).get);
    expect((await opened.list()).map((e) => e.path)).toEqual(['notes/été_.txt', 'in/a_b_c']);
  });

  it('spreads a long listing over several sealed blocks and reads it all back', async () => {
    const tree = Array.from({ length: 150 }, (_, i) => fileAt(`folder ${i % 7}/file number ${i}.txt`, i * 3));
    const { collection, blocks } = await sealTree(tree, { seal: { listingBlockBytes: MIN_LISTING_BLOCK_BYTES } });
    expect(collection.head.listingBlocks).toBeGreaterThan(3);
    const opened = await openCollection(collection.root, collection.key, recordingGetter(blocks).get);
    const entries = await opened.list();
    expect(entries.map((e) => e.path)).toEqual(tree.map((t) => t.path));
    expect(sameBytes(await readAll(opened, entries[149]!, blocks), (tree[149] as { bytes: Uint8Array }).bytes)).toBe(
      true,
    );
  });

  it('reads its listing lazily: the first entry costs the root and the first listing blocks only', async () => {
    const tree = Array.from({ length: 150 }, (_, i) => fileAt(`f${i}`, 1));
    const { collection, blocks } = await sealTree(tree, { seal: { listingBlockBytes: MIN_LISTING_BLOCK_BYTES } });
    const getter = recordingGetter(blocks);
    const opened = await openCollection(collection.root, collection.key, getter.get);
    expect(getter.requests.map((r) => r.id)).toEqual([collection.root]);
    const entries = opened.entries({ readAhead: 1 });
    await entries.next();
    await entries.return(undefined);
    expect(getter.requests.map((r) => r.id)).toEqual([collection.root, collection.listingIds[0]]);
  });

  it('puts its refs in index blocks when they do not fit in the root, and still lists and reads', async () => {
    const idLayout = { maxInlineIds: 4, idsPerIndexBlock: 3 };
    const tree = [fileAt('a', 3000), fileAt('b/c', 10), fileAt('b/d', 4000)];
    const { collection, blocks } = await sealTree(tree, { seal: { idLayout } });
    expect(collection.indexIds.length).toBeGreaterThan(1);
    const opened = await openCollection(collection.root, collection.key, recordingGetter(blocks).get, { idLayout });
    const entries = await opened.list();
    expect(sameBytes(await readAll(opened, entries[2]!, blocks), (tree[2] as { bytes: Uint8Array }).bytes)).toBe(true);
    const keyless = await collectIds(
      listCollectionBlockIds(collection.root, recordingGetter(blocks).get, { idLayout }),
    );
    expect(keyless).toEqual([...collection.allIds()]);
  });

  it('can be listed whole without the key: its own blocks and every block of every file, nothing else', async () => {
    const { collection, blocks } = await sealTree(TREE);
    const keyless = await collectIds(listCollectionBlockIds(collection.root, recordingGetter(blocks).get));
    expect(keyless).toEqual([...collection.allIds()]);
    // Every block sealed for the tree (files and collection) is in it, once.
    expect(new Set(keyless)).toEqual(new Set(blocks.keys()));
    expect(keyless.length).toBe(blocks.size);
    // It is what a seed's whole-file check reads: listFileBlockIds, unchanged.
    expect(await collectIds(listFileBlockIds(collection.root, recordingGetter(blocks).get))).toEqual(keyless);
    for (const entry of collection.entries) if (entry.kind === 'file') expect(keyless).toContain(entry.root);
  });

  it('hands the sink its own blocks in the order a seed takes them: listing, index blocks, root', async () => {
    const { collection, collectionBlocks } = await sealTree(TREE.slice(0, 3), {
      seal: { idLayout: { maxInlineIds: 2, idsPerIndexBlock: 4 } },
    });
    expect(collectionBlocks.map((b) => b.kind)).toEqual([
      ...collection.listingIds.map(() => BlockKind.Data),
      ...collection.indexIds.map(() => BlockKind.ManifestIndex),
      BlockKind.ManifestRoot,
    ]);
    expect(collectionBlocks.at(-1)!.id).toBe(collection.root);
  });
});

describe('a link', () => {
  it('opens as a collection or as a file, whichever it names', async () => {
    const { collection, blocks } = await sealTree(TREE.slice(0, 2));
    const get = recordingGetter(blocks).get;
    const asCollection = await openLinkRoot(collection.root, collection.key, get);
    expect(asCollection.kind).toBe('collection');
    const entry = (await (asCollection as { collection: OpenedCollection }).collection.list())[0]!;
    if (entry.kind !== 'file') throw new Error('expected a file');
    const asFile = await openLinkRoot(entry.root, entry.key, get);
    expect(asFile.kind).toBe('file');
    expect(asFile.kind === 'file' && asFile.file.manifest.size).toBe(5000);
  });

  it('with the wrong key opens as neither', async () => {
    const { collection, blocks } = await sealTree(TREE.slice(0, 1));
    const get = recordingGetter(blocks).get;
    await expect(openLinkRoot(collection.root, pseudoRandomBytes(32, 9), get)).rejects.toBeInstanceOf(WrongKeyError);
    await expect(openCollection(collection.root, pseudoRandomBytes(32, 9), get)).rejects.toBeInstanceOf(WrongKeyError);
  });

  it('to a collection fails closed in a reader that knows only files', async () => {
    const { collection, blocks } = await sealTree(TREE.slice(0, 1));
    await expect(openManifest(collection.root, collection.key, recordingGetter(blocks).get)).rejects.toBeInstanceOf(
      WrongKeyError,
    );
  });

  it('whose root had its public refs changed does not open: the head is bound to them', async () => {
    const { collection, blocks } = await sealTree(TREE.slice(0, 2));
    const root = blocks.get(collection.root)!.slice();
    root[14] = root[14]! ^ 1; // the first ref
    const id = toHex(await webCrypto()!.sha256(root));
    blocks.set(id, root);
    await expect(openCollection(id, collection.key, recordingGetter(blocks).get)).rejects.toBeInstanceOf(WrongKeyError);
  });

  it('whose listing block was swapped for another is refused by its hash', async () => {
    const { collection, blocks } = await sealTree(TREE);
    blocks.set(collection.listingIds[0]!, pseudoRandomBytes(blocks.get(collection.listingIds[0]!)!.length, 4));
    const opened = await openCollection(collection.root, collection.key, recordingGetter(blocks).get);
    await expect(opened.list()).rejects.toBeInstanceOf(BlockIntegrityError);
  });
});

describe('a sender', () => {
  async function sealing(items: TreeItem[]) {
    return sealTree(items).then(
      () => 'sealed',
      (error) => error,
    );
  }

  it('is refused two entries that would land on one file on macOS or Windows, both named', async () => {
    const error = await sealing([fileAt('Report.pdf', 1), fileAt('report.PDF', 1)]);
    expect(error).toBeInstanceOf(PathError);
    expect(error).toMatchObject({ problem: 'collision', entry: 1, other: 'Report.pdf' });
  });

  it('is refused a path that climbs out or is absolute', async () => {
    expect(await sealing([fileAt('../x', 1)])).toMatchObject({ problem: 'dot-segment', entry: 0 });
    expect(await sealing([fileAt('a', 1), fileAt('/etc/passwd', 1)])).toMatchObject({ problem: 'absolute', entry: 1 });
  });

  it('is refused an entry whose key does not open its file, or whose size is not the file’s', async () => {
    const { collection, blocks } = await sealTree([fileAt('a', 10)]);
    const [entry] = collection.entries;
    if (entry?.kind !== 'file') throw new Error('expected a file');
    const get = recordingGetter(blocks).get;
    const sink = () => undefined;
    await expect(
      sealCollection([{ path: 'a', root: entry.root, key: pseudoRandomBytes(32, 5) }], sink, { getBlock: get }),
    ).rejects.toBeInstanceOf(BadInputError);
    await expect(
      sealCollection([{ path: 'a', root: entry.root, key: entry.key, size: 11 }], sink, { getBlock: get }),
    ).rejects.toBeInstanceOf(BadInputError);
    // A collection is not a file: collections do not nest.
    await expect(
      sealCollection([{ path: 'c', root: collection.root, key: collection.key }], sink, { getBlock: get }),
    ).rejects.toBeInstanceOf(BadInputError);
  });

  it('can make a collection from sealFile’s results alone, reading no block (a sender that streams to seeds keeps none)', async () => {
    const blocks = new Map<BlockId, Uint8Array>();
    const a = await sealFile([pseudoRandomBytes(3000, 1)], (b) => void blocks.set(b.id, b.bytes), {
      name: 'a',
      chunkSize: 1024,
    });
    const b = await sealFile([new Uint8Array(0)], (b) => void blocks.set(b.id, b.bytes), {
      name: 'b',
      chunkSize: 1024,
    });
    const collection = await sealCollection(
      [
        { path: 'x/a', sealed: a },
        { path: 'b', sealed: b, mediaType: 'text/plain' },
      ],
      (blk) => void blocks.set(blk.id, blk.bytes),
      {},
    );
    const opened = await openCollection(collection.root, collection.key, recordingGetter(blocks).get);
    const entries = await opened.list();
    expect(entries.map((e) => [e.path, e.kind === 'file' && e.size, e.kind === 'file' && e.mediaType])).toEqual([
      ['x/a', 3000, 'application/octet-stream'],
      ['b', 0, 'text/plain'],
    ]);
    expect(sameBytes(await readAll(opened, entries[0]!, blocks), pseudoRandomBytes(3000, 1))).toBe(true);
    expect(await collectIds(listCollectionBlockIds(collection.root, recordingGetter(blocks).get))).toEqual([
      ...collection.allIds(),
    ]);
  });

  it('is refused an entry given by root and key when nothing can read its blocks', async () => {
    const { collection } = await sealTree([fileAt('a', 10)]);
    const [entry] = collection.entries;
    if (entry?.kind !== 'file') throw new Error('expected a file');
    await expect(
      sealCollection([{ path: 'a', root: entry.root, key: entry.key }], () => undefined, {}),
    ).rejects.toBeInstanceOf(BadInputError);
  });

  it('is refused an empty collection', async () => {
    await expect(
      sealCollection([], () => undefined, { getBlock: recordingGetter(new Map()).get }),
    ).rejects.toBeInstanceOf(BadInputError);
  });
});

describe('a collection from a hostile sender', () => {
  const HOSTILE: [string, string, string][] = [
    ['climbs out', '../x', 'dot-segment'],
    ['is absolute', '/etc/passwd', 'absolute'],
    ['names a drive', 'C:\\x', 'drive'],
    ['climbs out from inside', 'a/../../b', 'dot-segment'],
    ['is a device', 'dir/con.txt', 'device-name'],
    ['hides a text-direction override', 'invoice\u202efdp.exe', 'invisible'],
  ];
  for (const [what, path, problem] of HOSTILE) {
    it(`is refused when an entry ${what}, naming that entry`, async () => {
      const { collection, blocks } = await sealHostile([{ path: 'fine.txt' }, { path }]);
      const opened = await openCollection(collection.root, collection.key, recordingGetter(blocks).get);
      const error = await opened.list().catch((e) => e);
      expect(error).toBeInstanceOf(PathError);
      expect(error).toMatchObject({ problem, entry: 1, path });
    });
  }

  it('is refused when two entries differ only in case, at the second', async () => {
    const { collection, blocks } = await sealHostile([{ path: 'a/Notes.txt' }, { path: 'a/notes.txt' }]);
    const opened = await openCollection(collection.root, collection.key, recordingGetter(blocks).get);
    await expect(opened.list()).rejects.toMatchObject({ problem: 'collision', entry: 1, other: 'a/Notes.txt' });
  });

  it('is refused when a file is also used as a folder', async () => {
    const { collection, blocks } = await sealHostile([{ path: 'a' }, { path: 'a/b' }]);
    const opened = await openCollection(collection.root, collection.key, recordingGetter(blocks).get);
    await expect(opened.list()).rejects.toMatchObject({ problem: 'file-and-folder', entry: 1 });
  });

  it('is refused when an entry claims a size its file does not have', async () => {
    const { collection, blocks } = await sealHostile([{ path: 'a', bytes: new Uint8Array(10) }]);
    // Rewrite the listing with a different size, same blocks: the collection's own listing lies.
    const forged = await forge(
      collection.root,
      collection.key,
      blocks,
      (records) => records.map((r) => (r.kind === 'file' ? { ...r, size: 11 } : r)),
      { totalSize: 11 },
    );
    const opened = await openCollection(forged, collection.key, recordingGetter(blocks).get);
    const [entry] = await opened.list();
    await expect(opened.openFile(entry as never)).rejects.toBeInstanceOf(ManifestError);
  });

  it('is refused when a file’s root is placed where its blocks cannot be', async () => {
    const { collection, blocks } = await sealHostile([{ path: 'a' }, { path: 'b' }]);
    const forged = await forge(collection.root, collection.key, blocks, (records) =>
      records.map((r, i) => (r.kind === 'file' && i === 1 ? { ...r, rootPosition: r.rootPosition - 1 } : r)),
    );
    const opened = await openCollection(forged, collection.key, recordingGetter(blocks).get);
    await expect(opened.list()).rejects.toThrow(/places its root at ref/);
  });

  it('is refused when its root names blocks none of its files account for', async () => {
    const { collection, blocks } = await sealHostile([{ path: 'a' }, { path: 'b' }]);
    const forged = await forge(collection.root, collection.key, blocks, (records) => records, {}, [
      toHex(pseudoRandomBytes(32, 3)),
    ]);
    const opened = await openCollection(forged, collection.key, recordingGetter(blocks).get);
    await expect(opened.list()).rejects.toThrow(/its files account for/);
  });

  it('is refused when its listing holds more entries than its head declares', async () => {
    const { collection, blocks } = await sealHostile([
      { path: 'a', folder: true },
      { path: 'b', folder: true },
    ]);
    const forged = await forge(collection.root, collection.key, blocks, (records) => records, { entryCount: 1 });
    const opened = await openCollection(forged, collection.key, recordingGetter(blocks).get);
    await expect(opened.list()).rejects.toBeInstanceOf(ManifestError);
  });
});

/** Memory in use (heap and array buffers), after a collection when the process allows one. */
function memoryInUse(): number {
  (globalThis as { gc?: () => void }).gc?.();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/**
 * Re-seals the listing of `root` (opened with `key`) after `change`, with the same entries' blocks
 * and a head adjusted by `head`: a collection its sender's code could make, but ours never would.
 */
async function forge(
  root: BlockId,
  key: Uint8Array,
  blocks: Map<BlockId, Uint8Array>,
  change: (records: ListingRecord[]) => ListingRecord[],
  head: Partial<CollectionHead> = {},
  extraRefs: BlockId[] = [],
): Promise<BlockId> {
  const get = recordingGetter(blocks).get;
  const opened = await openCollection(root, key, get);
  const records: ListingRecord[] = [];
  let position = opened.head.listingBlocks - 1;
  for (const e of await opened.list()) {
    if (e.kind === 'folder') records.push({ kind: 'folder', path: e.path });
    else
      records.push({
        kind: 'file',
        path: e.path,
        size: e.size,
        key: e.key,
        mediaType: e.mediaType,
        rootPosition: (position += e.blocks),
      });
  }
  const refs = await collectIds(listCollectionBlockIds(root, get));
  const entryRefs = refs.slice(opened.head.listingBlocks, position + 1);
  return sealRaw(change(records), key, blocks, { ...opened.head, ...head }, [...entryRefs, ...extraRefs]);
}

/** Seals `records` into one listing block and a root whose refs are it, then `entryRefs`. */
async function sealRaw(
  records: ListingRecord[],
  key: Uint8Array,
  blocks: Map<BlockId, Uint8Array>,
  head: CollectionHead,
  entryRefs: BlockId[],
): Promise<BlockId> {
  const backend = webCrypto()!;
  const keys = await deriveCollectionKeys(key, backend);
  const plain = encodeListingBlock(records, head.listingBlockBytes, true);
  const sealed = await keys.listing.seal(listingNonce(0), listingAad(0, true), plain);
  const listingId = toHex(await backend.sha256(sealed));
  blocks.set(listingId, sealed);
  const ids = [listingId, ...entryRefs];
  const refs = new Uint8Array(ids.length * 32);
  ids.forEach((id, i) => refs.set(blockIdToBytes(id), i * 32));
  const { root } = await sealCollectionRoot(
    { ...head, listingBlocks: 1 },
    refs,
    keys,
    backend,
    (b) => void blocks.set(b.id, b.bytes),
    DEFAULT_ID_LAYOUT,
  );
  return root;
}

describe('a collection declaring more than it holds', () => {
  /** A root, sealed with the real key, whose head says `head` and whose refs are `refCount` ids of nothing. */
  async function declaring(head: CollectionHead, refCount: number) {
    const backend = webCrypto()!;
    const key = pseudoRandomBytes(32, 77);
    const keys = await deriveCollectionKeys(key, backend);
    const blocks = new Map<BlockId, Uint8Array>();
    const refs = pseudoRandomBytes(refCount * 32, 78);
    const { root } = await sealCollectionRoot(
      head,
      refs,
      keys,
      backend,
      (b) => void blocks.set(b.id, b.bytes),
      DEFAULT_ID_LAYOUT,
    );
    return { root, key, blocks, firstRef: toHex(refs.subarray(0, 32)) };
  }

  it('of 10^9 entries is refused at open, in bounded memory', async ({ annotate }) => {
    const { root, key, blocks } = await declaring(
      { entryCount: 1e9, fileCount: 0, totalSize: 0, listingBlockBytes: DEFAULT_LISTING_BLOCK_BYTES, listingBlocks: 1 },
      1,
    );
    const before = memoryInUse();
    const error = await openCollection(root, key, recordingGetter(blocks).get).catch((e) => e);
    const grown = memoryInUse() - before;
    expect(error).toBeInstanceOf(ManifestError);
    expect(error.message).toMatch(/1000000000 entries/);
    expect(grown).toBeLessThan(16 * MiB);
    await annotate(`memory grew by ${(grown / 1024).toFixed(0)} KiB`);
  });

  it(`of ${MAX_COLLECTION_ENTRIES} entries over ${MAX_LISTING_BLOCKS} listing blocks nobody has opens at the cost of its root and fails at its first missing block`, async ({
    annotate,
  }) => {
    const { root, key, blocks, firstRef } = await declaring(
      {
        entryCount: MAX_COLLECTION_ENTRIES,
        fileCount: 0,
        totalSize: 0,
        listingBlockBytes: DEFAULT_LISTING_BLOCK_BYTES,
        listingBlocks: MAX_LISTING_BLOCKS,
      },
      MAX_LISTING_BLOCKS,
    );
    const getter = recordingGetter(blocks);
    const before = memoryInUse();
    const opened = await openCollection(root, key, getter.get);
    expect(opened.entryCount).toBe(MAX_COLLECTION_ENTRIES);
    const error = await opened.list({ readAhead: 2 }).catch((e) => e);
    const grown = memoryInUse() - before;
    expect(error).toBeInstanceOf(BlockMissingError);
    expect(error.blockId).toBe(firstRef);
    expect(getter.requests.length).toBeLessThanOrEqual(3); // the root and the blocks read ahead
    expect(grown).toBeLessThan(16 * MiB);
    await annotate(`memory grew by ${(grown / 1024).toFixed(0)} KiB`);
  });

  it('whose listing block declares 2^32 - 1 records is refused without reading them', async () => {
    const backend = webCrypto()!;
    const key = pseudoRandomBytes(32, 79);
    const keys = await deriveCollectionKeys(key, backend);
    const blocks = new Map<BlockId, Uint8Array>();
    const plain = new Uint8Array(MIN_LISTING_BLOCK_BYTES);
    new DataView(plain.buffer).setUint32(0, 0xffffffff);
    const sealed = await keys.listing.seal(listingNonce(0), listingAad(0, true), plain);
    const id = await backend.sha256(sealed);
    blocks.set(toHex(id), sealed);
    const head = {
      entryCount: 10,
      fileCount: 0,
      totalSize: 0,
      listingBlockBytes: MIN_LISTING_BLOCK_BYTES,
      listingBlocks: 1,
    };
    const { root } = await sealCollectionRoot(
      head,
      id,
      keys,
      backend,
      (b) => void blocks.set(b.id, b.bytes),
      DEFAULT_ID_LAYOUT,
    );
    const opened = await openCollection(root, key, recordingGetter(blocks).get);
    await expect(opened.list()).rejects.toThrow(/declares 4294967295 records/);
  });
});
