// Makes a collection out of files already sealed (each under its own key) and empty folders:
// checks and normalises every path (paths.ts), takes each file's block list (from sealFile's
// result, or by opening its root with its key through `getBlock`), then seals the listing blocks
// and writes the collection's root (collection-manifest.ts has the layout). The sink gets
// only the collection's own blocks, in the order a seed can take them: listing blocks, index
// blocks, root. The entries' blocks are where they already were.
//
// Memory: the entries (at most MAX_COLLECTION_ENTRIES) and the packed ids of every block of every
// file (32 bytes a block, as sealFile keeps for one file: 1.3 MB for 10 GiB at 256 KiB chunks).

import { BadInputError, WrongKeyError, throwIfAborted } from '../errors.js';
import { concatBytes, toHex } from './bytes.js';
import {
  DEFAULT_LISTING_BLOCK_BYTES,
  MAX_COLLECTION_BYTES,
  MAX_COLLECTION_ENTRIES,
  MAX_LISTING_BLOCKS,
  checkListingBlockBytes,
  checkRecord,
  deriveCollectionKeys,
  encodeHead,
  encodeListingBlock,
  headAad,
  headNonce,
  listingAad,
  listingNonce,
  planListing,
  recordLength,
  type CollectionHead,
  type CollectionKeys,
  type ListingRecord,
} from './collection-manifest.js';
import { defaultBackend, randomBytes, type CryptoBackend } from './crypto.js';
import { BLOCK_ID_BYTES, BlockKind, FILE_KEY_BYTES, blockIdToBytes, isBlockId, type BlockId } from './format.js';
import {
  MAX_BLOCK_COUNT,
  MAX_INDEX_BLOCKS,
  checkIdLayout,
  encodeIndexBlock,
  encodeRootHeader,
  indexBlockCount,
  type IdLayout,
} from './manifest.js';
import { openManifest, type BlockGetter } from './open.js';
import { PathIndex, normaliseEntryPath } from './paths.js';
import type { BlockSink, SealedFile } from './seal.js';

export interface CollectionFileInput {
  readonly kind?: 'file';
  /** A `/`-separated relative path, or the names from the shared folder down (paths.ts). */
  readonly path: string | readonly string[];
  /**
   * The file as sealFile returned it, when this process sealed it: its manifest and block list
   * are taken from it and nothing is fetched (a sender that streams blocks to seeds keeps none).
   */
  readonly sealed?: Pick<SealedFile, 'root' | 'key' | 'manifest' | 'allIds'>;
  /** Otherwise the file's root and key: the root is opened through `getBlock` and checked. */
  readonly root?: BlockId;
  /** The file's key. It goes into the collection's sealed listing. */
  readonly key?: Uint8Array;
  /** Checked against the file's manifest when given. */
  readonly size?: number;
  /** Default: the file's manifest's. */
  readonly mediaType?: string;
}

/** A folder with nothing in it (folders with entries need no entry of their own). */
export interface CollectionFolderInput {
  readonly kind: 'folder';
  readonly path: string | readonly string[];
}

export type CollectionEntryInput = CollectionFileInput | CollectionFolderInput;

/** An entry ready to be listed: its path already checked, a file's blocks listed (packed, root last). */
export type PreparedEntry =
  | {
      readonly kind: 'file';
      readonly path: string;
      readonly size: number;
      readonly mediaType: string;
      readonly key: Uint8Array;
      readonly root: BlockId;
      readonly blockIds: Uint8Array;
    }
  | { readonly kind: 'folder'; readonly path: string };

export interface CollectionSealOptions {
  /**
   * Reads the blocks of entries given by root and key: each root (opened with its key) and its
   * index blocks. Needed unless every file entry carries `sealed`.
   */
  readonly getBlock?: BlockGetter;
  readonly backend?: CryptoBackend;
  readonly signal?: AbortSignal;
  /** Only for tests that need reproducible output. Never reuse a key. */
  readonly collectionKey?: Uint8Array;
  /** Only for tests that reach several listing blocks with a few entries. */
  readonly listingBlockBytes?: number;
  /** Only for tests: the collection root's id layout (readers must be given the same). */
  readonly idLayout?: IdLayout;
  /** Only for tests: the layout the entries were sealed with. */
  readonly entryIdLayout?: IdLayout;
}

