// Collections in the browser: several files (or a folder) added as one link, and a link opened as
// whatever it names. Built on the BrowserPeer's store, Library and swarm, like its file operations:
// a collection's blocks are kept here as it is added and pushed to the seeds as one upload; an
// opened collection's blocks are fetched into IndexedDB before the service worker serves an entry
// or the zip of them all.

import type { CommitTerms } from '../../src/net/wire.js';
import {
  listCollectionBlockIds,
  type CollectionEntry,
  type CollectionFile,
  type CollectionFolder,
} from '../../src/content/collection-open.js';
import type { BlockId } from '../../src/content/format.js';
import { formatLink, parseLink, type FileLink } from '../../src/content/share-link.js';
import { BadInputError } from '../../src/errors.js';
import type { FetchProgress } from '../../src/net/fetch.js';
import {
  connectSeeds,
  openRemoteRoot,
  uploadCollection,
  type CollectionUploadItem,
  type RemoteCollection,
  type RemoteFile,
} from '../../src/net/transfer.js';
import type { LibraryEntry } from '../../src/store/library.js';
import { trackedStore } from './add-cleanup.js';
import { SEED_SEARCH_MS, type BrowserPeer } from './browser-peer.js';

/** A file picked or dropped, with its path in the shared folder ('' or its name for a lone file). */
export interface PickedFile {
  readonly file: File;
  /** `/`-separated, relative: a folder pick's webkitRelativePath, or the file's name. */
  readonly path: string;
}

/** How long opening a link waits for anyone holding it, unless the caller says otherwise. */
export const NO_HOLDER_WAIT_MS = 20_000;

/** A name for a collection in My files: the folder all its entries share, or "N files". */
export function collectionName(paths: readonly string[]): string {
  const first = paths[0]?.split('/')[0];
  if (first && paths.length > 0 && paths.every((p) => p.includes('/') && p.split('/')[0] === first)) return first;
  return `${paths.length} file${paths.length === 1 ? '' : 's'}`;
}

/**
 * Encrypts every file here, keeps the blocks, pushes them to the seeds as one upload and commits
 * the collection: one link. Paths are checked (and collisions refused) before the first byte.
 * @throws PathError for a name that cannot be shared; what uploadCollection throws.
 */
export async function addCollection(
  peer: BrowserPeer,
  picked: readonly PickedFile[],
  onProgress?: (bytesRead: number, size: number) => void,
  signal?: AbortSignal,
  terms?: CommitTerms,
): Promise<LibraryEntry> {
  if (picked.length === 0) throw new BadInputError('nothing to share');
  const size = picked.reduce((n, p) => n + p.file.size, 0);
  const items: CollectionUploadItem[] = picked.map(({ file, path }) => ({
    kind: 'file',
    path,
    mediaType: file.type,
    open: () => file.stream(),
  }));
  await peer.swarm.signaling.ready(SEED_SEARCH_MS).catch(() => {
    // No server in time: the collection is kept on this device only.
  });
  const seeds = peer.swarm.signaling.connected ? await connectSeeds(peer.swarm, { timeoutMs: SEED_SEARCH_MS }) : [];
  // An add that does not finish leaves no blocks behind.
  const tracked = trackedStore(peer.store);
  let result;
  try {
    result = await uploadCollection(items, {
      seeds,
      store: tracked.store,
      signal,
      terms,
      onProgress: ({ bytesRead }) => onProgress?.(bytesRead, size),
    });
  } catch (error) {
    await tracked.discard();
    throw error;
  }
  const { root, key, entries } = result.collection;
  const entry: LibraryEntry = {
    root,
    link: formatLink(peer.origin, root, key),
    name: collectionName(entries.map((e) => e.path)),
    size,
    mediaType: 'application/x-mycel-collection',
    source: 'added',
    addedAt: Date.now(),
    pinned: false,
    complete: true,
    terms,
    copies: result.seeds.length,
    kind: 'collection',
  };
  await peer.library.put(entry);
  await peer.prepareAudits(root);
  await peer.refreshHeld();
  peer.swarm.announce([root]);
  return entry;
}

export interface OpenedCollectionLink {
  readonly link: FileLink;
  readonly remote: RemoteCollection;
  readonly entries: CollectionEntry[];
}

export type OpenedLink =
  | { readonly kind: 'file'; readonly link: FileLink; readonly remote: RemoteFile }
  | ({ readonly kind: 'collection' } & OpenedCollectionLink);

/** An entry as any tab shows it: what the listing says, without the entry's key. */
export type ListedEntry =
  | Pick<CollectionFile, 'kind' | 'index' | 'path' | 'size' | 'mediaType'>
  | Pick<CollectionFolder, 'kind' | 'index' | 'path'>;

