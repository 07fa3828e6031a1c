// Format 2's property (issue 7, item 5) extended to collections: across every block of a
// collection, its files' and its own, no AES-GCM (key, nonce) pair is used twice, no key of the
// collection is a key of any file, and nothing sealed is also known to a holder without the key.
//
// Random collections (entry counts, file sizes, chunk sizes, listing block sizes, and small id
// layouts that reach index blocks for the collection's refs and for its files) are sealed through
// a crypto backend that records every seal, then read back, so every recorded seal is of a real
// collection.
import { describe, expect, it } from 'vitest';
import { DEFAULT_ID_LAYOUT, type IdLayout } from '../../src/content/manifest.js';
import { MIN_LISTING_BLOCK_BYTES } from '../../src/content/collection-manifest.js';
import { listCollectionBlockIds, openCollection } from '../../src/content/collection-open.js';
import { readFile } from '../../src/content/open.js';
import { toHex } from '../../src/content/bytes.js';
import { webCrypto, type CryptoBackend } from '../../src/content/crypto.js';
import { collectIds, recordingGetter } from '../helpers/blocks.js';
import { fileAt, sealTree, type TreeItem } from '../helpers/collections.js';
import { collect, sameBytes } from '../helpers/data.js';

interface Seal {
  readonly key: string;
  readonly nonce: string;
  readonly plain: Uint8Array;
}

function recordingBackend(inner: CryptoBackend) {
  const seals: Seal[] = [];
  const backend: CryptoBackend = {
    name: inner.name,
    sha256: (data) => inner.sha256(data),
    async importKey(raw) {
      const key = toHex(raw); // taken now: the caller wipes `raw` once imported
      const imported = await inner.importKey(raw);
      return {
        open: (nonce, aad, sealed) => imported.open(nonce, aad, sealed),
        seal(nonce, aad, plaintext) {
          seals.push({ key, nonce: toHex(nonce), plain: plaintext.slice() });
          return imported.seal(nonce, aad, plaintext);
        },
      };
    },
  };
  return { backend, seals };
}

function containsAnyId(plain: Uint8Array, ids: Set<string>, prefixes: Set<number>): boolean {
  const view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
  for (let o = 0; o + 32 <= plain.length; o++) {
    if (prefixes.has(view.getUint32(o)) && ids.has(toHex(plain.subarray(o, o + 32)))) return true;
  }
  return false;
}

function lcg(seed: number) {
  let x = seed >>> 0;
  return (below: number) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x % below;
  };
}

async function checkCollection(
  tree: TreeItem[],
  chunkSize: number,
  listingBlockBytes: number,
  idLayout: IdLayout,
  entryIdLayout: IdLayout,
) {
  const { backend, seals } = recordingBackend(webCrypto()!);
  const { collection, blocks } = await sealTree(tree, {
    chunkSize,
    backend,
    entryIdLayout,
    seal: { listingBlockBytes, idLayout },
  });
  const where = `${tree.length} entries, ${chunkSize}-byte chunks, ${listingBlockBytes}-byte listing blocks, layouts ${JSON.stringify([idLayout, entryIdLayout])}`;

  const pairs = seals.map((s) => `${s.key}/${s.nonce}`);
  expect(new Set(pairs).size, `a (key, nonce) pair repeats: ${where}`).toBe(pairs.length);
  // Each key seals one kind of object only; the collection's two keys are its own.
  const kindsByKey = new Map<string, Set<string>>();
  for (const s of seals) kindsByKey.set(s.key, (kindsByKey.get(s.key) ?? new Set()).add(s.nonce.slice(0, 2)));
  for (const kinds of kindsByKey.values()) expect(kinds.size, where).toBe(1);
  const keysOfKind = (kind: string) => [...kindsByKey].filter(([, kinds]) => kinds.has(kind)).length;
  const files = collection.head.fileCount;
  expect([keysOfKind('01'), keysOfKind('02'), keysOfKind('03'), keysOfKind('04')], where).toEqual([files, files, 1, 1]);

  // Every block id a keyless holder can list appears in nothing sealed.
  const getter = recordingGetter(blocks);
  const known = new Set(await collectIds(listCollectionBlockIds(collection.root, getter.get, { idLayout })));
  expect(known, where).toEqual(new Set(collection.allIds()));
  const prefixes = new Set([...known].map((id) => parseInt(id.slice(0, 8), 16)));
  expect(
    seals.filter((s) => containsAnyId(s.plain, known, prefixes)).length,
    `a sealed plaintext holds a public id: ${where}`,
  ).toBe(0);

  // Read back: every seal recorded belongs to a collection that opens and reads.
  const opened = await openCollection(collection.root, collection.key, getter.get, { idLayout, entryIdLayout });
  let dataBlocks = 0;
  for (const entry of await opened.list()) {
    if (entry.kind !== 'file') continue;
    const file = await opened.openFile(entry);
    dataBlocks += file.manifest.blockCount;
    const item = tree[entry.index] as { bytes: Uint8Array };
    expect(sameBytes(await collect(readFile(file, getter.get)), item.bytes), where).toBe(true);
  }
  // Sealed: each file's chunks and metadata, the collection's listing blocks and head. Nothing else.
  expect(seals.length, where).toBe(dataBlocks + files + collection.head.listingBlocks + 1);
  return collection;
}

const LAYOUTS: [IdLayout, IdLayout][] = [
  [DEFAULT_ID_LAYOUT, DEFAULT_ID_LAYOUT],
  [
    { maxInlineIds: 1, idsPerIndexBlock: 1 },
    { maxInlineIds: 2, idsPerIndexBlock: 2 },
  ],
  [{ maxInlineIds: 8, idsPerIndexBlock: 5 }, DEFAULT_ID_LAYOUT],
];
const COLLECTIONS_PER_LAYOUT = 6;

describe('no (key, nonce) pair repeats across the blocks of a collection', () => {
  for (const [idLayout, entryIdLayout] of LAYOUTS) {
    it(`over ${COLLECTIONS_PER_LAYOUT} random collections, layouts ${JSON.stringify([idLayout, entryIdLayout])}`, async () => {
      const pick = lcg(idLayout.maxInlineIds * 17 + entryIdLayout.maxInlineIds);
      let severalListingBlocks = 0;
      let indexed = 0;
      for (let n = 0; n < COLLECTIONS_PER_LAYOUT; n++) {
        const chunkSize = 1024 + pick(1024);
        const count = 1 + pick(n % 2 === 0 ? 5 : 60);
        const tree: TreeItem[] = Array.from({ length: count }, (_, i) =>
          i % 9 === 8
            ? { path: `empty folder ${i}`, folder: true }
            : fileAt(`dir ${i % 4}/entry ${i} ${'x'.repeat(pick(80))}`, pick(4) === 0 ? 0 : pick(6 * chunkSize)),
        );
        const collection = await checkCollection(
          tree,
          chunkSize,
          MIN_LISTING_BLOCK_BYTES + pick(4096),
          idLayout,
          entryIdLayout,
        );
        if (collection.head.listingBlocks > 1) severalListingBlocks++;
        if (collection.indexIds.length > 0) indexed++;
      }
      // The property must be seen where it could break: several listing blocks, and index blocks.
      expect(severalListingBlocks).toBeGreaterThan(0);
      if (idLayout !== DEFAULT_ID_LAYOUT) expect(indexed).toBeGreaterThan(COLLECTIONS_PER_LAYOUT / 2);
    });
  }
});