export interface SealedCollection {
  readonly root: BlockId;
  /** The collection key: goes into the link's fragment and nowhere else. */
  readonly key: Uint8Array;
  readonly head: CollectionHead;
  /** The entries as listed, paths normalised, in listing order. */
  readonly entries: readonly PreparedEntry[];
  readonly listingIds: readonly BlockId[];
  readonly indexIds: readonly BlockId[];
  /** Every block a holder of the collection keeps, in the order a keyless listing gives them. */
  readonly allIds: () => Iterable<BlockId>;
}

/** A growable run of packed ids (no spread of many arguments, which a large file would overflow). */
class PackedIds {
  private buf = new Uint8Array(BLOCK_ID_BYTES * 64);
  private length = 0;
  push(ids: Uint8Array): void {
    if (this.length + ids.length > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + ids.length));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    this.buf.set(ids, this.length);
    this.length += ids.length;
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** A file sealFile just made: its block list as it says, checked to end with its root. */
function fromSealed(sealed: NonNullable<CollectionFileInput['sealed']>, index: number, path: string) {
  if (!isBlockId(sealed.root) || sealed.key.length !== FILE_KEY_BYTES)
    throw new BadInputError(`entry ${index} (${path}) has no valid root and key`);
  const ids = new PackedIds();
  let last: BlockId | undefined;
  for (const id of sealed.allIds()) {
    ids.push(blockIdToBytes(id));
    last = id;
  }
  if (last !== sealed.root)
    throw new BadInputError(`entry ${index} (${path}): its block list does not end with its root`);
  return { manifest: sealed.manifest, ids };
}

/** A file given by root and key: its root opened (so a wrong key is caught here) and its blocks listed. */
async function openEntry(
  input: CollectionFileInput,
  index: number,
  path: string,
  options: CollectionSealOptions,
  backend: CryptoBackend,
) {
  const { root, key } = input;
  if (!isBlockId(root) || !(key instanceof Uint8Array) || key.length !== FILE_KEY_BYTES) {
    throw new BadInputError(`entry ${index} (${path}) needs a root id and a ${FILE_KEY_BYTES}-byte key`);
  }
  if (!options.getBlock)
    throw new BadInputError(`entry ${index} (${path}) is given by root and key, and nothing can read its blocks`);
  let file;
  try {
    file = await openManifest(root, key, options.getBlock, {
      backend,
      signal: options.signal,
      idLayout: options.entryIdLayout,
    });
  } catch (error) {
    if (error instanceof WrongKeyError)
      throw new BadInputError(`entry ${index} (${path}): its key does not open its root as a file`);
    throw error;
  }
  const ids = new PackedIds();
  for await (const id of file.allIds({ signal: options.signal })) ids.push(blockIdToBytes(id));
  return { manifest: file.manifest, ids };
}

/**
 * Checks and prepares entries: normalises every path and refuses any pair that would collide;
 * takes each file's block list from `sealed`, or opens its root with its key (so a wrong key or
 * size is caught here, not by a recipient) and lists its blocks.
 * @throws PathError naming the entry; BadInputError for too many entries, a key that does not open
 *   its file, a size that differs from the file's; what the getter throws.
 */
export async function prepareCollectionEntries(
  entries: Iterable<CollectionEntryInput> | AsyncIterable<CollectionEntryInput>,
  options: CollectionSealOptions,
): Promise<PreparedEntry[]> {
  const backend = options.backend ?? defaultBackend();
  const paths = new PathIndex();
  const prepared: PreparedEntry[] = [];
  let total = 0;
  for await (const input of entries) {
    throwIfAborted(options.signal);
    const index = prepared.length;
    if (index >= MAX_COLLECTION_ENTRIES)
      throw new BadInputError(`a collection holds at most ${MAX_COLLECTION_ENTRIES} entries`);
    const path = normaliseEntryPath(input.path, index);
    const kind = input.kind ?? 'file';
    paths.add(path, kind, index);
    if (input.kind === 'folder') {
      prepared.push({ kind: 'folder', path });
      continue;
    }
    const { manifest, ids } = input.sealed
      ? fromSealed(input.sealed, index, path)
      : await openEntry(input, index, path, options, backend);
    const { size, mediaType } = manifest;
    if (input.size !== undefined && input.size !== size) {
      throw new BadInputError(`entry ${index} (${path}) says ${input.size} bytes, its file has ${size}`);
    }
    total += size;
    if (total > MAX_COLLECTION_BYTES)
      throw new BadInputError(`a collection holds at most ${MAX_COLLECTION_BYTES} bytes`);
    const root = input.sealed?.root ?? input.root!;
    const key = input.sealed?.key ?? input.key!;
    const entry: PreparedEntry = {
      kind: 'file',
      path,
      size,
      mediaType: input.mediaType ?? mediaType,
      key,
      root,
      blockIds: ids.bytes(),
    };
    checkRecord({ ...entry, rootPosition: 0 });
    prepared.push(entry);
  }
  if (prepared.length === 0) throw new BadInputError('a collection needs at least one entry');
  return prepared;
}

/**
 * Seals a collection of `entries` (files already sealed, empty folders) and hands its own blocks to
 * `sink`: listing blocks, index blocks, then the root. Resolves once the sink has taken the root.
 * @throws PathError naming an entry whose path cannot be made valid or collides with another;
 *   BadInputError (see prepareCollectionEntries, and for a listing past MAX_LISTING_BLOCKS).
 */
export async function sealCollection(
  entries: Iterable<CollectionEntryInput> | AsyncIterable<CollectionEntryInput>,
  sink: BlockSink,
  options: CollectionSealOptions,
): Promise<SealedCollection> {
  return sealPreparedCollection(await prepareCollectionEntries(entries, options), sink, options);
}

/**
 * Seals entries prepared by prepareCollectionEntries. Paths are taken as they are: this is the
 * place a test makes a hostile collection to prove its readers refuse it.
 */
export async function sealPreparedCollection(
  entries: readonly PreparedEntry[],
  sink: BlockSink,
  options: Omit<CollectionSealOptions, 'getBlock' | 'entryIdLayout'>,
): Promise<SealedCollection> {
  const backend = options.backend ?? defaultBackend();
  const idLayout = checkIdLayout(options.idLayout);
  const blockBytes = checkListingBlockBytes(options.listingBlockBytes ?? DEFAULT_LISTING_BLOCK_BYTES);
  const key = options.collectionKey ?? randomBytes(FILE_KEY_BYTES);
  if (key.length !== FILE_KEY_BYTES) throw new RangeError('a collection key is 32 bytes');
  if (entries.length === 0 || entries.length > MAX_COLLECTION_ENTRIES) {
    throw new BadInputError(`a collection holds 1 to ${MAX_COLLECTION_ENTRIES} entries`);
  }

  // Record lengths do not depend on root positions, so the listing's block count comes first.
  const lengths = entries.map((e) => recordLength(e.kind === 'file' ? { ...e, rootPosition: 0 } : e));
  const perBlock = planListing(lengths, blockBytes);
  if (perBlock.length > MAX_LISTING_BLOCKS) {
    throw new BadInputError(
      `the collection's listing needs ${perBlock.length} blocks, more than ${MAX_LISTING_BLOCKS}: too many or too long paths`,
    );
  }
  let position = perBlock.length - 1;
  let fileCount = 0;
  let totalSize = 0;
  const records: ListingRecord[] = entries.map((entry) => {
    if (entry.kind === 'folder') return entry;
    const blocks = entry.blockIds.length / BLOCK_ID_BYTES;
    if (blocks < 2 || !Number.isInteger(blocks)) throw new RangeError(`entry ${entry.path} lists ${blocks} blocks`);
    position += blocks;
    fileCount++;
    totalSize += entry.size;
    return {
      kind: 'file',
      path: entry.path,
      size: entry.size,
      rootPosition: position,
      key: entry.key,
      mediaType: entry.mediaType,
    };
  });
  const blockCount = position + 1;
  if (blockCount > MAX_BLOCK_COUNT) throw new BadInputError(`a collection names at most ${MAX_BLOCK_COUNT} blocks`);

  const keys = await deriveCollectionKeys(key, backend);
  const listingIds: BlockId[] = [];
  const listingRefs: Uint8Array[] = [];
  let first = 0;
  for (let j = 0; j < perBlock.length; j++) {
    throwIfAborted(options.signal);
    const last = j === perBlock.length - 1;
    const plain = encodeListingBlock(records.slice(first, first + perBlock[j]!), blockBytes, last);
    first += perBlock[j]!;
    const bytes = await keys.listing.seal(listingNonce(j), listingAad(j, last), plain);
    plain.fill(0); // it holds the entries' keys
    const digest = await backend.sha256(bytes);
    listingRefs.push(digest);
    listingIds.push(toHex(digest));
    await sink({ id: toHex(digest), bytes, kind: BlockKind.Data, index: j });
  }
  const head: CollectionHead = {
    entryCount: entries.length,
    fileCount,
    totalSize,
    listingBlockBytes: blockBytes,
    listingBlocks: perBlock.length,
  };
  const packed = new PackedIds();
  for (const ref of listingRefs) packed.push(ref);
  for (const entry of entries) if (entry.kind === 'file') packed.push(entry.blockIds);
  const refs = packed.bytes();
  const { root, indexIds } = await sealCollectionRoot(head, refs, keys, backend, sink, idLayout);
  return {
    root,
    key,
    head,
    entries,
    listingIds,
    indexIds,
    allIds: function* () {
      for (let o = 0; o < refs.length; o += BLOCK_ID_BYTES) yield toHex(refs.subarray(o, o + BLOCK_ID_BYTES));
      yield* indexIds;
      yield root;
    },
  };
}

/**
 * Writes a collection's index blocks (when its refs do not fit in the root) and its root: the
 * cleartext header and refs of a format-2 root, then the head sealed under the head key, its AAD
 * binding the header's SHA-256. Exported for tests that craft a root declaring what a real one
 * never would.
 */
export async function sealCollectionRoot(
  head: CollectionHead,
  refs: Uint8Array,
  keys: CollectionKeys,
  backend: CryptoBackend,
  sink: BlockSink,
  idLayout: IdLayout,
): Promise<{ root: BlockId; indexIds: BlockId[] }> {
  const blockCount = refs.length / BLOCK_ID_BYTES;
  const indexCount = indexBlockCount(blockCount, idLayout);
  if (indexCount > MAX_INDEX_BLOCKS)
    throw new BadInputError(`a collection lists at most ${MAX_INDEX_BLOCKS} index blocks`);
  const indexIds: BlockId[] = [];
  const indexRefs: Uint8Array[] = [];
  const per = idLayout.idsPerIndexBlock * BLOCK_ID_BYTES;
  for (let j = 0; j < indexCount; j++) {
    const bytes = encodeIndexBlock(j, refs.subarray(j * per, Math.min(refs.length, (j + 1) * per)));
    const digest = await backend.sha256(bytes);
    indexRefs.push(digest);
    indexIds.push(toHex(digest));
    await sink({ id: toHex(digest), bytes, kind: BlockKind.ManifestIndex, index: j });
  }
  const packedIndex = new PackedIds();
  for (const ref of indexRefs) packedIndex.push(ref);
  const header = encodeRootHeader(blockCount, indexCount === 0 ? refs : packedIndex.bytes(), indexCount > 0);
  const plain = encodeHead(head, keys.commitment);
  const sealed = await keys.head.seal(headNonce(), headAad(await backend.sha256(header)), plain);
  const bytes = concatBytes(header, sealed);
  const root = toHex(await backend.sha256(bytes));
  await sink({ id: root, bytes, kind: BlockKind.ManifestRoot, index: 0 });
  return { root, indexIds };
}
