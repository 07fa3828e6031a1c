// Node only (it reads process.memoryUsage()).
//
// The hostile link of issue 7, item 10: a root, sealed with the link's real key, that declares
// 2^26 chunks over 8,192 index blocks nobody has. Format 1 allocated 2^26 × 32 bytes (2 GiB) before
// showing anything. Now opening costs the root, memory grows only with what was verified, and
// reading fails at the first index block the getter cannot give.
import { describe, expect, it } from 'vitest';
import { INDEX_FETCH_CONCURRENCY, listFileBlockIds } from '../../src/content/block-list.js';
import { toHex } from '../../src/content/bytes.js';
import { webCrypto } from '../../src/content/crypto.js';
import { BlockKind, DEFAULT_CHUNK_SIZE, MiB, deriveFileKeys } from '../../src/content/format.js';
import { MAX_BLOCK_COUNT, MAX_INDEX_BLOCKS } from '../../src/content/manifest.js';
import { openManifest, readFile } from '../../src/content/open.js';
import { sealRoot } from '../../src/content/seal.js';
import { BlockMissingError } from '../../src/errors.js';
import { collectIds, recordingGetter } from '../helpers/blocks.js';
import { collect, pseudoRandomBytes } from '../helpers/data.js';

/** Generous: format 1 grew by 2 GiB here; format 2 by well under 1 MiB. */
const MEMORY_BOUND = 64 * MiB;

/** JS heap plus ArrayBuffers (where block bytes live): what a declared size could have inflated. */
function memoryInUse(): number {
  (globalThis as { gc?: () => void }).gc?.();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

async function hugeRoot() {
  const backend = webCrypto()!;
  const key = pseudoRandomBytes(32, 26);
  const keys = await deriveFileKeys(key, backend);
  const manifest = {
    name: 'huge.bin',
    mediaType: 'application/octet-stream',
    chunkSize: DEFAULT_CHUNK_SIZE,
    size: MAX_BLOCK_COUNT * DEFAULT_CHUNK_SIZE,
    blockCount: MAX_BLOCK_COUNT,
  };
  const refs = pseudoRandomBytes(MAX_INDEX_BLOCKS * 32, 27); // 8,192 index block ids of nothing
  const bytes = await sealRoot(manifest, refs, true, keys, backend);
  const root = toHex(await backend.sha256(bytes));
  return { root, key, blocks: new Map([[root, bytes]]), firstIndex: toHex(refs.subarray(0, 32)) };
}

describe('a root declaring 2^26 chunks', () => {
  it('opens in bounded memory and reading fails at its first missing index block', async ({ annotate }) => {
    const { root, key, blocks, firstIndex } = await hugeRoot();
    const getter = recordingGetter(blocks);
    const before = memoryInUse();
    const opened = await openManifest(root, key, getter.get);
    expect(opened.manifest.blockCount).toBe(2 ** 26);
    expect(opened.indexIds.length).toBe(8192);
    const error = await collect(readFile(opened, getter.get)).catch((e) => e);
    const grown = memoryInUse() - before;

    expect(error).toBeInstanceOf(BlockMissingError);
    expect(error.blockId).toBe(firstIndex);
    // The root, then index block 0 once (the chunks read ahead all wait on it), and nothing more.
    expect(getter.requests.map((r) => [r.request.kind, r.request.index])).toEqual([
      [BlockKind.ManifestRoot, 0],
      [BlockKind.ManifestIndex, 0],
    ]);
    expect(grown).toBeLessThan(MEMORY_BOUND);
    await annotate(`memory (heap + ArrayBuffers) grew by ${(grown / 1024).toFixed(0)} KiB opening it and reading`);
  });

  it('a keyless listing fails at the first missing index block, having asked for no more than its bound', async () => {
    const { root, blocks, firstIndex } = await hugeRoot();
    const getter = recordingGetter(blocks);
    await expect(collectIds(listFileBlockIds(root, getter.get))).rejects.toMatchObject({
      code: 'BLOCK_MISSING',
      blockId: firstIndex,
    });
    expect(getter.requests.length).toBeLessThanOrEqual(1 + INDEX_FETCH_CONCURRENCY);
  });
});
