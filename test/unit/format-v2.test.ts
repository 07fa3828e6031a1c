// Isomorphic: runs in Node and in Chromium (see vite.config.ts).
//
// Format 2's public structure and what it promises: a holder without the key can list every block
// of a file and nothing more; the cleartext refs cannot be changed or given someone else's sealed
// metadata; malformed index blocks are refused by name; opening fetches the root only and index
// blocks as chunks need them; a format-1 link is named as one.
import { describe, expect, it } from 'vitest';
import {
  INDEX_FETCH_CONCURRENCY,
  listFileBlockIds,
  openFileBlocks,
  readRootRefs,
} from '../../src/content/block-list.js';
import { concatBytes, fromHex, toHex } from '../../src/content/bytes.js';
import { nobleBackend, webCrypto } from '../../src/content/crypto.js';
import {
  BLOCK_ID_BYTES,
  BlockKind,
  FORMAT_VERSION,
  blockIdToBytes,
  deriveFileKeys,
  type BlockId,
} from '../../src/content/format.js';
import {
  DEFAULT_ID_LAYOUT,
  MAX_INLINE_IDS,
  STRUCTURE_HEADER_BYTES,
  decodeRootStructure,
  type IdLayout,
} from '../../src/content/manifest.js';
import { openManifest, readFile } from '../../src/content/open.js';
import { sealRoot } from '../../src/content/seal.js';
import {
  BlockMissingError,
  FormatVersionError,
  ManifestError,
  WrongKeyError,
  BlockIntegrityError,
} from '../../src/errors.js';
import { collectIds, recordingGetter, sealToMap } from '../helpers/blocks.js';
import { collect, pseudoRandomBytes, sameBytes } from '../helpers/data.js';
import { V1_ROOT } from './fixtures/format-v1-root.js';

const CHUNK = 1024;
/** Reaches index blocks with a few chunks: 3 ids inline at most, 4 per index block. */
const SMALL: IdLayout = { maxInlineIds: 3, idsPerIndexBlock: 4 };

async function sha256Hex(bytes: Uint8Array): Promise<BlockId> {
  return toHex(await webCrypto()!.sha256(bytes));
}

function containsBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** A file of `chunks` chunks on the small layout: 10 chunks = index blocks of 4, 4 and 2 ids. */
async function indexedFile(chunks = 10, fileKey?: Uint8Array) {
  const bytes = pseudoRandomBytes(chunks * CHUNK - 7, chunks);
  const sealed = await sealToMap(bytes, { chunkSize: CHUNK, idLayout: SMALL, fileKey });
  return { bytes, ...sealed };
}

