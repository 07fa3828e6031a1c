// Whole-file operations over the network, shared by the command line and the browser: sealing a
// file while pushing its blocks to seeds, and reading a file from holders as it arrives.
//
// Placement: a file with a target of N copies goes to N seeds, not to all: the first N of the seeds
// reached in rendezvous order of its root (policy.ts), moving down the ranking when one refuses or
// fails. The root is known only once the file is sealed, so with more seeds than copies the file is
// sealed into the local store first and pushed from there; with no more seeds than copies every
// seed gets it while it is sealed, as before.
//
// A seed's word that it stored a file is not enough: after its commit, a few blocks chosen at random
// (unknown to the seed until asked) and the root are read back from it, and only a seed that returns
// them all, hashing to their ids, counts as holding a copy.

import {
  BadInputError,
  BlockMissingError,
  ClosedError,
  NoSeedError,
  StoreRefusedError,
  UnprovenCopyError,
  throwIfAborted,
} from '../errors.js';
import { InOrderWindow } from '../in-order.js';
import { listFileBlockIds } from '../content/block-list.js';
import type { ByteSource } from '../content/chunker.js';
import { MAX_COLLECTION_ENTRIES } from '../content/collection-manifest.js';
import { openLinkRoot, type OpenedCollection } from '../content/collection-open.js';
import { sealCollection, type CollectionEntryInput, type SealedCollection } from '../content/collection-seal.js';
import { PathIndex, normaliseEntryPath } from '../content/paths.js';
import { randomBytes } from '../content/crypto.js';
import { BlockKind, type BlockId } from '../content/format.js';
import { openManifest, readFile, type BlockGetter, type OpenedManifest } from '../content/open.js';
import { sealFile, type SealedBlock, type SealedFile, type SealOptions } from '../content/seal.js';
import type { BlockStore } from '../store/block-store.js';
import { BlockFetcher, type FetchProgress } from './fetch.js';
import type { Logger } from '../log.js';
import type { PeerSession } from './session.js';
import type { Swarm } from './swarm.js';
import { SEEDS_TOPIC } from './signal-messages.js';
import { UPLOAD_ID_BYTES, type CommitTerms } from './wire.js';
import { rankHolders } from '../replication/policy.js';
import {
  DOWNLOAD_AHEAD,
  MAX_SEEDS_USED,
  READBACK_BLOCKS,
  READ_PRIORITY_BLOCKS,
  SEED_SEARCH_RETRY_MS,
  SEED_SEARCH_TIMEOUT_MS,
  UPLOAD_WINDOW,
} from './limits.js';

export interface UploadProgress {
  readonly bytesRead: number;
  readonly blocksSent: number;
}

export interface UploadOptions extends Omit<SealOptions, 'onProgress'> {
  /** Seeds that may keep the file. At least one must take the whole file. */
  readonly seeds: PeerSession[];
  /**
   * Also keep every block here (a browser keeps what it adds). Needed for placement on fewer seeds
   * than `seeds` (`terms.copies`): the file is sealed here first, then pushed from here.
   */
  readonly store?: Pick<BlockStore, 'put'> & Partial<Pick<BlockStore, 'get'>>;
  /**
   * The owner's terms (copies, expiry), sent with each commit; `copies` also says how many seeds
   * get the file.
   */
  readonly terms?: CommitTerms;
  readonly onProgress?: (progress: UploadProgress) => void;
  readonly log?: Logger;
}

export interface UploadResult {
  readonly file: SealedFile;
  /** Seeds that committed the file and gave back the blocks read back from them. */
  readonly seeds: string[];
  /** Seeds that failed, with why. */
  readonly failed: { peer: string; error: Error }[];
}

/**
 * Seals `source` and pushes each block to every seed as it is made, then commits the upload as
 * the file's root, then reads back the root and READBACK_BLOCKS random blocks from each seed that
 * committed. Memory stays bounded: at most UPLOAD_WINDOW blocks wait for acknowledgement, and the
 * sample is kept by reservoir sampling (READBACK_BLOCKS ids).
 * @throws the first seed's error (e.g. StoreRefusedError for a quota, UnprovenCopyError) when no
 *   seed proved it holds the file.
 */
