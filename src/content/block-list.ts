// A file's block list without its key: what a seed, or anyone holding a link without its key part,
// needs to fetch, hold and serve a whole file. It reads the root's cleartext refs and the index
// blocks they name, checking every block against its id and every header against the root; it
// never opens anything sealed. FileBlocks is the one place a file's block lists live (an opened file
// is one, with its key); the block getter interface every reader of a file uses lives here too.

import { BlockIntegrityError, ManifestError, abortedBy } from '../errors.js';
import { mapInOrder, range } from '../in-order.js';
import { defaultBackend, type CryptoBackend } from './crypto.js';
import {
  BLOCK_ID_BYTES,
  BlockKind,
  MAX_BLOCK_BYTES,
  blockIdFromBytes,
  isBlockId,
  type BlockId,
  hashesToSync,
  unpackIds,
} from './format.js';
import {
  checkIdLayout,
  decodeIndexBlock,
  decodeRootStructure,
  idsInIndexBlock,
  type IdLayout,
  type RootLayout,
  type RootStructure,
} from './manifest.js';
import { isVerifiedAs, verifyBlock } from './verified.js';

/** Index blocks fetched at once by listings and prefetches (each up to 256 KiB held until used). */
export const INDEX_FETCH_CONCURRENCY = 4;
/**
 * Verified index blocks an opened file keeps (16 × 256 KiB = 4 MiB at most); one that was dropped
 * is fetched again (usually from the local store) when a chunk needs it.
 */
export const INDEX_CACHE_BLOCKS = 16;

/** What a block is wanted for: lets a getter order its fetches (the chunk index of a data block). */
export interface BlockRequest {
  readonly kind: BlockKind;
  /** Chunk index (data), index block number (index), 0 (root). */
  readonly index: number;
  readonly signal?: AbortSignal;
}

/**
 * Returns a block's bytes or throws (BlockMissingError when nobody has it). What it returns is
 * checked against the id by the caller; a getter need not verify.
 */
export type BlockGetter = (id: BlockId, request: BlockRequest) => Promise<Uint8Array>;

/** A root's public structure. */
export interface RootRefs {
  readonly root: BlockId;
  readonly layout: RootLayout;
  /** Data blocks in the file. */
  readonly blockCount: number;
  /** Data block ids in order (inline layout) or index block ids in order (indexed layout). */
  readonly refs: readonly BlockId[];
}

export interface ListOptions {
  readonly signal?: AbortSignal;
  /** Index blocks fetched at once; default INDEX_FETCH_CONCURRENCY. */
  readonly concurrency?: number;
  readonly backend?: CryptoBackend;
  /** Tests only: the layout the file was sealed with. */
  readonly idLayout?: IdLayout;
}

function checkRootId(root: BlockId): void {
  if (!isBlockId(root)) throw new RangeError(`not a block id: ${String(root).slice(0, 80)}`);
}

/**
 * Fetches a block through `getBlock` and checks its bytes hash to `id` (bytes the getter hands over
 * already verified as `id`, content/verified.ts, are not hashed again).
 * @throws BlockIntegrityError (`hash`), or whatever the getter throws.
 */
export async function fetchVerified(
  getBlock: BlockGetter,
  id: BlockId,
  request: BlockRequest,
  backend: CryptoBackend,
): Promise<Uint8Array> {
  const bytes = await getBlock(id, request);
  const chunk = request.kind === BlockKind.Data ? request.index : undefined;
  if (bytes.length > MAX_BLOCK_BYTES || !(await verifyBlock(bytes, id, backend))) {
    throw new BlockIntegrityError(id, 'hash', chunk);
  }
  return bytes;
}

/**
 * Reads a root's cleartext structure: checks `rootBytes` hash to `rootId`, then the header's
 * bounds and counts. Synchronous (the root is at most ~260 KiB) and needs no key.
 * @throws BlockIntegrityError when the bytes are not the root's; ManifestError when they are not a
 *   format-2 root (format-1 roots, all ciphertext, are among those); FormatVersionError when the
 *   header names another format.
 */