describe('a root and its index blocks are readable without the key', () => {
  it('a small file lists its data ids in the root', async () => {
    const { file, blocks } = await sealToMap(pseudoRandomBytes(3 * CHUNK, 1), { chunkSize: CHUNK });
    const refs = readRootRefs(file.root, blocks.get(file.root)!);
    expect(refs).toEqual({ root: file.root, layout: 'inline', blockCount: 3, refs: [...file.allIds()].slice(0, 3) });
  });

  it('a larger file lists its index blocks in the root', async () => {
    const { file, blocks } = await indexedFile();
    const refs = readRootRefs(file.root, blocks.get(file.root)!, { idLayout: SMALL });
    expect(refs).toMatchObject({ layout: 'indexed', blockCount: 10, refs: file.indexIds });
    expect(file.indexIds.length).toBe(3);
  });

  it('listing without the key gives exactly the ids the sealer made, inline', async () => {
    const { file, blocks } = await sealToMap(pseudoRandomBytes(5 * CHUNK + 3, 2), { chunkSize: CHUNK });
    expect(await collectIds(listFileBlockIds(file.root, recordingGetter(blocks).get))).toEqual([...file.allIds()]);
  });

  it('listing without the key gives exactly the ids the sealer made, over index blocks', async () => {
    const { file, blocks } = await indexedFile();
    const ids = await collectIds(listFileBlockIds(file.root, recordingGetter(blocks).get, { idLayout: SMALL }));
    expect(ids).toEqual([...file.allIds()]);
    expect(ids.length).toBe(10 + 3 + 1);
  });

  it('listing without the key works on the default layout past MAX_INLINE_IDS chunks', async () => {
    const { file, blocks } = await sealToMap(pseudoRandomBytes((MAX_INLINE_IDS + 1) * CHUNK, 3), { chunkSize: CHUNK });
    expect(file.indexIds.length).toBe(1);
    expect(await collectIds(listFileBlockIds(file.root, recordingGetter(blocks).get))).toEqual([...file.allIds()]);
  }, 60_000);

  it('a listing fetches no more than its bound of index blocks at once', async () => {
    const { file, blocks } = await indexedFile(40); // 10 index blocks
    const getter = recordingGetter(blocks, { slow: true });
    const ids = await collectIds(listFileBlockIds(file.root, getter.get, { idLayout: SMALL, concurrency: 2 }));
    expect(ids.length).toBe(40 + 10 + 1);
    expect(getter.maxInFlight).toBe(2);
  });

  it('the sealed metadata has one length whatever the name, and the name is not in the root', async () => {
    const lengths = new Set<number>();
    for (const name of ['a.txt', 'é'.repeat(500), `report-${'x'.repeat(1000)}`]) {
      const { file, blocks } = await sealToMap(pseudoRandomBytes(100, 4), { chunkSize: CHUNK, name });
      const root = blocks.get(file.root)!;
      lengths.add(root.length);
      expect(containsBytes(root, new TextEncoder().encode(name.slice(0, 5)))).toBe(false);
    }
    expect(lengths.size).toBe(1);
  });
});

describe('the public structure cannot be changed', () => {
  /** The root with refs `a` and `b` swapped. */
  function swapRefs(root: Uint8Array, a: number, b: number): Uint8Array {
    const out = root.slice();
    const at = (i: number) => STRUCTURE_HEADER_BYTES + i * BLOCK_ID_BYTES;
    out.set(root.subarray(at(b), at(b) + BLOCK_ID_BYTES), at(a));
    out.set(root.subarray(at(a), at(a) + BLOCK_ID_BYTES), at(b));
    return out;
  }

  it('changed refs served for the same root fail the root id', async () => {
    const { file, blocks } = await sealToMap(pseudoRandomBytes(4 * CHUNK, 5), { chunkSize: CHUNK });
    const tampered = swapRefs(blocks.get(file.root)!, 0, 1);
    blocks.set(file.root, tampered);
    await expect(openManifest(file.root, file.key, recordingGetter(blocks).get)).rejects.toMatchObject({
      code: 'BLOCK_INTEGRITY',
      blockId: file.root,
      problem: 'hash',
    });
    expect(() => readRootRefs(file.root, tampered)).toThrow(BlockIntegrityError);
  });

  it('changed refs under a new root id do not open: the metadata is bound to its refs', async () => {
    const { file, blocks } = await sealToMap(pseudoRandomBytes(4 * CHUNK, 5), { chunkSize: CHUNK });
    const tampered = swapRefs(blocks.get(file.root)!, 0, 1);
    const forged = await sha256Hex(tampered);
    blocks.set(forged, tampered);
    const error = await openManifest(forged, file.key, recordingGetter(blocks).get).catch((e) => e);
    expect(error).toBeInstanceOf(WrongKeyError);
    expect(error.root).toBe(forged);
  });

  it('sealed metadata moved onto another file’s refs does not open, even under the same key', async () => {
    const key = pseudoRandomBytes(32, 6);
    const a = await sealToMap(pseudoRandomBytes(4 * CHUNK, 7), { chunkSize: CHUNK, fileKey: key, name: 'a.txt' });
    const b = await sealToMap(pseudoRandomBytes(4 * CHUNK, 8), { chunkSize: CHUNK, fileKey: key, name: 'b.txt' });
    const rootA = decodeRootStructure(a.file.root, a.blocks.get(a.file.root)!);
    const rootB = decodeRootStructure(b.file.root, b.blocks.get(b.file.root)!);
    const transplanted = concatBytes(rootB.header, rootA.sealedMetadata);
    const id = await sha256Hex(transplanted);
    const blocks = new Map([...b.blocks, [id, transplanted]]);
    await expect(openManifest(id, key, recordingGetter(blocks).get)).rejects.toBeInstanceOf(WrongKeyError);
    // Both files open as themselves.
    expect((await openManifest(a.file.root, key, recordingGetter(a.blocks).get)).manifest.name).toBe('a.txt');
    expect((await openManifest(b.file.root, key, recordingGetter(b.blocks).get)).manifest.name).toBe('b.txt');
  });

  it('a root whose length disagrees with its counts is refused before any id is read', async () => {
    const { file, blocks } = await sealToMap(pseudoRandomBytes(4 * CHUNK, 9), { chunkSize: CHUNK });
    const cut = blocks.get(file.root)!.slice(0, -1);
    expect(() => readRootRefs(file.root, cut)).toThrow(BlockIntegrityError); // a cut root is not the root
    // Re-addressed, it is a root whose declared ids do not fit its bytes.
    const id = await sha256Hex(cut);
    expect(() => readRootRefs(id, cut)).toThrow(/root is \d+ bytes, expected \d+ for 4 ids/);
    expect(() => readRootRefs(id, cut)).toThrow(ManifestError);
  });

  it('an index block is not taken for a root', async () => {
    const { file, blocks } = await indexedFile();
    const index = blocks.get(file.indexIds[0]!)!;
    expect(() => readRootRefs(file.indexIds[0]!, index, { idLayout: SMALL })).toThrow(/an index block, not a root/);
  });
});