export async function uploadFile(source: ByteSource, options: UploadOptions): Promise<UploadResult> {
  const placing = placesFewer(options);
  const upload = startUpload(placing ? { ...options, seeds: [] } : options);
  const file = await sealFile(source, upload.sink, {
    ...options,
    onProgress: (n) => upload.read(n),
  });
  // Placing: no seed was pushed to yet, and this only waits for the local copy to be written.
  const { seeds, failed } = await upload.commit(file.root);
  if (placing) return { file, ...(await placeFile(file.root, placing, options)) };
  return { file, seeds, failed };
}

/** The store to seal into first when the file goes to fewer seeds than were reached, else undefined. */
function placesFewer(options: Omit<UploadOptions, 'name' | 'mediaType'>): Pick<BlockStore, 'get'> | undefined {
  const copies = options.terms?.copies;
  if (copies === undefined || options.seeds.length <= copies) return undefined;
  const store = options.store;
  if (!store?.get) throw new BadInputError('placing a file on some of the seeds needs a store to seal it into first');
  return { get: store.get.bind(store) };
}

/**
 * Pushes the sealed file `root` from `store` to the first `terms.copies` of `seeds` in rendezvous
 * order, each checked as put checks a copy; a seed that refuses or fails is replaced by the next.
 * @throws the first seed's error when none took it.
 */
async function placeFile(
  root: BlockId,
  store: Pick<BlockStore, 'get'>,
  options: Omit<UploadOptions, 'name' | 'mediaType'>,
): Promise<{ seeds: string[]; failed: { peer: string; error: Error }[] }> {
  const ranked = rankHolders(
    root,
    options.seeds.map((session) => ({ id: session.peer, kind: 'seed' as const, session })),
  );
  const want = Math.min(options.terms?.copies ?? ranked.length, ranked.length);
  const placed: string[] = [];
  const failed: { peer: string; error: Error }[] = [];
  let next = 0;
  // One worker per copy wanted: each moves down the ranking only when its own seed failed.
  const worker = async () => {
    while (next < ranked.length) {
      const { session } = ranked[next++]!;
      try {
        await pushHeldFile(session, root, store, options.signal, options.terms);
        placed.push(session.peer);
        return;
      } catch (error) {
        throwIfAborted(options.signal);
        failed.push({ peer: session.peer, error: error as Error });
        options.log?.warn('seed failed during upload', { peer: session.peer, error: (error as Error).message });
      }
    }
  };
  await Promise.all(Array.from({ length: want }, worker));
  if (placed.length === 0) throw failed[0]?.error ?? new NoSeedError('no seed to upload to');
  return { seeds: placed, failed };
}

export interface CollectionUploadItem {
  readonly kind: 'file' | 'folder';
  /** The entry's path in the collection (paths.ts normalises it). */
  readonly path: string;
  /** A file's bytes, opened when its turn comes (so one file is open at a time). */
  readonly open?: () => ByteSource;
  readonly mediaType?: string;
}

export interface CollectionUploadOptions extends Omit<UploadOptions, 'name' | 'mediaType'> {
  /** Called as each entry starts, with its position. */
  readonly onEntry?: (index: number, item: CollectionUploadItem) => void;
}

export interface CollectionUploadResult {
  readonly collection: SealedCollection;
  readonly seeds: string[];
  readonly failed: { peer: string; error: Error }[];
}

/**
 * Seals every file of `items` and then the collection that lists them, all pushed to the seeds as
 * one upload committed once, as the collection's root: a seed keeps the collection whole or not at
 * all (a collection root lists every entry's blocks to a keyless holder). Progress counts bytes
 * read across all files.
 * @throws PathError for a path that cannot be shared or collides; what uploadFile throws.
 */
