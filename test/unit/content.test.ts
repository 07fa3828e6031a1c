// Isomorphic: runs in Node and in Chromium (see vite.config.ts).
import { describe, expect, it } from 'vitest';
import { nobleBackend, webCrypto } from '../../src/content/crypto.js';
import {
  BlockKind,
  DEFAULT_CHUNK_SIZE,
  blockIdToBytes,
  deriveFileKeys,
  type BlockId,
} from '../../src/content/format.js';
import { MAX_INLINE_IDS, type Manifest } from '../../src/content/manifest.js';
import { openManifest, readFile, type OpenedManifest } from '../../src/content/open.js';
import { sealFile, sealManifest } from '../../src/content/seal.js';
import { isVerifiedAs } from '../../src/content/verified.js';
import { BlockIntegrityError, ManifestError, WrongKeyError } from '../../src/errors.js';
import { getterFrom, sealToMap } from '../helpers/blocks.js';
import { collect, pseudoRandomBytes, sameBytes } from '../helpers/data.js';

const SMALL_CHUNK = 4096;

async function roundTrip(bytes: Uint8Array, chunkSize: number) {
  const { file, blocks } = await sealToMap(bytes, { chunkSize });
  const opened = await openManifest(file.root, file.key, getterFrom(blocks));
  expect(opened.manifest.name).toBe('test.bin');
  expect(opened.manifest.size).toBe(bytes.length);
  expect(opened.manifest.mediaType).toBe('application/x-test');
  const out = await collect(readFile(opened, getterFrom(blocks)));
  expect(out.length).toBe(bytes.length);
  expect(sameBytes(out, bytes)).toBe(true);
  return { file, blocks, opened };
}

describe('sealing and opening a file', () => {
  const sizes = [0, 1, SMALL_CHUNK - 1, SMALL_CHUNK, SMALL_CHUNK + 1, 3 * SMALL_CHUNK + 17, 12_345, 100_003];
  for (const size of sizes) {
    it(`round-trips ${size} bytes at a ${SMALL_CHUNK}-byte chunk size`, async () => {
      await roundTrip(pseudoRandomBytes(size, size + 1), SMALL_CHUNK);
    });
  }

  for (const size of [0, 1, DEFAULT_CHUNK_SIZE - 1, DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_SIZE + 1]) {
    it(`round-trips ${size} bytes at the default chunk size`, async () => {
      await roundTrip(pseudoRandomBytes(size, 7), DEFAULT_CHUNK_SIZE);
    });
  }

  it('round-trips random sizes', async () => {
    let seed = 99;
    for (let i = 0; i < 6; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      await roundTrip(pseudoRandomBytes(seed % 50_000, seed), 1024 + (seed % 3) * 1024);
    }
  });

  it('reads a file from a ReadableStream source', async () => {
    const bytes = pseudoRandomBytes(20_000, 5);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, 5000));
        controller.enqueue(bytes.slice(5000));
        controller.close();
      },
    });
    const blocks = new Map<BlockId, Uint8Array>();
    const file = await sealFile(stream, (b) => void blocks.set(b.id, b.bytes), { name: 's', chunkSize: SMALL_CHUNK });
    const opened = await openManifest(file.root, file.key, getterFrom(blocks));
    expect(sameBytes(await collect(readFile(opened, getterFrom(blocks))), bytes)).toBe(true);
  });

  it('hands over data blocks marked as hashed, so a store they go to does not hash them again', async () => {
    const { order } = await sealToMap(pseudoRandomBytes(3 * SMALL_CHUNK, 4), { chunkSize: SMALL_CHUNK });
    const data = order.filter((b) => b.kind === BlockKind.Data);
    expect(data).toHaveLength(3);
    for (const b of data) expect(isVerifiedAs(b.bytes, b.id)).toBe(true);
  });

  it('hands blocks to the sink in order: data, then the root last', async () => {
    const { file, order } = await sealToMap(pseudoRandomBytes(3 * SMALL_CHUNK, 3), { chunkSize: SMALL_CHUNK });
    expect(order.map((b) => [b.kind, b.index])).toEqual([
      [BlockKind.Data, 0],
      [BlockKind.Data, 1],
      [BlockKind.Data, 2],
      [BlockKind.ManifestRoot, 0],
    ]);
    expect(order.at(-1)!.id).toBe(file.root);
    expect([...file.allIds()]).toEqual(order.map((b) => b.id));
  });

  it('gives every file a fresh key, so equal contents give unrelated blocks', async () => {
    const bytes = pseudoRandomBytes(5000, 1);
    const a = await sealToMap(bytes, { chunkSize: SMALL_CHUNK });
    const b = await sealToMap(bytes, { chunkSize: SMALL_CHUNK });
    expect(sameBytes(a.file.key, b.file.key)).toBe(false);
    expect(a.file.root).not.toBe(b.file.root);
  });

  it('pads the last block so its size reveals the file size only roughly', async () => {
    const sizes = new Set<number>();
    for (const n of [1, 100, 500]) {
      const { order } = await sealToMap(pseudoRandomBytes(n, n), { chunkSize: SMALL_CHUNK });
      sizes.add(order[0]!.bytes.length);
    }
    expect(sizes.size).toBe(1);
  });

  it('spreads the ids of a file with many chunks over index blocks', async () => {
    const chunk = 1024;
    const bytes = pseudoRandomBytes((MAX_INLINE_IDS + 10) * chunk, 11);
    const { file, blocks, opened } = await roundTrip(bytes, chunk);
    expect(opened.indexIds.length).toBe(1);
    expect(opened.manifest.blockCount).toBe(MAX_INLINE_IDS + 10);
    expect([...file.allIds()].length).toBe(MAX_INLINE_IDS + 10 + 2);
    expect(blocks.size).toBe(MAX_INLINE_IDS + 12);
  });

  it('reads byte ranges across chunk boundaries', async () => {
    const bytes = pseudoRandomBytes(10 * SMALL_CHUNK + 5, 21);
    const { opened, blocks } = await roundTrip(bytes, SMALL_CHUNK);
    const cases: [number, number][] = [
      [0, 1],
      [SMALL_CHUNK - 1, SMALL_CHUNK + 1],
      [3 * SMALL_CHUNK + 10, 7 * SMALL_CHUNK],
      [bytes.length - 3, bytes.length],
      [500, 500],
    ];
    for (const [start, end] of cases) {
      const part = await collect(readFile(opened, getterFrom(blocks), { start, end }));
      expect(sameBytes(part, bytes.subarray(start, end))).toBe(true);
    }
    await expect(collect(readFile(opened, getterFrom(blocks), { start: 5, end: bytes.length + 1 }))).rejects.toThrow(
      RangeError,
    );
  });
});