describe('a malformed index block is refused by name', () => {
  type Mutation = (block: Uint8Array) => Uint8Array;
  const setU32 =
    (offset: number, value: number): Mutation =>
    (block) => {
      const out = block.slice();
      new DataView(out.buffer).setUint32(offset, value);
      return out;
    };
  const cases: [string, Mutation, RegExp][] = [
    [
      'one id fewer than the root implies',
      (b) => setU32(10, 3)(b.slice(0, -BLOCK_ID_BYTES)),
      /lists 3 ids, expected 4/,
    ],
    ['a count that disagrees with its length', setU32(10, 3), /lists 3 ids, expected 4/],
    [
      'another kind of block',
      (b) => Uint8Array.from(b, (x, i) => (i === 5 ? 0 : x)),
      /is not an index block \(type 0\)/,
    ],
    ['another position', setU32(6, 1), /says it is index block 1/],
    ['trailing bytes', (b) => concatBytes(b, new Uint8Array(1)), /is 143 bytes, expected 142/],
    ['another format version', (b) => Uint8Array.from(b, (x, i) => (i === 4 ? 3 : x)), /is format 3/],
  ];

  /**
   * A key holder's forgery: index block 0 replaced by `mutate(block)`, and a root re-sealed with the
   * real key to list it, so only the index block's own checks stand in the way.
   */
  async function forgeIndex(mutate: Mutation) {
    const { file, blocks } = await indexedFile();
    const bad = mutate(blocks.get(file.indexIds[0]!)!);
    const badId = await sha256Hex(bad);
    blocks.set(badId, bad);
    const refs = concatBytes(...[badId, ...file.indexIds.slice(1)].map(blockIdToBytes));
    const keys = await deriveFileKeys(file.key, webCrypto()!);
    const rootBytes = await sealRoot(file.manifest, refs, true, keys, webCrypto()!);
    const root = await sha256Hex(rootBytes);
    blocks.set(root, rootBytes);
    return { root, key: file.key, blocks, badId };
  }

  for (const [what, mutate, message] of cases) {
    it(`${what}: reading a chunk it lists fails with ManifestError`, async () => {
      const forged = await forgeIndex(mutate);
      const getter = recordingGetter(forged.blocks);
      const opened = await openManifest(forged.root, forged.key, getter.get, { idLayout: SMALL });
      const error = await collect(readFile(opened, getter.get)).catch((e) => e);
      expect(error).toBeInstanceOf(ManifestError);
      expect(error.message).toMatch(message);
      expect(error.message).toContain(forged.badId.slice(0, 12));
    });

    it(`${what}: listing without the key fails with ManifestError`, async () => {
      const forged = await forgeIndex(mutate);
      const listing = collectIds(
        listFileBlockIds(forged.root, recordingGetter(forged.blocks).get, { idLayout: SMALL }),
      );
      await expect(listing).rejects.toThrow(ManifestError);
      await expect(listing).rejects.toThrow(message);
    });
  }
});

