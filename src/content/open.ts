// Opens a file from its root: fetches and verifies the root, opens its metadata, and then reads the
// plaintext (or a byte range of it) chunk by chunk. Data ids in index blocks are fetched only when a
// chunk needs them, verified, cached (a bounded number) and shared by concurrent readers, so opening
// costs one block and memory grows with what was verified, never with what a root declares. Every
// block is checked against its id and its tag before any of its bytes are yielded; a bad block
// raises BlockIntegrityError naming it and nothing after it is produced. A few chunks are fetched
// and decrypted ahead, in order, so memory stays bounded.

import { abortedBy, BlockIntegrityError, FormatVersionError, WrongKeyError, throwIfAborted } from '../errors.js';
import { mapInOrder, range } from '../in-order.js';

import { defaultBackend, type CryptoBackend } from './crypto.js';
import {
  BLOCK_ID_BYTES,
  BlockKind,
  FORMAT_VERSION,
  SealKind,
  aadFor,
  blockIdFromBytes,
  chunkLength,
  deriveFileKeys,
  isBlockId,
  nonceFor,
  paddedLength,
  type BlockId,
  type FileKeys,
  unpackIds,
} from './format.js';
import {
  checkIdLayout,
  decodeMetadata,
  decodeRootStructure,
  hasMagic,
  type IdLayout,
  type Manifest,
  type RootLayout,
  type RootStructure,
} from './manifest.js';
import { INDEX_FETCH_CONCURRENCY, fetchIndexIds, fetchVerified, refAt, type BlockGetter } from './block-list.js';
import { legacyRootVersion } from './legacy.js';

export type { BlockGetter, BlockRequest } from './block-list.js';

/** Chunks fetched and decrypted ahead of the reader. */
export const READ_AHEAD = 4;
/**
 * Verified index blocks an opened file keeps (16 × 256 KiB = 4 MiB at most); one that was dropped
 * is fetched again (usually from the local store) when a chunk needs it.
 */
export const INDEX_CACHE_BLOCKS = 16;

export interface OpenOptions {
  readonly backend?: CryptoBackend;
  /** Ends the opening and every later fetch of the file's index blocks. */
  readonly signal?: AbortSignal;
  /** Tests only: the layout the file was sealed with. */
  readonly idLayout?: IdLayout;
}

export interface IdListOptions {
  /** Index blocks fetched at once; default INDEX_FETCH_CONCURRENCY, at most INDEX_CACHE_BLOCKS. */
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
}

/** Resolves as `promise` does, or rejects with AbortError as soon as `signal` aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortedBy(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortedBy(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * A file whose root has been verified and whose metadata opened under its key. It owns the file's
 * block lists: data ids (from the root, or from index blocks fetched through the getter given to
 * openManifest when first needed) and index ids.
 */
export class OpenedManifest {
  /** Ids of the manifest's index blocks (empty when the ids are inline in the root). */
  readonly indexIds: readonly BlockId[];
  private readonly cache = new Map<number, Promise<Uint8Array>>();

  /** Made by openManifest. */
  constructor(
    readonly root: BlockId,
    readonly manifest: Manifest,
    readonly keys: FileKeys,
    readonly backend: CryptoBackend,
    private readonly structure: RootStructure,
    private readonly getBlock: BlockGetter,
    private readonly idLayout: IdLayout,
    private readonly signal: AbortSignal | undefined,
  ) {
    const indexIds: BlockId[] = [];
    if (structure.layout === 'indexed') for (let j = 0; j < structure.refCount; j++) indexIds.push(refAt(structure, j));
    this.indexIds = indexIds;
  }

  get layout(): RootLayout {
    return this.structure.layout;
  }

  /**
   * The id of data block `index`, fetching and verifying its index block first if need be.
   * @throws RangeError outside 0..blockCount-1; for an index block, whatever its fetch throws
   *   (BlockMissingError, BlockIntegrityError, ManifestError for a malformed one, AbortError).
   */
  async dataId(index: number, signal?: AbortSignal): Promise<BlockId> {
    const { blockCount } = this.manifest;
    if (!Number.isInteger(index) || index < 0 || index >= blockCount) {
      throw new RangeError(`chunk ${index} is outside 0..${blockCount - 1}`);
    }
    if (this.structure.layout === 'inline') return refAt(this.structure, index);
    const per = this.idLayout.idsPerIndexBlock;
    const ids = await this.indexBlock(Math.floor(index / per), signal);
    const offset = (index % per) * BLOCK_ID_BYTES;
    return blockIdFromBytes(ids.subarray(offset, offset + BLOCK_ID_BYTES));
  }

  /**
   * The packed data ids of index block `index`: fetched once however many readers ask at once (the
   * fetch runs under the file's signal; `signal` only stops this caller's wait).
   */
  private indexBlock(index: number, signal?: AbortSignal): Promise<Uint8Array> {
    let entry = this.cache.get(index);
    if (entry) {
      this.cache.delete(index); // most recently used goes last
    } else {
      const loading = fetchIndexIds(
        this.root,
        this.structure,
        index,
        this.getBlock,
        this.backend,
        this.idLayout,
        this.signal,
      );
      loading.catch(() => {
        if (this.cache.get(index) === loading) this.cache.delete(index);
      });
      entry = loading;
    }
    this.cache.set(index, entry);
    if (this.cache.size > INDEX_CACHE_BLOCKS) this.cache.delete(this.cache.keys().next().value!);
    return untilAborted(entry, signal);
  }

  private indexBlocks(options: IdListOptions): AsyncGenerator<Uint8Array> {
    const concurrency = Math.min(INDEX_CACHE_BLOCKS, options.concurrency ?? INDEX_FETCH_CONCURRENCY);
    const count = this.indexIds.length;
    return mapInOrder(range(0, count), concurrency, (j) => this.indexBlock(j, options.signal), options.signal);
  }

  /** Every data id in order; index blocks come a bounded number at a time. */
  async *dataIds(options: IdListOptions = {}): AsyncGenerator<BlockId> {
    const packed = this.structure.layout === 'inline' ? [this.structure.refs] : this.indexBlocks(options);
    for await (const ids of packed) yield* unpackIds(ids);
  }

  /** Every block of the file: data ids in order, index block ids, the root. */
  async *allIds(options: IdListOptions = {}): AsyncGenerator<BlockId> {
    yield* this.dataIds(options);
    yield* this.indexIds;
    yield this.root;
  }

  /**
   * Fetches and verifies every index block, at most `concurrency` at a time, so a later read needs
   * none from the network. Resolves when all are verified; only INDEX_CACHE_BLOCKS stay in memory.
   */
  async loadIndex(options: IdListOptions = {}): Promise<void> {
    for await (const ids of this.indexBlocks(options)) void ids;
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
