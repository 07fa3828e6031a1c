// The collection half of `mycel put` and `mycel get`: what several files or a folder become (one
// collection, one link), and how a collection link is written back as a folder on this disk.

import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { BadInputError } from '../errors.js';
import { MAX_COLLECTION_ENTRIES } from '../content/collection-manifest.js';
import type { CollectionEntry } from '../content/collection-open.js';
import { normaliseEntryPath } from '../content/paths.js';
import type { CollectionUploadItem, RemoteCollection } from '../net/transfer.js';
import { writeCollection, type WriteResult } from './collection-write.js';
import { walkFolder, type SkippedItem } from './folder-walk.js';
import { mediaTypeOf } from './media-types.js';

const READ_CHUNK_BYTES = 1024 * 1024;

export interface PutPlan {
  readonly items: CollectionUploadItem[];
  /** Bytes of every file, as seen when walked. */
  readonly bytes: number;
  /** Links and special files left out, to tell the person. */
  readonly skipped: SkippedItem[];
}

/**
 * The collection several arguments make. One folder: its contents, paths relative to it (so
 * `get -o dir` restores the folder as it was). Several arguments: each file by its name, each
 * folder under its own name.
 * @throws PathError for a name that cannot be shared or a collision; BadInputError for a path
 *   that is neither a file nor a folder, or too many entries.
 */
export async function planPut(args: readonly string[], signal?: AbortSignal): Promise<PutPlan> {
  const items: CollectionUploadItem[] = [];
  const skipped: SkippedItem[] = [];
  let bytes = 0;
  const file = (absolute: string, entryPath: string, size: number) => {
    items.push({
      kind: 'file',
      path: entryPath,
      mediaType: mediaTypeOf(entryPath),
      open: () => createReadStream(absolute, { highWaterMark: READ_CHUNK_BYTES }),
    });
    bytes += size;
  };
  for (const arg of args) {
    const stat = await fs.stat(arg).catch(() => undefined);
    if (stat?.isFile()) {
      file(path.resolve(arg), normaliseEntryPath([path.basename(arg)], items.length), stat.size);
      continue;
    }
    if (!stat?.isDirectory()) throw new BadInputError(`not a file or a folder: ${arg}`);
    const walked = await walkFolder(arg, { signal });
    // A lone folder is shared as its contents; among others, under its own name.
    const prefix = args.length === 1 ? [] : [path.basename(path.resolve(arg))];
    for (const item of walked.items) {
      const entryPath = normaliseEntryPath([...prefix, ...item.path.split('/')], items.length);
      if (item.kind === 'folder') items.push({ kind: 'folder', path: entryPath });
      else file(item.absolute, entryPath, item.size);
    }
    skipped.push(...walked.skipped);
    if (items.length > MAX_COLLECTION_ENTRIES)
      throw new BadInputError(`a collection holds at most ${MAX_COLLECTION_ENTRIES} entries`);
  }
  return { items, bytes, skipped };
}

/** The listing as `--json` shows it. */
export function entrySummary(entry: CollectionEntry) {
  return entry.kind === 'folder'
    ? { path: entry.path, kind: 'folder' as const }
    : { path: entry.path, kind: 'file' as const, size: entry.size, mediaType: entry.mediaType };
}

export interface GetCollectionResult extends WriteResult {
  readonly folder: string;
  readonly entries: ReturnType<typeof entrySummary>[];
}

/**
 * Writes the collection under `folder` (made if missing): nothing outside it, nothing replaced,
 * no link followed (collection-write.ts). The whole listing is checked before the first byte.
 */
export async function getCollection(
  remote: RemoteCollection,
  folder: string,
  options: { signal?: AbortSignal; onProgress?: (bytes: number, total: number) => void } = {},
): Promise<GetCollectionResult> {
  const { collection } = remote;
  const entries = await collection.list({ signal: options.signal });
  const total = collection.totalSize;
  const written = await writeCollection(collection, remote.getBlock, folder, {
    signal: options.signal,
    onProgress: ({ bytes }) => options.onProgress?.(bytes, total),
  });
  return { ...written, folder, entries: entries.map(entrySummary) };
}