describe('opening is lazy', () => {
  it('opening a file with index blocks fetches its root only', async () => {
    const { file, blocks } = await indexedFile();
    const getter = recordingGetter(blocks);
    const opened = await openManifest(file.root, file.key, getter.get, { idLayout: SMALL });
    expect(opened.manifest).toMatchObject({ name: 'test.bin', blockCount: 10, mediaType: 'application/x-test' });
    expect(getter.requests).toEqual([
      { id: file.root, request: { kind: BlockKind.ManifestRoot, index: 0, signal: undefined } },
    ]);
  });

  it('concurrent readers of chunks in one index block fetch it once', async () => {
    const { file, blocks } = await indexedFile();
    const getter = recordingGetter(blocks, { slow: true });
    const opened = await openManifest(file.root, file.key, getter.get, { idLayout: SMALL });
    const ids = await Promise.all([4, 5, 6, 7, 5].map((i) => opened.dataId(i)));
    expect(ids).toEqual([4, 5, 6, 7, 5].map((i) => [...file.allIds()][i]));
    const indexRequests = getter.requests.filter((r) => r.request.kind === BlockKind.ManifestIndex);
    expect(indexRequests).toEqual([{ id: file.indexIds[1], request: expect.objectContaining({ index: 1 }) }]);
  });

  it('reading the whole file fetches each index block once and tells the getter each chunk’s index', async () => {
    const { file, blocks, bytes } = await indexedFile();
    const getter = recordingGetter(blocks);
    const opened = await openManifest(file.root, file.key, getter.get, { idLayout: SMALL });
    expect(sameBytes(await collect(readFile(opened, getter.get)), bytes)).toBe(true);
    const asked = getter.requests.map((r) => [r.request.kind, r.request.index, r.id]);
    const data = [...file.allIds()].slice(0, 10);
    expect(asked.filter(([kind]) => kind === BlockKind.ManifestIndex)).toEqual(
      file.indexIds.map((id, j) => [BlockKind.ManifestIndex, j, id]),
    );
    expect(asked.filter(([kind]) => kind === BlockKind.Data)).toEqual(data.map((id, i) => [BlockKind.Data, i, id]));
  });

  it('an opened file lists every block it has, as the sealer made them', async () => {
    const { file, blocks } = await indexedFile(13);
    const opened = await openManifest(file.root, file.key, recordingGetter(blocks).get, { idLayout: SMALL });
    expect(await collectIds(opened.allIds())).toEqual([...file.allIds()]);
  });

  it('prefetching the index keeps no more than its bound of index blocks in flight', async () => {
    const { file, blocks } = await indexedFile(40);
    const getter = recordingGetter(blocks, { slow: true });
    const opened = await openManifest(file.root, file.key, getter.get, { idLayout: SMALL });
    await opened.loadIndex();
    const indexRequests = getter.requests.filter((r) => r.request.kind === BlockKind.ManifestIndex);
    expect(indexRequests.map((r) => r.id)).toEqual(file.indexIds);
    expect(getter.maxInFlight).toBe(INDEX_FETCH_CONCURRENCY);
  });

  it('without the key, a chunk’s data id needs the root and that chunk’s index block only', async () => {
    const { file, blocks } = await indexedFile();
    const getter = recordingGetter(blocks);
    const keyless = await openFileBlocks(file.root, getter.get, { idLayout: SMALL });
    expect(keyless.indexIds).toEqual(file.indexIds);
    expect(keyless.blockCount).toBe(10);
    expect(await keyless.dataId(9)).toBe([...file.allIds()][9]);
    expect(getter.requests.map((r) => r.id)).toEqual([file.root, file.indexIds[2]]);
  });

  it('a reader that gives up does not fail another reader waiting for the same index block', async () => {
    const { file, blocks } = await indexedFile();
    const getter = recordingGetter(blocks, { slow: true });
    const opened = await openManifest(file.root, file.key, getter.get, { idLayout: SMALL });
    const quitter = new AbortController();
    const first = opened.dataId(9, quitter.signal);
    const second = opened.dataId(8);
    quitter.abort();
    await expect(first).rejects.toMatchObject({ code: 'ABORTED' });
    expect(await second).toBe([...file.allIds()][8]);
  });
});