describe('the WebCrypto and noble backends', () => {
  const subtle = webCrypto();

  it('exists here (Node, and Chromium on a secure origin)', () => {
    expect(subtle?.name).toBe('webcrypto');
  });

  it('produce identical blocks and open each other’s files', async () => {
    const bytes = pseudoRandomBytes(5 * SMALL_CHUNK + 99, 42);
    const fileKey = pseudoRandomBytes(32, 77);
    const viaWeb = await sealToMap(bytes, { chunkSize: SMALL_CHUNK, backend: subtle!, fileKey });
    const viaNoble = await sealToMap(bytes, { chunkSize: SMALL_CHUNK, backend: nobleBackend, fileKey });
    expect(viaNoble.order.map((b) => b.id)).toEqual(viaWeb.order.map((b) => b.id));
    for (let i = 0; i < viaWeb.order.length; i++) {
      expect(sameBytes(viaNoble.order[i]!.bytes, viaWeb.order[i]!.bytes)).toBe(true);
    }
    const opened = await openManifest(viaWeb.file.root, fileKey, getterFrom(viaWeb.blocks), { backend: nobleBackend });
    const out = await collect(readFile(opened, getterFrom(viaWeb.blocks)));
    expect(sameBytes(out, bytes)).toBe(true);
  });
});

