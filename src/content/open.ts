// Opens a file from its root: fetches and verifies the root, opens its metadata, and then reads the
// plaintext (or a byte range of it) chunk by chunk. The file's block lists are FileBlocks'
// (block-list.ts): data ids in index blocks are fetched only when a chunk needs them, so opening
// costs one block and memory grows with what was verified, never with what a root declares. Every
// block is checked against its id and its tag before any of its bytes are yielded; a bad block
// raises BlockIntegrityError naming it and nothing after it is produced. A few chunks are fetched
// and decrypted ahead, in order, so memory stays bounded.

import { BlockIntegrityError, FormatVersionError, WrongKeyError, throwIfAborted } from '../errors.js';
import { mapInOrder, range } from '../in-order.js';

import { defaultBackend, type CryptoBackend } from './crypto.js';
import {
  BlockKind,
  FORMAT_VERSION,
  SealKind,
  aadFor,
  chunkLength,
  deriveFileKeys,
  isBlockId,
  nonceFor,
  paddedLength,
  type BlockId,
  type FileKeys,
} from './format.js';
import {
  checkIdLayout,
  decodeMetadata,
  decodeRootStructure,
  hasMagic,
  type IdLayout,
  type Manifest,
  type RootStructure,
} from './manifest.js';
import { FileBlocks, fetchVerified, type BlockGetter } from './block-list.js';
import { legacyRootVersion } from './legacy.js';

export type { BlockGetter, BlockRequest, IdListOptions } from './block-list.js';
export { INDEX_CACHE_BLOCKS } from './block-list.js';

/** Chunks fetched and decrypted ahead of the reader. */
export const READ_AHEAD = 4;

export interface OpenOptions {
  readonly backend?: CryptoBackend;
  /** Ends the opening and every later fetch of the file's index blocks. */
  readonly signal?: AbortSignal;
  /** Tests only: the layout the file was sealed with. */
  readonly idLayout?: IdLayout;
}

/**
 * A file whose root has been verified and whose metadata opened under its key: its block lists
 * (FileBlocks: data ids, fetched through the getter given to openManifest when first needed, and
 * index ids), with what the file is and the keys to read it.
 */
export class OpenedManifest extends FileBlocks {
  /** Made by openManifest. */
  constructor(
    root: BlockId,
    readonly manifest: Manifest,
    readonly keys: FileKeys,
    backend: CryptoBackend,
    structure: RootStructure,
    getBlock: BlockGetter,
    idLayout: IdLayout,
    signal: AbortSignal | undefined,
  ) {
    super(root, structure, getBlock, backend, idLayout, signal);
  }
}

/**
 * Fetches and verifies the root named by `root`, opens its metadata with `fileKey`, and returns at
 * once: no index block is fetched until a chunk needs it. Index blocks are fetched through
 * `getBlock` later too.
 * @throws WrongKeyError if the key does not open the metadata (or the metadata was sealed for other
 *   refs); FormatVersionError for a root of another format (format 1 is recognised with its key);
 *   ManifestError if the root is malformed; BlockIntegrityError for a root whose bytes are not its id.
 */
export async function openManifest(
  root: BlockId,
  fileKey: Uint8Array,
  getBlock: BlockGetter,
  options: OpenOptions = {},
): Promise<OpenedManifest> {
  if (!isBlockId(root)) throw new RangeError(`not a block id: ${String(root).slice(0, 80)}`);
  const backend = options.backend ?? defaultBackend();
  const layout = checkIdLayout(options.idLayout);
  const keys = await deriveFileKeys(fileKey, backend);
  const request = { kind: BlockKind.ManifestRoot, index: 0, signal: options.signal };
  const rootBytes = await fetchVerified(getBlock, root, request, backend);
  if (!hasMagic(rootBytes)) {
    const version = await legacyRootVersion(rootBytes, fileKey, backend);
    if (version !== undefined) throw new FormatVersionError(root, version, FORMAT_VERSION);
  }
  const structure = decodeRootStructure(root, rootBytes, layout);
  const binding = await backend.sha256(structure.header);
  const plain = await keys.metadata.open(
    nonceFor(SealKind.Metadata, 0),
    aadFor(SealKind.Metadata, 0, true, binding),
    structure.sealedMetadata,
  );
  if (!plain) throw new WrongKeyError(root);
  const manifest = decodeMetadata(root, plain, keys.commitment, structure.blockCount);
  plain.fill(0);
  throwIfAborted(options.signal);
  return new OpenedManifest(root, manifest, keys, backend, structure, getBlock, layout, options.signal);
}

/**
 * Verifies and decrypts the block of chunk `index` and returns its plaintext (padding removed).
 * @throws BlockIntegrityError naming the block: `hash`, `auth`, `length` or `padding`; what
 *   OpenedManifest.dataId throws when the chunk's index block cannot be had.
 */
export async function openChunk(
  file: OpenedManifest,
  index: number,
  getBlock: BlockGetter,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const { manifest, keys, backend } = file;
  const id = await file.dataId(index, signal);
  const sealed = await fetchVerified(getBlock, id, { kind: BlockKind.Data, index, signal }, backend);
  const last = index === manifest.blockCount - 1;
  const plain = await keys.data.open(nonceFor(SealKind.Data, index), aadFor(SealKind.Data, index, last), sealed);
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
  file: OpenedManifest,
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
  const chunks = range(first, lastChunk + 1);
  let index = first;
  for await (const plain of mapInOrder(chunks, readAhead, (i) => openChunk(file, i, getBlock, options.signal))) {
    throwIfAborted(options.signal);
    const chunkStart = index++ * chunkSize;
    const from = Math.max(0, start - chunkStart);
    const to = Math.min(plain.length, end - chunkStart);
    if (to > from) yield plain.subarray(from, to);
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