export async function uploadCollection(
  items: readonly CollectionUploadItem[],
  options: CollectionUploadOptions,
): Promise<CollectionUploadResult> {
  const placing = placesFewer(options);
  const upload = startUpload(placing ? { ...options, seeds: [] } : options);
  // Paths are checked before the first byte is sealed: a bad name found at the end wastes nothing.
  checkCollectionPaths(items);
  const inputs: CollectionEntryInput[] = [];
  let before = 0;
  for (const [index, item] of items.entries()) {
    throwIfAborted(options.signal);
    options.onEntry?.(index, item);
    if (item.kind === 'folder') {
      inputs.push({ kind: 'folder', path: item.path });
      continue;
    }
    if (!item.open) throw new BadInputError(`entry ${index} (${item.path}) is a file with nothing to read`);
    const name = item.path.slice(item.path.lastIndexOf('/') + 1);
    const sealed = await sealFile(item.open(), upload.sink, {
      ...options,
      name,
      mediaType: item.mediaType,
      onProgress: (n) => upload.read(before + n),
    });
    before += sealed.manifest.size;
    inputs.push({ path: item.path, sealed, mediaType: item.mediaType });
  }
  const collection = await sealCollection(inputs, upload.sink, { backend: options.backend, signal: options.signal });
  const { seeds, failed } = await upload.commit(collection.root);
  if (placing) return { collection, ...(await placeFile(collection.root, placing, options)) };
  return { collection, seeds, failed };
}

/** Refuses a list whose paths break the rules or collide, before anything is read. */
function checkCollectionPaths(items: readonly CollectionUploadItem[]): void {
  if (items.length === 0) throw new BadInputError('a collection needs at least one entry');
  if (items.length > MAX_COLLECTION_ENTRIES)
    throw new BadInputError(`a collection holds at most ${MAX_COLLECTION_ENTRIES} entries`);
  const paths = new PathIndex();
  for (const [index, item] of items.entries()) paths.add(normaliseEntryPath(item.path, index), item.kind, index);
}

interface Upload {
  /** Takes each sealed block: pushes it to every healthy seed (and the store). */
  readonly sink: (block: SealedBlock) => Promise<void>;
  /** Reports bytes read so far. */
  read(bytes: number): void;
  /** Commits the upload as `root` on every healthy seed and reads a sample back. */
  commit(root: BlockId): Promise<{ seeds: string[]; failed: { peer: string; error: Error }[] }>;
}

/**
 * One upload to the seeds: every block handed to its sink is pushed to each seed as it is made;
 * commit names the root they make up, then reads back the root and READBACK_BLOCKS random blocks
 * from each seed that committed. Memory stays bounded: at most UPLOAD_WINDOW blocks wait for
 * acknowledgement, and the sample is kept by reservoir sampling (READBACK_BLOCKS ids).
 */
function startUpload(options: Omit<UploadOptions, 'name' | 'mediaType'>): Upload {
  if (options.seeds.length === 0 && !options.store) throw new NoSeedError('no seed to upload to');
  const upload = randomBytes(UPLOAD_ID_BYTES);
  const failures = new Map<string, Error>();
  const healthy = () => options.seeds.filter((s) => !failures.has(s.peer));
  const unacked = new InOrderWindow<unknown>(UPLOAD_WINDOW);
  let blocksSent = 0;
  let bytesRead = 0;
  const sample: BlockId[] = [];
  let sealed = 0;

  const pushTo = (seed: PeerSession, block: SealedBlock) =>
    seed.store(upload, block.bytes, { signal: options.signal }).catch((error: Error) => {
      if (!failures.has(seed.peer)) {
        failures.set(seed.peer, error);
        options.log?.warn('seed failed during upload', { peer: seed.peer, error: error.message });
      }
    });

  const sink = async (block: SealedBlock) => {
    throwIfAborted(options.signal);
    sampleInto(sample, ++sealed, block.id);
    const seeds = healthy();
    if (seeds.length === 0 && options.seeds.length > 0) throw firstFailure(failures);
    const local = options.store?.put(block.id, block.bytes);
    unacked.add(
      Promise.all([local, ...seeds.map((seed) => pushTo(seed, block))]).then(() => {
        blocksSent++;
        options.onProgress?.({ bytesRead, blocksSent });
      }),
    );
    if (unacked.full) await unacked.next();
  };

  return {
    sink,
    read(bytes) {
      bytesRead = bytes;
      options.onProgress?.({ bytesRead, blocksSent });
    },
    async commit(root) {
      await unacked.drain();
      const checks = [...new Set([root, ...sample])];
      await Promise.all(
        healthy().map(async (seed) => {
          try {
            await seed.commit(upload, root, { signal: options.signal, terms: options.terms });
            await readBack(seed, checks, options.signal);
          } catch (error) {
            failures.set(seed.peer, error as Error);
            options.log?.warn('seed failed during upload', { peer: seed.peer, error: (error as Error).message });
          }
        }),
      );
      const seeds = healthy().map((s) => s.peer);
      if (options.seeds.length > 0 && seeds.length === 0) throw firstFailure(failures);
      return { seeds, failed: [...failures].map(([peer, error]) => ({ peer, error })) };
    },
  };
}

