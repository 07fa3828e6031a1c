// Reading a folder a person shares (`mycel put <dir>`): every regular file and every empty folder
// under it, each with the collection path it will have (content/paths.ts normalises the names),
// checked for collisions before a single byte is sealed, so a folder that cannot be shared as it
// is fails at once, naming the file, rather than after gigabytes of sealing.
//
// Symbolic links are never followed (a link could lead anywhere, the sharer's home included) and
// neither are sockets, pipes or devices: they are skipped and reported, so the caller can say so.
// Hidden files are kept: they are part of a folder. Order is by name within each folder (UTF-16
// code units), so the same folder always makes the same listing.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BadInputError, throwIfAborted } from '../errors.js';
import { MAX_COLLECTION_ENTRIES } from '../content/collection-manifest.js';
import { MAX_PATH_DEPTH, PathIndex, normaliseEntryPath } from '../content/paths.js';

export interface FolderItem {
  readonly kind: 'file' | 'folder';
  /** The collection path (normalised). */
  readonly path: string;
  /** Where it is on this disk. */
  readonly absolute: string;
  /** Bytes (files only), as lstat saw them when walked. */
  readonly size: number;
}

export interface SkippedItem {
  readonly absolute: string;
  readonly why: 'symbolic-link' | 'not-a-file';
}

export interface FolderWalk {
  readonly items: FolderItem[];
  readonly skipped: SkippedItem[];
}

/**
 * Walks `dir` (a folder; a link naming it is followed, since the person named it).
 * @throws PathError naming a file whose name cannot be shared or that collides with another once
 *   normalised; BadInputError for more than MAX_COLLECTION_ENTRIES entries or a folder with
 *   nothing to share; what the file system throws.
 */
export async function walkFolder(dir: string, options: { signal?: AbortSignal } = {}): Promise<FolderWalk> {
  const items: FolderItem[] = [];
  const skipped: SkippedItem[] = [];
  const paths = new PathIndex();
  const add = (kind: FolderItem['kind'], names: string[], absolute: string, size: number) => {
    if (items.length >= MAX_COLLECTION_ENTRIES)
      throw new BadInputError(`a shared folder holds at most ${MAX_COLLECTION_ENTRIES} entries`);
    const entryPath = normaliseEntryPath(names, items.length);
    paths.add(entryPath, kind, items.length);
    items.push({ kind, path: entryPath, absolute, size });
  };
  const walk = async (at: string, names: string[]): Promise<void> => {
    throwIfAborted(options.signal);
    const children = (await fs.readdir(at, { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    const before = items.length;
    for (const child of children) {
      const absolute = path.join(at, child.name);
      const childNames = [...names, child.name];
      if (child.isSymbolicLink()) skipped.push({ absolute, why: 'symbolic-link' });
      else if (child.isDirectory()) {
        // normaliseEntryPath refuses deeper paths too, but only once a file is reached.
        if (childNames.length > MAX_PATH_DEPTH) normaliseEntryPath(childNames, items.length);
        await walk(absolute, childNames);
      } else if (child.isFile()) add('file', childNames, absolute, (await fs.lstat(absolute)).size);
      else skipped.push({ absolute, why: 'not-a-file' });
    }
    // A folder with nothing kept in it (empty, or only links) is kept as an empty folder.
    if (items.length === before && names.length > 0) add('folder', names, at, 0);
  };
  await walk(path.resolve(dir), []);
  if (items.length === 0) throw new BadInputError(`${dir} has nothing to share`);
  return { items, skipped };
}
