// Turns a byte stream into sealed blocks and a manifest, never holding more than `concurrency`
// chunks: chunks are encrypted and hashed several at a time (WebCrypto runs them off the JS thread)
// and handed to the sink strictly in order, one at a time, waiting for it before going further.
// Then the index blocks (cleartext lists of data ids, for files over MAX_INLINE_IDS chunks) and the
// root, whose metadata is sealed under its own key and bound to the root's refs (format.ts).

import { BadInputError, throwIfAborted } from '../errors.js';
import { concatBytes, toHex } from './bytes.js';
import { mapInOrder } from '../in-order.js';
import { readChunks, type ByteSource, type Chunk } from './chunker.js';
import { defaultBackend, randomBytes, type CryptoBackend } from './crypto.js';
import {
  BLOCK_ID_BYTES,
  BlockKind,
  DEFAULT_CHUNK_SIZE,
  FILE_KEY_BYTES,
  SealKind,
  aadFor,
  blockIdToBytes,
  deriveFileKeys,
  nonceFor,
  paddedLength,
  type BlockId,
  type FileKeys,
  unpackIds,
} from './format.js';
import {
  DEFAULT_ID_LAYOUT,
  MAX_BLOCK_COUNT,
  MAX_INDEX_BLOCKS,
  checkIdLayout,
  encodeIndexBlock,
  encodeMetadata,
  encodeRootHeader,
  indexBlockCount,
  validateMeta,
  type IdLayout,
  type Manifest,
} from './manifest.js';
import { identifyBlock } from './verified.js';

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
  /** Ids of the index blocks (empty when the data ids fit in the root). */
  readonly indexIds: readonly BlockId[];
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
  /** Only for tests that reach index layouts with a few chunks: readers must be given the same. */
  readonly idLayout?: IdLayout;
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

/**
 * Seals chunk `index` of a file (its plaintext, padded if last) into its data block. Deterministic:
 * the nonce and AAD depend on the index alone, so the same key and bytes give the same block id
 * (how a resumed get checks the part of a file it already wrote: resume.ts).
 */
export async function sealChunk(
  key: FileKeys['data'],
  backend: CryptoBackend,
  index: number,
  last: boolean,
  plain: Uint8Array,
): Promise<SealedBlock & { digest: Uint8Array }> {
  const sealed = await key.seal(nonceFor(SealKind.Data, index), aadFor(SealKind.Data, index, last), plain);
  // Marked as hashed (content/verified.ts): a store the block is put into does not hash it again.
  const { id, bytes } = await identifyBlock(sealed, backend);
  return { id, bytes, kind: BlockKind.Data, index, digest: blockIdToBytes(id) };
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
  const idLayout = checkIdLayout(options.idLayout);
  const fileKey = options.fileKey ?? randomBytes(FILE_KEY_BYTES);
  if (fileKey.length !== FILE_KEY_BYTES) throw new RangeError('a file key is 32 bytes');
  const keys = await deriveFileKeys(fileKey, backend);

  const ids = new IdList();
  let size = 0;
  const seal = (chunk: Chunk) => {
    if (chunk.index >= MAX_BLOCK_COUNT) {
      throw new BadInputError(`file is too large: more than ${MAX_BLOCK_COUNT} chunks`);
    }
    size += chunk.bytes.length;
    let plain = chunk.bytes;
    if (chunk.last) {
      plain = new Uint8Array(paddedLength(chunk.bytes.length, chunkSize));
      plain.set(chunk.bytes);
    }
    const sealing = sealChunk(keys.data, backend, chunk.index, chunk.last, plain);
    options.onProgress?.(size);
    return sealing;
  };
  for await (const block of mapInOrder(readChunks(source, chunkSize, options.signal), concurrency, seal)) {
    ids.push(block.digest);
    await sink({ id: block.id, bytes: block.bytes, kind: block.kind, index: block.index });
  }
  throwIfAborted(options.signal);

  const manifest: Manifest = { name: options.name, size, mediaType, chunkSize, blockCount: ids.count };
  const dataIds = ids.bytes();
  const { root, indexIds } = await sealManifest(manifest, dataIds, keys, backend, sink, idLayout);
  return {
    root,
    key: fileKey,
    manifest,
    indexIds,
    allIds: function* () {
      yield* unpackIds(dataIds);
      yield* indexIds;
      yield root;
    },
  };
}

/**
 * Writes a manifest: its index blocks (if it has more ids than fit in the root), then the root.
 * Hands each to `sink` and returns the root id and the index block ids. `ids` are the data ids,
 * packed.
 */
export async function sealManifest(
  manifest: Manifest,
  ids: Uint8Array,
  keys: FileKeys,
  backend: CryptoBackend,
  sink: BlockSink,
  idLayout: IdLayout = DEFAULT_ID_LAYOUT,
): Promise<{ root: BlockId; indexIds: BlockId[] }> {
  const { blockCount } = manifest;
  if (ids.length !== blockCount * BLOCK_ID_BYTES) throw new RangeError('ids do not match the block count');
  const indexCount = indexBlockCount(blockCount, idLayout);
  if (indexCount > MAX_INDEX_BLOCKS)
    throw new BadInputError(`file is too large: more than ${MAX_INDEX_BLOCKS} index blocks`);
  const indexRefs = new IdList();
  const indexIds: BlockId[] = [];
  const per = idLayout.idsPerIndexBlock * BLOCK_ID_BYTES;
  for (let j = 0; j < indexCount; j++) {
    const bytes = encodeIndexBlock(j, ids.subarray(j * per, Math.min(ids.length, (j + 1) * per)));
    const digest = await backend.sha256(bytes);
    const id = toHex(digest);
    indexRefs.push(digest);
    indexIds.push(id);
    await sink({ id, bytes, kind: BlockKind.ManifestIndex, index: j });
  }
  const refs = indexCount === 0 ? ids : indexRefs.bytes();
  const bytes = await sealRoot(manifest, refs, indexCount > 0, keys, backend);
  const root = toHex(await backend.sha256(bytes));
  await sink({ id: root, bytes, kind: BlockKind.ManifestRoot, index: 0 });
  return { root, indexIds };
}

/**
 * A root block: the cleartext header listing `refs` (data ids, or index block ids when `indexed`),
 * then the metadata sealed under the metadata key, its AAD binding the header's SHA-256.
 */
export async function sealRoot(
  manifest: Manifest,
  refs: Uint8Array,
  indexed: boolean,
  keys: FileKeys,
  backend: CryptoBackend,
): Promise<Uint8Array> {
  const header = encodeRootHeader(manifest.blockCount, refs, indexed);
  const binding = await backend.sha256(header);
  const metadata = encodeMetadata(manifest, keys.commitment);
  const sealed = await keys.metadata.seal(
    nonceFor(SealKind.Metadata, 0),
    aadFor(SealKind.Metadata, 0, true, binding),
    metadata,
  );
  return concatBytes(header, sealed);
}
