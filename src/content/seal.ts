// Turns a byte stream into sealed blocks and a manifest, never holding more than `concurrency`
// chunks: chunks are encrypted and hashed several at a time (WebCrypto runs them off the JS thread)
// and handed to the sink strictly in order, one at a time, waiting for it before going further.

import { BadInputError, throwIfAborted } from '../errors.js';
import { toHex } from './bytes.js';
import { readChunks, type ByteSource } from './chunker.js';
import { defaultBackend, randomBytes, type CryptoBackend } from './crypto.js';
import {
  BLOCK_ID_BYTES,
  BlockKind,
  DEFAULT_CHUNK_SIZE,
  FILE_KEY_BYTES,
  aadFor,
  deriveFileKeys,
  nonceFor,
  paddedLength,
  type BlockId,
  type FileKeys,
} from './format.js';
import {
  IDS_PER_INDEX_BLOCK,
  MAX_BLOCK_COUNT,
  encodeRoot,
  indexBlockCount,
  validateMeta,
  type Manifest,
} from './manifest.js';

/** Chunks sealed at once: enough to keep WebCrypto's thread pool busy (see crypto-speed notes). */
export const SEAL_CONCURRENCY = 4;

export interface SealedBlock {
  readonly id: BlockId;
  readonly bytes: Uint8Array;
  readonly kind: BlockKind;
  /** Chunk index (data), index block number (index), 0 (root). */
  readonly index: number;
}

export interface SealedFile {
  readonly root: BlockId;
  /** The file key: goes into the link's fragment and nowhere else. */
  readonly key: Uint8Array;
  readonly manifest: Manifest;
  /** Ids of every block of the file: data, index blocks, and the root last. */
  readonly allIds: () => Iterable<BlockId>;
}

export interface SealOptions {
  readonly name: string;
  readonly mediaType?: string;
  readonly chunkSize?: number;
  readonly backend?: CryptoBackend;
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
  /** Progress in plaintext bytes read so far. */
  readonly onProgress?: (bytesRead: number) => void;
  /** Only for tests that need reproducible output. Never reuse a key for other content. */
  readonly fileKey?: Uint8Array;
}

export type BlockSink = (block: SealedBlock) => Promise<void> | void;

/** A growable packed list of 32-byte ids. */
class IdList {
  private buf = new Uint8Array(BLOCK_ID_BYTES * 64);
  count = 0;
  push(id: Uint8Array): void {
    if ((this.count + 1) * BLOCK_ID_BYTES > this.buf.length) {
      const next = new Uint8Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf.set(id, this.count * BLOCK_ID_BYTES);
    this.count++;
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.count * BLOCK_ID_BYTES);
  }
}

async function sealOne(
  key: FileKeys['data'],
  backend: CryptoBackend,
  kind: BlockKind,
  index: number,
  last: boolean,
  plain: Uint8Array,
): Promise<SealedBlock & { digest: Uint8Array }> {
  const bytes = await key.seal(nonceFor(index), aadFor(kind, index, last), plain);
  const digest = await backend.sha256(bytes);
  return { id: toHex(digest), bytes, kind, index, digest };
}

/**
 * Reads `source`, seals it, and hands every block to `sink` in order: data blocks, then index
 * blocks (files over 4096 chunks), then the root. Resolves once the sink has taken the root.
 */
export async function sealFile(source: ByteSource, sink: BlockSink, options: SealOptions): Promise<SealedFile> {
  const backend = options.backend ?? defaultBackend();
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const mediaType = options.mediaType || 'application/octet-stream';
  const concurrency = Math.max(1, options.concurrency ?? SEAL_CONCURRENCY);
  validateMeta(options.name, mediaType, chunkSize);
  const fileKey = options.fileKey ?? randomBytes(FILE_KEY_BYTES);
  if (fileKey.length !== FILE_KEY_BYTES) throw new RangeError('a file key is 32 bytes');
  const keys = await deriveFileKeys(fileKey, backend);

  const ids = new IdList();
  const inFlight: Promise<SealedBlock & { digest: Uint8Array }>[] = [];
  let size = 0;
  const emitOldest = async () => {
    const block = await inFlight.shift()!;
    ids.push(block.digest);
    await sink({ id: block.id, bytes: block.bytes, kind: block.kind, index: block.index });
  };

  try {
    for await (const chunk of readChunks(source, chunkSize, options.signal)) {
      if (chunk.index >= MAX_BLOCK_COUNT) {
        throw new BadInputError(`file is too large: more than ${MAX_BLOCK_COUNT} chunks`);
      }
      size += chunk.bytes.length;
      let plain = chunk.bytes;
      if (chunk.last) {
        plain = new Uint8Array(paddedLength(chunk.bytes.length, chunkSize));
        plain.set(chunk.bytes);
      }
      const sealing = sealOne(keys.data, backend, BlockKind.Data, chunk.index, chunk.last, plain);
      sealing.catch(() => {}); // awaited in order below; this only keeps a later failure from going unhandled
      inFlight.push(sealing);
      if (inFlight.length >= concurrency) await emitOldest();
      options.onProgress?.(size);
    }
    while (inFlight.length > 0) await emitOldest();
  } finally {
    inFlight.length = 0;
  }
  throwIfAborted(options.signal);

  const manifest: Manifest = { name: options.name, size, mediaType, chunkSize, blockCount: ids.count, ids: ids.bytes() };
  const { root, indexIds } = await sealManifest(manifest, keys, backend, sink);
  return {
    root,
    key: fileKey,
    manifest,
    allIds: function* () {
      for (let o = 0; o < manifest.ids.length; o += BLOCK_ID_BYTES) {
        yield toHex(manifest.ids.subarray(o, o + BLOCK_ID_BYTES));
      }
      yield* indexIds;
      yield root;
    },
  };
}

/**
 * Seals a manifest: its index blocks (if it has more ids than fit in the root), then the root.
 * Hands each to `sink` and returns the root id and the index block ids.
 */
export async function sealManifest(
  manifest: Manifest,
  keys: FileKeys,
  backend: CryptoBackend,
  sink: BlockSink,
): Promise<{ root: BlockId; indexIds: BlockId[] }> {
  const { blockCount } = manifest;
  const indexCount = indexBlockCount(blockCount);
  const indexIds = new IdList();
  const indexHex: BlockId[] = [];
  for (let j = 0; j < indexCount; j++) {
    const slice = manifest.ids.subarray(
      j * IDS_PER_INDEX_BLOCK * BLOCK_ID_BYTES,
      Math.min(blockCount, (j + 1) * IDS_PER_INDEX_BLOCK) * BLOCK_ID_BYTES,
    );
    const block = await sealOne(keys.manifest, backend, BlockKind.ManifestIndex, j, j === indexCount - 1, slice);
    indexIds.push(block.digest);
    indexHex.push(block.id);
    await sink({ id: block.id, bytes: block.bytes, kind: block.kind, index: block.index });
  }
  const refs = indexCount === 0 ? manifest.ids : indexIds.bytes();
  const rootPlain = encodeRoot(manifest, keys.commitment, refs);
  const root = await sealOne(keys.manifest, backend, BlockKind.ManifestRoot, 0, true, rootPlain);
  await sink({ id: root.id, bytes: root.bytes, kind: root.kind, index: 0 });
  return { root: root.id, indexIds: indexHex };
}
