// A file's block list without its key: what a seed, or anyone holding a link without its key part,
// needs to fetch, hold and serve a whole file. It reads the root's cleartext refs and the index
// blocks they name, checking every block against its id and every header against the root; it
// never opens anything sealed. The block getter interface every reader of a file uses lives here.

import { BlockIntegrityError, ManifestError } from '../errors.js';
import { mapInOrder, range } from '../in-order.js';
import { defaultBackend, type CryptoBackend } from './crypto.js';
import {
  BLOCK_ID_BYTES,
  BlockKind,
  MAX_BLOCK_BYTES,
  blockIdFromBytes,
  isBlockId,
  type BlockId,
  hashesTo,
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

/** Index blocks fetched at once by listings and prefetches (each up to 256 KiB held until used). */
export const INDEX_FETCH_CONCURRENCY = 4;

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
 * Fetches a block through `getBlock` and checks its bytes hash to `id`.
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
  if (bytes.length > MAX_BLOCK_BYTES || !(await hashesTo(bytes, id, backend))) {
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
  if (!hashesToSync(rootBytes, rootId)) throw new BlockIntegrityError(rootId, 'hash');
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
  checkRootId(rootId);
  const backend = options.backend ?? defaultBackend();
  const layout = checkIdLayout(options.idLayout);
  const { signal } = options;
  const rootBytes = await fetchVerified(getBlock, rootId, { kind: BlockKind.ManifestRoot, index: 0, signal }, backend);
  const structure = decodeRootStructure(rootId, rootBytes, layout);
  if (structure.layout === 'inline') {
    yield* unpackIds(structure.refs);
  } else {
    const concurrency = options.concurrency ?? INDEX_FETCH_CONCURRENCY;
    const load = (j: number) => fetchIndexIds(rootId, structure, j, getBlock, backend, layout, signal);
    for await (const ids of mapInOrder(range(0, structure.refCount), concurrency, load, signal)) {
      yield* unpackIds(ids);
    }
    yield* unpackIds(structure.refs);
  }
  yield rootId;
}