export function readRootRefs(rootId: BlockId, rootBytes: Uint8Array, options: { idLayout?: IdLayout } = {}): RootRefs {
  checkRootId(rootId);
  if (rootBytes.length > MAX_BLOCK_BYTES)
    throw new ManifestError(rootId, `root is ${rootBytes.length} bytes, more than any block may be`);
  if (!isVerifiedAs(rootBytes, rootId) && !hashesToSync(rootBytes, rootId))
    throw new BlockIntegrityError(rootId, 'hash');
  const structure = decodeRootStructure(rootId, rootBytes, checkIdLayout(options.idLayout));
  return {
    root: rootId,
    layout: structure.layout,
    blockCount: structure.blockCount,
    refs: [...unpackIds(structure.refs)],
  };
}

/** Id of ref `index` of a root (an index block id for an indexed root). */
export function refAt(structure: RootStructure, index: number): BlockId {
  return blockIdFromBytes(structure.refs.subarray(index * BLOCK_ID_BYTES, (index + 1) * BLOCK_ID_BYTES));
}

/**
 * Fetches index block `index` of `root`, verifies it against the id the root lists and its header
 * against the root's counts, and returns its packed data ids.
 */
export async function fetchIndexIds(
  root: BlockId,
  structure: RootStructure,
  index: number,
  getBlock: BlockGetter,
  backend: CryptoBackend,
  layout: IdLayout,
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  const id = refAt(structure, index);
  const bytes = await fetchVerified(getBlock, id, { kind: BlockKind.ManifestIndex, index, signal }, backend);
  return decodeIndexBlock(root, id, bytes, index, idsInIndexBlock(structure.blockCount, index, layout));
}

export interface IdListOptions {
  /** Index blocks fetched at once; default INDEX_FETCH_CONCURRENCY, at most the cache's size. */
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
 * A file's block lists, from its verified root, with no key: the data ids in chunk order (from the
 * root, or from index blocks fetched through the getter when a chunk first needs them, verified,
 * a bounded number cached and shared by concurrent readers) and the index block ids. Memory grows
 * with what was verified, never with what a root declares.
 */
export class FileBlocks {
  /** Ids of the manifest's index blocks (empty when the ids are inline in the root). */
  readonly indexIds: readonly BlockId[];
  private readonly cache = new Map<number, Promise<Uint8Array>>();

  /**
   * `signal` ends every later fetch of an index block; `cacheBlocks` verified index blocks are kept.
   * Made by openFileBlocks, or by openManifest for an opened file.
   */
  constructor(
    readonly root: BlockId,
    private readonly structure: RootStructure,
    private readonly getBlock: BlockGetter,
    readonly backend: CryptoBackend,
    private readonly idLayout: IdLayout,
    private readonly signal: AbortSignal | undefined,
    private readonly cacheBlocks = INDEX_CACHE_BLOCKS,
  ) {
    const indexIds: BlockId[] = [];
    if (structure.layout === 'indexed') for (let j = 0; j < structure.refCount; j++) indexIds.push(refAt(structure, j));
    this.indexIds = indexIds;
  }

  get layout(): RootLayout {
    return this.structure.layout;
  }

  /** Data blocks (chunks) in the file. */
  get blockCount(): number {
    return this.structure.blockCount;
  }

  /**
   * The id of data block (chunk) `index`, fetching and verifying its index block first if need be.
   * @throws RangeError outside 0..blockCount-1; for an index block, whatever its fetch throws
   *   (BlockMissingError, BlockIntegrityError, ManifestError for a malformed one, AbortError).
   */
  async dataId(index: number, signal?: AbortSignal): Promise<BlockId> {
    const { blockCount } = this.structure;
    if (!Number.isInteger(index) || index < 0 || index >= blockCount) {
      throw new RangeError(`chunk ${index} is outside 0..${blockCount - 1}`);
    }
    if (this.structure.layout === 'inline') return refAt(this.structure, index);
    const per = this.idLayout.idsPerIndexBlock;
    const ids = await this.indexBlock(Math.floor(index / per), signal);
    const offset = (index % per) * BLOCK_ID_BYTES;
    return blockIdFromBytes(ids.subarray(offset, offset + BLOCK_ID_BYTES));
  }

