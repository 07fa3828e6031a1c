// Opens a file from its root: fetches and verifies the manifest, then yields the plaintext (or a
// byte range of it) chunk by chunk. Every block is checked against its id and its tag before any of
// its bytes are yielded; a bad block raises BlockIntegrityError naming it and nothing after it is
// produced. A few chunks are fetched and decrypted ahead, in order, so memory stays bounded.

import { BlockIntegrityError, ManifestError, WrongKeyError, throwIfAborted } from '../errors.js';
import { bytesEqual, fromHex, toHex } from './bytes.js';
import { defaultBackend, type CryptoBackend } from './crypto.js';
import {
  BLOCK_ID_BYTES,
  BlockKind,
  aadFor,
  chunkLength,
  deriveFileKeys,
  nonceFor,
  paddedLength,
  type BlockId,
  type FileKeys,
} from './format.js';
import { IDS_PER_INDEX_BLOCK, blockIdAt, decodeRoot, idsInIndexBlock, type Manifest } from './manifest.js';

/** Chunks fetched and decrypted ahead of the reader. */
export const READ_AHEAD = 4;

/** Returns a block's bytes or throws (BlockMissingError when nobody has it). */
export type BlockGetter = (id: BlockId, signal?: AbortSignal) => Promise<Uint8Array>;

export interface OpenedFile {
  readonly root: BlockId;
  readonly manifest: Manifest;
  readonly keys: FileKeys;
  readonly backend: CryptoBackend;
  /** Ids of the manifest's index blocks (empty when the ids are inline in the root). */
  readonly indexIds: readonly BlockId[];
}

export interface OpenOptions {
  readonly backend?: CryptoBackend;
  readonly signal?: AbortSignal;
}

async function verifiedBlock(
  getBlock: BlockGetter,
  id: BlockId,
  backend: CryptoBackend,
  index: number | undefined,
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  const bytes = await getBlock(id, signal);
  const expected = fromHex(id)!;
  if (!bytesEqual(await backend.sha256(bytes), expected)) throw new BlockIntegrityError(id, 'hash', index);
  return bytes;
}

/**
 * Fetches, verifies and decodes the manifest named by `root` with `fileKey`.
 * @throws WrongKeyError if the key does not open the root; ManifestError if it opens but is
 *   malformed; BlockIntegrityError for a root or index block whose bytes are not its id.
 */
export async function openManifest(
  root: BlockId,
  fileKey: Uint8Array,
  getBlock: BlockGetter,
  options: OpenOptions = {},
): Promise<OpenedFile> {
  const backend = options.backend ?? defaultBackend();
  const keys = await deriveFileKeys(fileKey, backend);
  const rootBytes = await verifiedBlock(getBlock, root, backend, undefined, options.signal);
  const plain = await keys.manifest.open(nonceFor(0), aadFor(BlockKind.ManifestRoot, 0, true), rootBytes);
  if (!plain) throw new WrongKeyError(root);
  const decoded = decodeRoot(root, plain, keys.commitment);
  let ids = decoded.refs;
  const indexIds: BlockId[] = [];
  if (decoded.indexed) {
    ids = new Uint8Array(decoded.blockCount * BLOCK_ID_BYTES);
    const count = decoded.refs.length / BLOCK_ID_BYTES;
    for (let j = 0; j < count; j++) {
      throwIfAborted(options.signal);
      const id = toHex(decoded.refs.subarray(j * BLOCK_ID_BYTES, (j + 1) * BLOCK_ID_BYTES));
      indexIds.push(id);
      const sealed = await verifiedBlock(getBlock, id, backend, undefined, options.signal);
      const part = await keys.manifest.open(
        nonceFor(j),
        aadFor(BlockKind.ManifestIndex, j, j === count - 1),
        sealed,
      );
      if (!part) throw new BlockIntegrityError(id, 'auth');
      if (part.length !== idsInIndexBlock(decoded.blockCount, j) * BLOCK_ID_BYTES) {
        throw new ManifestError(root, `index block ${j} holds the wrong number of ids`);
      }
      ids.set(part, j * IDS_PER_INDEX_BLOCK * BLOCK_ID_BYTES);
    }
  }
  const manifest: Manifest = {
    name: decoded.name,
    size: decoded.size,
    mediaType: decoded.mediaType,
    chunkSize: decoded.chunkSize,
    blockCount: decoded.blockCount,
    ids,
  };
  return { root, manifest, keys, backend, indexIds };
}

/**
 * Verifies and decrypts the block of chunk `index` and returns its plaintext (padding removed).
 * @throws BlockIntegrityError naming the block: `hash`, `auth`, `length` or `padding`.
 */
export async function openChunk(
  file: OpenedFile,
  index: number,
  getBlock: BlockGetter,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const { manifest, keys, backend } = file;
  const id = blockIdAt(manifest, index);
  const sealed = await verifiedBlock(getBlock, id, backend, index, signal);
  const last = index === manifest.blockCount - 1;
  const plain = await keys.data.open(nonceFor(index), aadFor(BlockKind.Data, index, last), sealed);
  if (!plain) throw new BlockIntegrityError(id, 'auth', index);
  const length = chunkLength(manifest.size, manifest.chunkSize, index);
  const expected = last ? paddedLength(length, manifest.chunkSize) : length;
  if (plain.length !== expected) throw new BlockIntegrityError(id, 'length', index);
  for (let i = length; i < plain.length; i++) {
    if (plain[i] !== 0) throw new BlockIntegrityError(id, 'padding', index);
  }
  return plain.subarray(0, length);
}

export interface ReadOptions {
  /** First byte (inclusive); default 0. */
  readonly start?: number;
  /** End byte (exclusive); default the file's size. */
  readonly end?: number;
  readonly readAhead?: number;
  readonly signal?: AbortSignal;
}

/**
 * Yields the plaintext of `file` (or of [start, end)) in order. Reading the whole file checks every
 * block, the empty last block of an empty file included.
 */
export async function* readFile(
  file: OpenedFile,
  getBlock: BlockGetter,
  options: ReadOptions = {},
): AsyncGenerator<Uint8Array> {
  const { size, chunkSize, blockCount } = file.manifest;
  const start = options.start ?? 0;
  const end = options.end ?? size;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > size || start > end) {
    throw new RangeError(`range ${start}..${end} is outside the file's ${size} bytes`);
  }
  const whole = start === 0 && end === size;
  if (!whole && start === end) return;
  const first = whole ? 0 : Math.floor(start / chunkSize);
  const lastChunk = whole ? blockCount - 1 : Math.floor((end - 1) / chunkSize);
  const readAhead = Math.max(1, options.readAhead ?? READ_AHEAD);
  const pending: Promise<Uint8Array>[] = [];
  let next = first;
  const fill = () => {
    while (pending.length < readAhead && next <= lastChunk) {
      const p = openChunk(file, next++, getBlock, options.signal);
      p.catch(() => {}); // awaited in order below
      pending.push(p);
    }
  };
  try {
    for (let index = first; index <= lastChunk; index++) {
      fill();
      const plain = await pending.shift()!;
      throwIfAborted(options.signal);
      const chunkStart = index * chunkSize;
      const from = Math.max(0, start - chunkStart);
      const to = Math.min(plain.length, end - chunkStart);
      if (to > from) yield plain.subarray(from, to);
    }
  } finally {
    pending.length = 0;
  }
}

/** Wraps an async iterable of bytes as a ReadableStream that pulls only when its reader wants more. */
export function toReadableStream(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await iterator.next();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (error) {
        controller.error(error);
      }
    },
    async cancel(reason) {
      await iterator.return?.(reason);
    },
  });
}
