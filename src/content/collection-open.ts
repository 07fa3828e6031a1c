// Opens a collection from its root and key, and reads its listing lazily: a listing block is
// fetched, verified, opened and decoded only when the reader gets to it (a few ahead), so opening
// costs the root and memory grows with the entries read, never with what the head declares. Every
// entry is checked as it is read: its path against the path rules, against every path before it
// (paths.ts), and its place among the collection's blocks. A caller that writes entries somewhere
// reads the whole listing first (list()): a collision can only show at the later of two entries.
//
// Which kind a link names is in its sealed part (collection-manifest.ts): openLinkRoot fetches the
// root once and opens it as a collection or, failing that, as a file.

import { ManifestError, PathError, WrongKeyError, throwIfAborted } from '../errors.js';
import {
  listFileBlockIds,
  fetchIndexIds,
  fetchVerified,
  refAt,
  type BlockGetter,
  type ListOptions,
} from './block-list.js';
import {
  decodeHead,
  decodeListingBlock,
  deriveCollectionKeys,
  headAad,
  headNonce,
  listingAad,
  listingNonce,
  type CollectionHead,
  type CollectionKeys,
  type DecodedRecord,
} from './collection-manifest.js';
import { defaultBackend, type CryptoBackend } from './crypto.js';
import { BLOCK_ID_BYTES, BlockKind, blockIdFromBytes, isBlockId, type BlockId } from './format.js';
import { mapInOrder, range } from '../in-order.js';
import { checkIdLayout, decodeRootStructure, hasMagic, type IdLayout, type RootStructure } from './manifest.js';
import { openManifest, type OpenOptions, type OpenedManifest } from './open.js';
import { PathIndex, checkEntryPath } from './paths.js';

/** Listing blocks fetched and opened ahead of the reader (each at most 64 KiB). */
export const LISTING_READ_AHEAD = 2;

export interface CollectionFile {
  readonly kind: 'file';
  /** Position in the listing, from 0: what errors name. */
  readonly index: number;
  readonly path: string;
  readonly size: number;
  /** The sender's word for it: a claim, not a fact about the bytes. */
  readonly mediaType: string;
  readonly root: BlockId;
  readonly key: Uint8Array;
  /** The collection's blocks that are this file's (data, index, root). */
  readonly blocks: number;
}

export interface CollectionFolder {
  readonly kind: 'folder';
  readonly index: number;
  readonly path: string;
}

export type CollectionEntry = CollectionFile | CollectionFolder;

export interface CollectionOpenOptions extends OpenOptions {
  /** Tests only: the layout the entries were sealed with. */
  readonly entryIdLayout?: IdLayout;
}

export interface EntriesOptions {
  readonly signal?: AbortSignal;
  /** Listing blocks fetched ahead; default LISTING_READ_AHEAD. */
  readonly readAhead?: number;
}

/** Reads the refs of a root by position, fetching index blocks as needed; keeps the last two. */
class RefReader {
  private readonly cache = new Map<number, Promise<Uint8Array>>();
  constructor(
    private readonly root: BlockId,
    private readonly structure: RootStructure,
    private readonly getBlock: BlockGetter,
    private readonly backend: CryptoBackend,
    private readonly layout: IdLayout,
  ) {}

  async at(position: number, signal?: AbortSignal): Promise<BlockId> {
    if (this.structure.layout === 'inline') return refAt(this.structure, position);
    const per = this.layout.idsPerIndexBlock;
    const block = Math.floor(position / per);
    let ids = this.cache.get(block);
    if (!ids) {
      ids = fetchIndexIds(this.root, this.structure, block, this.getBlock, this.backend, this.layout, signal);
      ids.catch(() => this.cache.delete(block));
      this.cache.set(block, ids);
      if (this.cache.size > 2) this.cache.delete(this.cache.keys().next().value!);
    }
    const offset = (position % per) * BLOCK_ID_BYTES;
    return blockIdFromBytes((await ids).subarray(offset, offset + BLOCK_ID_BYTES));
  }
}

/**
 * A collection whose root was verified and whose head opened under its key. Made by
 * openCollection or openLinkRoot.
 */
export class OpenedCollection {
  /** Made by openCollection. */
  constructor(
    readonly root: BlockId,
    readonly head: CollectionHead,
    private readonly keys: CollectionKeys,
    private readonly backend: CryptoBackend,
    private readonly structure: RootStructure,
    private readonly getBlock: BlockGetter,
    private readonly idLayout: IdLayout,
    private readonly entryIdLayout: IdLayout | undefined,
  ) {}

  get entryCount(): number {
    return this.head.entryCount;
  }
  get fileCount(): number {
    return this.head.fileCount;
  }
  /** Sum of the files' sizes, as the head declares it (the listing is checked against it). */
  get totalSize(): number {
    return this.head.totalSize;
  }
  /** Every block the collection names, its own and its files': what a holder keeps. */
  get blockCount(): number {
    return this.structure.blockCount + (this.structure.layout === 'indexed' ? this.structure.refCount : 0) + 1;
  }