  /** Every data id in chunk order; index blocks come a bounded number at a time. */
  async *dataIds(options: IdListOptions = {}): AsyncGenerator<BlockId> {
    const packed = this.structure.layout === 'inline' ? [this.structure.refs] : this.indexBlocks(options);
    for await (const ids of packed) yield* unpackIds(ids);
  }

  /** Every block of the file: data ids in order, index block ids, the root (sealFile's order). */
  async *allIds(options: IdListOptions = {}): AsyncGenerator<BlockId> {
    yield* this.dataIds(options);
    yield* this.indexIds;
    yield this.root;
  }

  /**
   * Fetches and verifies every index block, at most `concurrency` at a time, so a later read needs
   * none from the network. Resolves when all are verified; only the cache's worth stay in memory.
   */
  async loadIndex(options: IdListOptions = {}): Promise<void> {
    for await (const ids of this.indexBlocks(options)) void ids;
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
      const { root, structure, getBlock, backend, idLayout } = this;
      const loading = fetchIndexIds(root, structure, index, getBlock, backend, idLayout, this.signal);
      loading.catch(() => {
        if (this.cache.get(index) === loading) this.cache.delete(index);
      });
      entry = loading;
    }
    this.cache.set(index, entry);
    if (this.cache.size > this.cacheBlocks) this.cache.delete(this.cache.keys().next().value!);
    return untilAborted(entry, signal);
  }

  private indexBlocks(options: IdListOptions): AsyncGenerator<Uint8Array> {
    const concurrency = Math.min(this.cacheBlocks, options.concurrency ?? INDEX_FETCH_CONCURRENCY);
    const count = this.indexIds.length;
    return mapInOrder(range(0, count), concurrency, (j) => this.indexBlock(j, options.signal), options.signal);
  }
}

/**
 * Fetches the root `rootId` through `getBlock`, verifies it and reads its structure: the file's
 * block lists, with no key.
 * @throws BlockIntegrityError, ManifestError, FormatVersionError as readRootRefs; whatever the
 *   getter throws.
 */
export async function openFileBlocks(
  rootId: BlockId,
  getBlock: BlockGetter,
  options: ListOptions = {},
): Promise<FileBlocks> {
  checkRootId(rootId);
  const backend = options.backend ?? defaultBackend();
  const layout = checkIdLayout(options.idLayout);
  const { signal } = options;
  const rootBytes = await fetchVerified(getBlock, rootId, { kind: BlockKind.ManifestRoot, index: 0, signal }, backend);
  const structure = decodeRootStructure(rootId, rootBytes, layout);
  const concurrency = options.concurrency ?? INDEX_FETCH_CONCURRENCY;
  // A listing reads each index block once, in order: it keeps no more than it fetches at once.
  return new FileBlocks(rootId, structure, getBlock, backend, layout, signal, concurrency);
}

/**
 * Every block id of the file `rootId`, with no key: its data ids in order, then its index block ids,
 * then the root (the order sealFile hands blocks out in). Index blocks are fetched through
 * `getBlock`, at most `concurrency` at a time, each verified before any id in it is yielded; memory
 * holds no more than those blocks, whatever the root declares.
 * @throws BlockIntegrityError, ManifestError, FormatVersionError as readRootRefs, for the root and
 *   for each index block; whatever the getter throws (BlockMissingError) as soon as it throws it.
 */
export async function* listFileBlockIds(
  rootId: BlockId,
  getBlock: BlockGetter,
  options: ListOptions = {},
): AsyncGenerator<BlockId> {
  const blocks = await openFileBlocks(rootId, getBlock, options);
  yield* blocks.allIds({ concurrency: options.concurrency, signal: options.signal });
}