describe('the WebCrypto and noble backends on index layouts', () => {
  it('produce identical blocks and open each other’s files', async () => {
    const bytes = pseudoRandomBytes(9 * CHUNK + 5, 12);
    const fileKey = pseudoRandomBytes(32, 13);
    const viaWeb = await sealToMap(bytes, { chunkSize: CHUNK, idLayout: SMALL, fileKey, backend: webCrypto()! });
    const viaNoble = await sealToMap(bytes, { chunkSize: CHUNK, idLayout: SMALL, fileKey, backend: nobleBackend });
    expect(viaNoble.order.map((b) => b.id)).toEqual(viaWeb.order.map((b) => b.id));
    const opened = await openManifest(viaWeb.file.root, fileKey, recordingGetter(viaWeb.blocks).get, {
      backend: nobleBackend,
      idLayout: SMALL,
    });
    expect(sameBytes(await collect(readFile(opened, recordingGetter(viaWeb.blocks).get)), bytes)).toBe(true);
  });
});

describe('links made by another version of Mycel', () => {
  const v1Bytes = fromHex(V1_ROOT.bytes)!;
  const v1Blocks = new Map([[V1_ROOT.id, v1Bytes]]);

  it('a format-1 root gives the “older Mycel” error', async () => {
    const error = await openManifest(V1_ROOT.id, fromHex(V1_ROOT.key)!, recordingGetter(v1Blocks).get).catch((e) => e);
    expect(error).toBeInstanceOf(FormatVersionError);
    expect(error).toMatchObject({ code: 'UNSUPPORTED_FORMAT', version: 1, root: V1_ROOT.id });
    expect(error.message).toBe(
      'this link was made by an older version of Mycel (format 1); ask the sender to share it again',
    );
  });

  it('a format-1 root is recognised only with its key, never guessed', async () => {
    const wrong = fromHex(V1_ROOT.key)!;
    wrong[0]! ^= 1;
    const error = await openManifest(V1_ROOT.id, wrong, recordingGetter(v1Blocks).get).catch((e) => e);
    expect(error).toBeInstanceOf(ManifestError);
    expect(() => readRootRefs(V1_ROOT.id, v1Bytes)).toThrow(ManifestError);
  });

  it('a root naming a newer format says so', async () => {
    const { file, blocks } = await sealToMap(pseudoRandomBytes(10, 14), { chunkSize: CHUNK });
    const newer = blocks.get(file.root)!.slice();
    newer[4] = FORMAT_VERSION + 1;
    const id = await sha256Hex(newer);
    const error = await openManifest(id, file.key, recordingGetter(new Map([[id, newer]])).get).catch((e) => e);
    expect(error).toBeInstanceOf(FormatVersionError);
    expect(error.message).toMatch(/newer version of Mycel \(format 3\)/);
  });
});

it('the default layout is the one files are made with', () => {
  expect(DEFAULT_ID_LAYOUT).toEqual({ maxInlineIds: 4096, idsPerIndexBlock: 8192 });
});

it('a missing root is reported missing, by id', async () => {
  const id = toHex(new Uint8Array(32));
  await expect(openManifest(id, new Uint8Array(32), recordingGetter(new Map()).get)).rejects.toBeInstanceOf(
    BlockMissingError,
  );
});