/**
 * Renews the hold `seed` keeps on the file `root` for us: a commit of the root under a fresh upload
 * id (a seed keeps a file for a peer not on its allow list only until it is renewed). If the seed
 * no longer holds it whole and `store` holds every block, the file is pushed again from there.
 * Resolves with what was done.
 * @throws StoreRefusedError (e.g. `unknown-upload`: the seed does not hold it and we cannot resend it)
 */
export async function renewFile(
  seed: PeerSession,
  root: BlockId,
  options: { store?: BlockStore; signal?: AbortSignal; terms?: CommitTerms } = {},
): Promise<'renewed' | 'pushed'> {
  try {
    // Without terms the seed keeps the ones it has (a renewal keeps the file's expiry).
    await seed.commit(randomBytes(UPLOAD_ID_BYTES), root, { signal: options.signal, terms: options.terms });
    return 'renewed';
  } catch (error) {
    const resend =
      error instanceof StoreRefusedError && (error.reason === 'unknown-upload' || error.reason === 'incomplete');
    if (!resend || !options.store) throw error;
  }
  await pushHeldFile(seed, root, options.store, options.signal, options.terms);
  return 'pushed';
}

/**
 * Pushes every block of the file `root` from `store` to `seed` (listed without the key), commits
 * it on `terms`, and reads back the root and READBACK_BLOCKS random blocks, as a put does. At most
 * UPLOAD_WINDOW blocks wait for acknowledgement.
 * @throws BlockMissingError if `store` lacks a block; StoreRefusedError; UnprovenCopyError
 */
export async function pushHeldFile(
  seed: PeerSession,
  root: BlockId,
  store: Pick<BlockStore, 'get'>,
  signal?: AbortSignal,
  terms?: CommitTerms,
): Promise<void> {
  const upload = randomBytes(UPLOAD_ID_BYTES);
  const getBlock = async (id: BlockId) => {
    const bytes = await store.get(id);
    if (!bytes) throw new BlockMissingError(id, 'not held here');
    return bytes;
  };
  const unacked = new InOrderWindow<void>(UPLOAD_WINDOW);
  const sample: BlockId[] = [];
  let listed = 0;
  for await (const id of listFileBlockIds(root, getBlock, { signal })) {
    sampleInto(sample, ++listed, id);
    unacked.add(seed.store(upload, await getBlock(id), { signal }));
    if (unacked.full) await unacked.next();
  }
  await unacked.drain();
  await seed.commit(upload, root, { signal, terms });
  await readBack(seed, [...new Set([root, ...sample])], signal);
}

/** Reservoir sampling: the `seen`-th id takes a place in `sample` with the same chance as every other. */
function sampleInto(sample: BlockId[], seen: number, id: BlockId): void {
  if (sample.length < READBACK_BLOCKS) sample.push(id);
  else {
    const slot = randomBelow(seen);
    if (slot < READBACK_BLOCKS) sample[slot] = id;
  }
}