  private fail(detail: string): never {
    throw new ManifestError(this.root, `collection ${detail}`);
  }

  private async listingBlock(refs: RefReader, index: number, signal?: AbortSignal): Promise<DecodedRecord[]> {
    const id = await refs.at(index, signal);
    const sealed = await fetchVerified(this.getBlock, id, { kind: BlockKind.Data, index, signal }, this.backend);
    const last = index === this.head.listingBlocks - 1;
    const plain = await this.keys.listing.open(listingNonce(index), listingAad(index, last), sealed);
    if (!plain) this.fail(`listing block ${index} (${id.slice(0, 12)}) does not open at its position`);
    try {
      return decodeListingBlock(this.root, index, plain, this.head.listingBlockBytes, last);
    } finally {
      plain.fill(0);
    }
  }

  /**
   * The entries in listing order, each checked before it is yielded; listing blocks are fetched a
   * few at a time. Ends by checking the listing against the head (counts, total size, every block
   * accounted for).
   * @throws PathError naming the first entry whose path breaks a rule or meets an earlier one;
   *   ManifestError for a listing that breaks the format; BlockMissingError, BlockIntegrityError,
   *   AbortError from fetching.
   */
  async *entries(options: EntriesOptions = {}): AsyncGenerator<CollectionEntry> {
    const { signal } = options;
    const { entryCount, fileCount, totalSize, listingBlocks } = this.head;
    const blockCount = this.structure.blockCount;
    const refs = new RefReader(this.root, this.structure, this.getBlock, this.backend, this.idLayout);
    const paths = new PathIndex();
    let index = 0;
    let files = 0;
    let total = 0;
    let previousRoot = listingBlocks - 1;
    const readAhead = Math.max(1, options.readAhead ?? LISTING_READ_AHEAD);
    const blocks = mapInOrder(range(0, listingBlocks), readAhead, (j) => this.listingBlock(refs, j, signal), signal);
    for await (const records of blocks) {
      for (const record of records) {
        throwIfAborted(signal);
        if (index >= entryCount) this.fail(`listing holds more than the ${entryCount} entries its head declares`);
        if (!record.pathIsUtf8) throw new PathError('not-utf8', record.path, 'it is not valid UTF-8', { entry: index });
        checkEntryPath(record.path, index);
        paths.add(record.path, record.kind, index);
        if (record.kind === 'folder') {
          yield { kind: 'folder', index: index++, path: record.path };
          continue;
        }
        // A file's blocks are the refs after the previous file's root, its own root last: at least
        // one data block and the root.
        if (record.rootPosition < previousRoot + 2 || record.rootPosition >= blockCount) {
          this.fail(
            `entry ${index} places its root at ref ${record.rootPosition}, outside ${previousRoot + 2}..${blockCount - 1}`,
          );
        }
        files++;
        total += record.size;
        if (files > fileCount || total > totalSize)
          this.fail(`listing holds more files or bytes than its head declares`);
        const root = await refs.at(record.rootPosition, signal);
        const blocksOf = record.rootPosition - previousRoot;
        previousRoot = record.rootPosition;
        yield {
          kind: 'file',
          index: index++,
          path: record.path,
          size: record.size,
          mediaType: record.mediaType,
          root,
          key: record.key,
          blocks: blocksOf,
        };
      }
    }
    if (index !== entryCount || files !== fileCount || total !== totalSize) {
      this.fail(
        `listing holds ${index} entries, ${files} files, ${total} bytes; its head declares ${entryCount}, ${fileCount}, ${totalSize}`,
      );
    }
    if (previousRoot !== blockCount - 1)
      this.fail(`names ${blockCount} blocks, but its files account for ${previousRoot + 1}`);
  }

  /**
   * The whole listing, every entry checked against every other: what a caller reads before it
   * writes anything. At most MAX_COLLECTION_ENTRIES entries.
   * @throws as entries().
   */
  async list(options: EntriesOptions = {}): Promise<CollectionEntry[]> {
    const all: CollectionEntry[] = [];
    for await (const entry of this.entries(options)) all.push(entry);
    return all;
  }