/** An opened collection as any tab shows it (plain data: it crosses to other tabs). */
export interface CollectionListing {
  readonly root: BlockId;
  /** The link it was opened with: what fetchEntry and fetchCollection are called with. */
  readonly link: string;
  readonly totalSize: number;
  readonly entries: ListedEntry[];
}

/** What a link turned out to name: a file (FileView opens it) or a collection, listed. */
export type LinkKind = { readonly kind: 'file' } | ({ readonly kind: 'collection' } & CollectionListing);

/** What of an opened link any tab may see. */
export function describeLink(text: string, opened: OpenedLink): LinkKind {
  if (opened.kind === 'file') return { kind: 'file' };
  return {
    kind: 'collection',
    root: opened.link.root,
    link: text,
    totalSize: opened.remote.collection.totalSize,
    entries: opened.entries.map((e) =>
      e.kind === 'file'
        ? { kind: 'file', index: e.index, path: e.path, size: e.size, mediaType: e.mediaType }
        : { kind: 'folder', index: e.index, path: e.path },
    ),
  };
}

/**
 * The collection an opened link names.
 * @throws BadInputError when the link is a file.
 */
export function collectionOf(opened: OpenedLink): OpenedCollectionLink {
  if (opened.kind !== 'collection') throw new BadInputError('this link is a file, not a collection');
  return opened;
}

/**
 * The file entry `index` of a collection.
 * @throws BadInputError when there is no such entry, or it is a folder.
 */
export function fileEntry(opened: OpenedCollectionLink, index: number): CollectionFile {
  const entry = opened.entries.find((e) => e.index === index);
  if (entry?.kind !== 'file') throw new BadInputError(`the collection has no file entry ${index}`);
  return entry;
}

/**
 * Opens a link as a file or a collection; a collection's listing is read and checked whole. A
 * collection is remembered in My files (as opened), as a file is by BrowserPeer.open.
 * @throws LinkError, WrongKeyError, NoHolderError, BlockIntegrityError, ManifestError, PathError
 */
export async function openLink(
  peer: BrowserPeer,
  text: string,
  options: { signal?: AbortSignal; noHolderTimeoutMs?: number; onProgress?: (p: FetchProgress) => void } = {},
): Promise<OpenedLink> {
  const link = parseLink(text);
  const existing = await peer.library.get(link.root);
  if (!existing?.complete) {
    await peer.swarm.signaling.ready().catch(() => {
      // No server in time: blocks held here may be enough; the fetch says if not.
    });
  }
  const opened = await openRemoteRoot(link.root, link.key, {
    swarm: peer.swarm,
    store: peer.store,
    signal: options.signal,
    noHolderTimeoutMs: options.noHolderTimeoutMs ?? NO_HOLDER_WAIT_MS,
    onProgress: options.onProgress,
  });
  if (opened.kind === 'file') return { kind: 'file', link, remote: opened.file };
  const { remote } = opened;
  let entries: CollectionEntry[];
  try {
    entries = await remote.collection.list({ signal: options.signal });
  } catch (error) {
    remote.close();
    throw error;
  }
  if (!existing) {
    await peer.library.put({
      root: link.root,
      link: formatLink(peer.origin, link.root, link.key),
      name: collectionName(entries.map((e) => e.path)),
      size: remote.collection.totalSize,
      mediaType: 'application/x-mycel-collection',
      source: 'opened',
      addedAt: Date.now(),
      pinned: false,
      complete: false,
      kind: 'collection',
    });
    await peer.refreshHeld();
  }
  return { kind: 'collection', link, remote, entries };
}

/** Fetches one entry's blocks into IndexedDB, so the service worker can serve it. */
export async function fetchEntry(opened: OpenedCollectionLink, entry: CollectionFile): Promise<void> {
  const file = await opened.remote.collection.openFile(entry);
  const ids: BlockId[] = [];
  for await (const id of file.allIds()) ids.push(id);
  await opened.remote.fetcher.fetchAll(ids);
}

/**
 * Fetches every block of the collection into IndexedDB (listed without the key, as a seed lists
 * it); then this device holds it whole, serves it to others and can zip it.
 */
export async function fetchCollection(peer: BrowserPeer, opened: OpenedCollectionLink): Promise<void> {
  const ids: BlockId[] = [];
  for await (const id of listCollectionBlockIds(opened.link.root, opened.remote.getBlock)) ids.push(id);
  await opened.remote.fetcher.fetchAll(ids);
  await peer.library.update(opened.link.root, { complete: true });
  await peer.refreshHeld();
  peer.swarm.announce([opened.link.root]);
}