/** Asks `seed` for each of `ids`: every one must come back (session.want checks the hash). */
async function readBack(seed: PeerSession, ids: BlockId[], signal?: AbortSignal): Promise<void> {
  for (const id of ids) {
    let bytes: Uint8Array | undefined;
    try {
      bytes = await seed.want(id, { signal });
    } catch (error) {
      throwIfAborted(signal);
      throw new UnprovenCopyError(seed.peer, id, `did not give back (${(error as Error).message})`, { cause: error });
    }
    if (!bytes) throw new UnprovenCopyError(seed.peer, id, 'did not have');
  }
}

/** A uniform random integer in [0, n), from the platform's CSPRNG: a seed cannot predict the sample. */
function randomBelow(n: number): number {
  const [word] = new Uint32Array(randomBytes(4).buffer);
  return Math.floor((word! / 2 ** 32) * n);
}

function firstFailure(failures: Map<string, Error>): Error {
  const first = failures.values().next().value;
  return first ?? new ClosedError('every seed');
}

/** Finds seeds through the signaling server and connects to up to `max` of them. */
export async function connectSeeds(
  swarm: Swarm,
  options: { max?: number; timeoutMs?: number } = {},
): Promise<PeerSession[]> {
  const deadline = Date.now() + (options.timeoutMs ?? SEED_SEARCH_TIMEOUT_MS);
  for (;;) {
    const peers = await swarm.holders(SEEDS_TOPIC).catch(() => [] as string[]);
    const sessions = await Promise.all(
      peers.slice(0, options.max ?? MAX_SEEDS_USED).map((peer) => swarm.connect(peer).catch(() => undefined)),
    );
    const open = sessions.filter((s): s is PeerSession => s !== undefined);
    if (open.length > 0 || Date.now() >= deadline) return open;
    await new Promise((resolve) => setTimeout(resolve, SEED_SEARCH_RETRY_MS));
  }
}

export interface DownloadOptions {
  readonly swarm: Swarm;
  readonly store: BlockStore;
  readonly signal?: AbortSignal;
  readonly noHolderTimeoutMs?: number;
  readonly onProgress?: (progress: FetchProgress) => void;
  readonly log?: Logger;
}

export interface RemoteRead {
  /** First byte (inclusive); default 0. */
  readonly start?: number;
  /** End byte (exclusive); default the file's size. */
  readonly end?: number;
  /** Blocks fetched ahead of the reader; default DOWNLOAD_AHEAD. */
  readonly ahead?: number;
  /**
   * The background fetch leaves out every chunk before start's: a get resuming a file it already
   * wrote in part asks for none of that part. Heeded by the first read or fetchAll of a RemoteFile
   * only (one background fetch serves them all); ranged reads that may seek back leave it unset.
   */
  readonly fetchFromStart?: boolean;
}

export interface RemoteFile {
  readonly opened: OpenedManifest;
  readonly fetcher: BlockFetcher;
  /** The plaintext, verified, in order, fetched ahead of the reader. */
  read(range?: RemoteRead): AsyncGenerator<Uint8Array>;
  /** Fetches every block into the store (to pin or to seed it); resolves when all are held. */
  fetchAll(): Promise<void>;
  close(): void;
}

/**
 * Every block id of an opened file: data blocks, index blocks, root. Index blocks not yet verified
 * are fetched through the getter the file was opened with.
 */
export async function fileBlockIds(opened: OpenedManifest, signal?: AbortSignal): Promise<BlockId[]> {
  const ids: BlockId[] = [];
  for await (const id of opened.allIds({ signal })) ids.push(id);
  return ids;
}

/**
 * Opens the file `root` with `key` from whoever holds it. Blocks already in `store` are used as
 * they are; the rest are fetched from holders, verified and stored.
 * @throws WrongKeyError, NoHolderError, BlockIntegrityError as the manifest is opened.
 */