describe('tampering is detected and named', () => {
  const bytes = pseudoRandomBytes(4 * SMALL_CHUNK + 100, 8);

  async function sealed() {
    const s = await sealToMap(bytes, { chunkSize: SMALL_CHUNK });
    const opened = await openManifest(s.file.root, s.file.key, getterFrom(s.blocks));
    return { ...s, opened };
  }

  /** Re-seals a changed manifest with the real key: what a key holder turned attacker could do. */
  async function forgeManifest(
    fileKey: Uint8Array,
    manifest: Manifest,
    ids: Uint8Array,
    blocks: Map<BlockId, Uint8Array>,
  ) {
    const keys = await deriveFileKeys(fileKey, webCrypto()!);
    const { root } = await sealManifest(manifest, ids, keys, webCrypto()!, (b) => void blocks.set(b.id, b.bytes));
    return openManifest(root, fileKey, getterFrom(blocks));
  }

  async function idsWith(opened: OpenedManifest, order: number[]): Promise<Uint8Array> {
    const ids = new Uint8Array(order.length * 32);
    for (const [to, from] of order.entries()) ids.set(blockIdToBytes(await opened.dataId(from)), to * 32);
    return ids;
  }

  const blockIdAt = (opened: OpenedManifest, index: number) => opened.dataId(index);

  it('a flipped bit in a block fails its hash, naming the block', async () => {
    const { opened, blocks } = await sealed();
    const victim = await blockIdAt(opened, 2);
    const bad = blocks.get(victim)!.slice();
    bad[100]! ^= 1;
    blocks.set(victim, bad);
    const error = await collect(readFile(opened, getterFrom(blocks))).catch((e) => e);
    expect(error).toBeInstanceOf(BlockIntegrityError);
    expect(error).toMatchObject({ code: 'BLOCK_INTEGRITY', blockId: victim, index: 2, problem: 'hash' });
  });

  it('yields nothing past a bad block', async () => {
    const { opened, blocks } = await sealed();
    const victim = await blockIdAt(opened, 1);
    blocks.set(victim, new Uint8Array(blocks.get(victim)!.length));
    const seen: Uint8Array[] = [];
    await expect(
      (async () => {
        for await (const part of readFile(opened, getterFrom(blocks), { readAhead: 1 })) seen.push(part);
      })(),
    ).rejects.toBeInstanceOf(BlockIntegrityError);
    expect(seen.length).toBe(1);
  });

  it('a block served for another id fails its hash', async () => {
    const { opened, blocks } = await sealed();
    const [a, b] = [await blockIdAt(opened, 0), await blockIdAt(opened, 1)];
    const swapped = new Map(blocks);
    swapped.set(a, blocks.get(b)!);
    swapped.set(b, blocks.get(a)!);
    await expect(collect(readFile(opened, getterFrom(swapped)))).rejects.toMatchObject({ blockId: a, problem: 'hash' });
  });

  it('two blocks swapped in the manifest fail authentication at their new position', async () => {
    const { opened, blocks, file } = await sealed();
    const forged = await forgeManifest(file.key, opened.manifest, await idsWith(opened, [1, 0, 2, 3, 4]), blocks);
    await expect(collect(readFile(forged, getterFrom(blocks)))).rejects.toMatchObject({
      code: 'BLOCK_INTEGRITY',
      index: 0,
      problem: 'auth',
      blockId: await blockIdAt(opened, 1),
    });
  });

  it('dropping the last block fails: the new last block was not sealed as last', async () => {
    const { opened, blocks, file } = await sealed();
    const forged = await forgeManifest(
      file.key,
      { ...opened.manifest, size: 4 * SMALL_CHUNK, blockCount: 4 },
      await idsWith(opened, [0, 1, 2, 3]),
      blocks,
    );
    await expect(collect(readFile(forged, getterFrom(blocks)))).rejects.toMatchObject({ index: 3, problem: 'auth' });
  });

  it('a block nobody has is reported missing, by id', async () => {
    const { opened, blocks } = await sealed();
    const last = await blockIdAt(opened, 4);
    blocks.delete(last);
    await expect(collect(readFile(opened, getterFrom(blocks)))).rejects.toMatchObject({
      code: 'BLOCK_MISSING',
      blockId: last,
    });
  });

  it('a wrong key does not open the manifest', async () => {
    const { file, blocks } = await sealed();
    const wrong = file.key.slice();
    wrong[0]! ^= 0x80;
    const error = await openManifest(file.root, wrong, getterFrom(blocks)).catch((e) => e);
    expect(error).toBeInstanceOf(WrongKeyError);
    expect(error.root).toBe(file.root);
  });

  it('a damaged root fails its hash before any decryption', async () => {
    const { file, blocks } = await sealed();
    const root = blocks.get(file.root)!.slice();
    root[0]! ^= 1;
    blocks.set(file.root, root);
    await expect(openManifest(file.root, file.key, getterFrom(blocks))).rejects.toMatchObject({
      code: 'BLOCK_INTEGRITY',
      blockId: file.root,
    });
  });

  it('a manifest whose counts disagree is rejected as invalid', async () => {
    const { opened, blocks, file } = await sealed();
    await expect(
      forgeManifest(
        file.key,
        { ...opened.manifest, size: opened.manifest.size * 3 },
        await idsWith(opened, [0, 1, 2, 3, 4]),
        blocks,
      ),
    ).rejects.toBeInstanceOf(ManifestError);
  });
});