  /**
   * Opens a file entry as a file (openManifest), checking it is what the listing says: its size, and
   * as many blocks as the collection holds for it.
   * @throws ManifestError naming the collection and the entry; what openManifest throws.
   */
  async openFile(entry: CollectionFile, options: { signal?: AbortSignal } = {}): Promise<OpenedManifest> {
    let file: OpenedManifest;
    try {
      file = await openManifest(entry.root, entry.key, this.getBlock, {
        backend: this.backend,
        signal: options.signal,
        idLayout: this.entryIdLayout,
      });
    } catch (error) {
      if (error instanceof WrongKeyError)
        this.fail(`entry ${entry.index} (${entry.path}): its key does not open its file`);
      throw error;
    }
    if (file.manifest.size !== entry.size) {
      this.fail(`entry ${entry.index} (${entry.path}) says ${entry.size} bytes, its file has ${file.manifest.size}`);
    }
    const span = file.manifest.blockCount + file.indexIds.length + 1;
    if (span !== entry.blocks) {
      this.fail(`entry ${entry.index} (${entry.path}) has ${span} blocks, the collection names ${entry.blocks} for it`);
    }
    return file;
  }
}

/**
 * Opens `rootBytes` (verified) as a collection: undefined when the key does not open its head (it
 * may be a file), a malformed root or head throws.
 */
async function tryCollection(
  root: BlockId,
  rootBytes: Uint8Array,
  key: Uint8Array,
  getBlock: BlockGetter,
  options: CollectionOpenOptions,
  backend: CryptoBackend,
): Promise<OpenedCollection | undefined> {
  if (!hasMagic(rootBytes)) return undefined;
  const layout = checkIdLayout(options.idLayout);
  const structure = decodeRootStructure(root, rootBytes, layout);
  const keys = await deriveCollectionKeys(key, backend);
  const plain = await keys.head.open(
    headNonce(),
    headAad(await backend.sha256(structure.header)),
    structure.sealedMetadata,
  );
  if (!plain) return undefined;
  const head = decodeHead(root, plain, keys.commitment, structure.blockCount);
  plain.fill(0);
  throwIfAborted(options.signal);
  return new OpenedCollection(root, head, keys, backend, structure, getBlock, layout, options.entryIdLayout);
}

function checkRoot(root: BlockId): void {
  if (!isBlockId(root)) throw new RangeError(`not a block id: ${String(root).slice(0, 80)}`);
}

/** Fetches and verifies `root` once, and tries it as a collection (undefined when it is not one). */
async function openRootAsCollection(
  root: BlockId,
  key: Uint8Array,
  getBlock: BlockGetter,
  options: CollectionOpenOptions,
): Promise<{ rootBytes: Uint8Array; collection: OpenedCollection | undefined }> {
  checkRoot(root);
  const backend = options.backend ?? defaultBackend();
  const rootBytes = await fetchVerified(
    getBlock,
    root,
    { kind: BlockKind.ManifestRoot, index: 0, signal: options.signal },
    backend,
  );
  return { rootBytes, collection: await tryCollection(root, rootBytes, key, getBlock, options, backend) };
}

/**
 * Fetches and verifies the root named by `root` and opens it as a collection with `key`; nothing
 * else is fetched until the listing is read.
 * @throws WrongKeyError when the key does not open it as a collection (it may be a file: see
 *   openLinkRoot); ManifestError for a malformed root or head (a head declaring more than
 *   MAX_COLLECTION_ENTRIES entries among them); BlockIntegrityError; what the getter throws.
 */
export async function openCollection(
  root: BlockId,
  key: Uint8Array,
  getBlock: BlockGetter,
  options: CollectionOpenOptions = {},
): Promise<OpenedCollection> {
  const { collection } = await openRootAsCollection(root, key, getBlock, options);
  if (!collection) throw new WrongKeyError(root);
  return collection;
}

export type OpenedRoot =
  | { readonly kind: 'file'; readonly file: OpenedManifest }
  | { readonly kind: 'collection'; readonly collection: OpenedCollection };

/**
 * Opens whatever a link names: fetches its root once, opens it as a collection, or else as a file.
 * @throws what openManifest throws when it is neither (WrongKeyError, FormatVersionError for a
 *   format-1 file, ManifestError, BlockIntegrityError).
 */
export async function openLinkRoot(
  root: BlockId,
  key: Uint8Array,
  getBlock: BlockGetter,
  options: CollectionOpenOptions = {},
): Promise<OpenedRoot> {
  const { rootBytes, collection } = await openRootAsCollection(root, key, getBlock, options);
  if (collection) return { kind: 'collection', collection };
  // The root is already here and verified: openManifest need not fetch it again.
  const withRoot: BlockGetter = (id, request) => (id === root ? Promise.resolve(rootBytes) : getBlock(id, request));
  return { kind: 'file', file: await openManifest(root, key, withRoot, options) };
}

/**
 * Every block of the collection `root`, with no key: its listing blocks, each file's blocks, its
 * index blocks, the root. A collection root is a format-2 root to a keyless holder, so this is
 * listFileBlockIds itself; the name is for readers of a seed's code.
 */
export function listCollectionBlockIds(
  root: BlockId,
  getBlock: BlockGetter,
  options: ListOptions = {},
): AsyncGenerator<BlockId> {
  return listFileBlockIds(root, getBlock, options);
}