export async function openRemoteFile(root: BlockId, key: Uint8Array, options: DownloadOptions): Promise<RemoteFile> {
  const fetcher = startFetcher(root, options);
  let opened: OpenedManifest;
  try {
    opened = await openManifest(root, key, (id) => fetcher.get(id), { signal: options.signal });
  } catch (error) {
    fetcher.stop(error);
    throw error;
  }
  return remoteFile(opened, fetcher, options);
}

export interface RemoteCollection {
  readonly collection: OpenedCollection;
  readonly fetcher: BlockFetcher;
  /** Gets a block of the collection from its holders (through the store). */
  readonly getBlock: BlockGetter;
  close(): void;
}

export type RemoteRoot =
  | { readonly kind: 'file'; readonly file: RemoteFile }
  | { readonly kind: 'collection'; readonly remote: RemoteCollection };

/**
 * Opens whatever the link `root` names, a file or a collection, from whoever holds it; the root is
 * fetched once. A collection's entries are fetched as they are read (through `getBlock`) from the
 * holders of the collection's root, who hold every block of it.
 * @throws what openLinkRoot throws (WrongKeyError, ManifestError, BlockIntegrityError), NoHolderError.
 */
export async function openRemoteRoot(root: BlockId, key: Uint8Array, options: DownloadOptions): Promise<RemoteRoot> {
  const fetcher = startFetcher(root, options);
  try {
    const opened = await openLinkRoot(root, key, (id) => fetcher.get(id), { signal: options.signal });
    if (opened.kind === 'file') return { kind: 'file', file: remoteFile(opened.file, fetcher, options) };
    return {
      kind: 'collection',
      remote: {
        collection: opened.collection,
        fetcher,
        getBlock: (id) => fetcher.get(id),
        close: () => fetcher.stop(),
      },
    };
  } catch (error) {
    fetcher.stop(error);
    throw error;
  }
}

function startFetcher(root: BlockId, options: DownloadOptions): BlockFetcher {
  const fetcher = new BlockFetcher({
    swarm: options.swarm,
    store: options.store,
    topic: root,
    signal: options.signal,
    noHolderTimeoutMs: options.noHolderTimeoutMs,
    onProgress: options.onProgress,
    log: options.log,
  });
  fetcher.warmUp();
  return fetcher;
}

function remoteFile(opened: OpenedManifest, fetcher: BlockFetcher, options: DownloadOptions): RemoteFile {
  let background: Promise<void> | undefined;
  // The chunk the background fetch's list starts at: positions in it are chunk indices less this.
  let firstChunk = 0;
  const startBackground = (from: number) => {
    background ??= (async () => {
      firstChunk = from;
      const dataIds: BlockId[] = [];
      let index = 0;
      for await (const id of opened.dataIds({ signal: options.signal })) if (index++ >= from) dataIds.push(id);
      await fetcher.fetchAll(dataIds);
    })();
    return background;
  };
  return {
    opened,
    fetcher,
    async *read(range = {}) {
      // Chunk indices less firstChunk are positions in the background fetch's list (the data ids in
      // order), so the reader's place moves the read-ahead and the priorities as it reads on or seeks.
      const ahead = range.ahead ?? DOWNLOAD_AHEAD;
      const startChunk = Math.floor((range.start ?? 0) / opened.manifest.chunkSize);
      const cursor = fetcher.cursor(ahead, READ_PRIORITY_BLOCKS);
      startBackground(range.fetchFromStart ? startChunk : 0).catch(() => {
        // The reader meets any failure through its own fetches (fetcher.get).
      });
      fetcher.setReadPosition(Math.max(0, startChunk - firstChunk), ahead);
      const getBlock: BlockGetter = (id, request) => {
        if (request.kind === BlockKind.Data) cursor.at(Math.max(0, request.index - firstChunk));
        return fetcher.get(id);
      };
      yield* readFile(opened, getBlock, { start: range.start, end: range.end, signal: options.signal });
    },
    fetchAll() {
      fetcher.setReadPosition(0, Infinity);
      return startBackground(0).then(async () => {
        for (const id of opened.indexIds) await fetcher.get(id);
      });
    },
    close() {
      fetcher.stop();
    },
  };
}
