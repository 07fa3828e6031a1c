// Writing a collection's entries into a folder on disk (what `mycel get` of a collection does),
// so that nothing lands outside that folder and nothing already there is replaced.
//
// Three layers, each enough on its own for what it guards:
//   1. Every path passes the path rules (content/paths.ts) and every pair is checked for
//      collisions, for the whole listing, before the first byte is written.
//   2. resolveInside: the resolved absolute path must stay inside the target folder, lexically.
//   3. At write time, each parent folder is made one level at a time and checked with lstat: a
//      symbolic link (or anything not a folder) on the way is refused, so a link already in the
//      target folder (`docs -> /etc`) cannot carry a write outside it. Files are created with
//      O_CREAT | O_EXCL | O_NOFOLLOW, mode 0644: an existing file or link at that name is an
//      error, never followed or overwritten (on Windows, where a long name's 8.3 alias may name
//      another file, O_EXCL refuses that too).
// What remains: between the lstat of a parent and the open below it, a local process that can
// write in the target folder could swap the parent for a link (Node has no openat). That needs an
// attacker on this machine, in this folder, at that instant; the collection's author is not one.
// Files are never made executable, whatever the sender's system did.

import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { PathError } from '../errors.js';
import type { BlockGetter } from '../content/block-list.js';
import type { CollectionEntry, OpenedCollection } from '../content/collection-open.js';
import { readFile } from '../content/open.js';
import { checkEntryPath } from '../content/paths.js';

export const WRITTEN_FILE_MODE = 0o644;
export const MADE_FOLDER_MODE = 0o755;
// Windows has no O_NOFOLLOW; O_EXCL alone never follows a link at the final name anyway.
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);

/**
 * The absolute path `entryPath` would be written to under `targetDir`, only if it is a valid
 * collection path and stays inside `targetDir` once resolved. Pure: looks at no disk.
 * @throws PathError (`outside`, or the path rule it breaks) naming `entry`.
 */
export function resolveInside(targetDir: string, entryPath: string, entry?: number): string {
  checkEntryPath(entryPath, entry);
  const base = path.resolve(targetDir);
  const full = path.resolve(base, ...entryPath.split('/'));
  const relative = path.relative(base, full);
  if (relative === '' || relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) {
    throw new PathError('outside', entryPath, 'it would be written outside the target folder', { entry });
  }
  return full;
}

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Checks `at` is a real folder (not a link to one). */
async function checkFolder(at: string, entryPath: string, entry: number | undefined): Promise<void> {
  const stat = await fs.lstat(at);
  if (stat.isSymbolicLink())
    throw new PathError('symlink', entryPath, 'a folder on its way is a symbolic link', { entry });
  if (!stat.isDirectory())
    throw new PathError('not-a-folder', entryPath, 'something on its way is not a folder', { entry });
}

/**
 * Makes the folders above `entryPath` in `realTarget` (a real path: no links in it), one level at a
 * time, refusing any that is a link or not a folder. Returns the entry's absolute path.
 */
async function makeParents(realTarget: string, entryPath: string, entry: number | undefined): Promise<string> {
  const full = resolveInside(realTarget, entryPath, entry);
  const segments = entryPath.split('/');
  let at = realTarget;
  for (const segment of segments.slice(0, -1)) {
    at = path.join(at, segment);
    try {
      await fs.mkdir(at, { mode: MADE_FOLDER_MODE });
    } catch (error) {
      if (code(error) !== 'EEXIST') throw error;
    }
    await checkFolder(at, entryPath, entry);
  }
  return full;
}

/**
 * Creates the file `entryPath` in `realTarget` for writing: a new file, mode 0644, its parents
 * made and checked.
 * @throws PathError (`exists` if anything is at that name, `symlink`, `not-a-folder`, `outside`).
 */
export async function createFileInside(
  realTarget: string,
  entryPath: string,
  entry?: number,
): Promise<{ path: string; handle: fs.FileHandle }> {
  const full = await makeParents(realTarget, entryPath, entry);
  try {
    return { path: full, handle: await fs.open(full, CREATE_NEW, WRITTEN_FILE_MODE) };
  } catch (error) {
    if (code(error) === 'EEXIST')
      throw new PathError('exists', entryPath, 'something is already there; nothing is overwritten', { entry });
    if (code(error) === 'ELOOP')
      throw new PathError('symlink', entryPath, 'a symbolic link is at that name', { entry });
    throw error;
  }
}

/** Makes the folder `entryPath` in `realTarget` (a folder already there is fine; a link is not). */
export async function createFolderInside(realTarget: string, entryPath: string, entry?: number): Promise<string> {
  const full = await makeParents(realTarget, entryPath, entry);
  try {
    await fs.mkdir(full, { mode: MADE_FOLDER_MODE });
  } catch (error) {
    if (code(error) !== 'EEXIST') throw error;
  }
  await checkFolder(full, entryPath, entry);
  return full;
}

/** A write may take fewer bytes than given (a full disk shows here first): write until all went. */
async function writeAll(handle: fs.FileHandle, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length;) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset);
    offset += bytesWritten;
  }
}

export interface WriteProgress {
  /** The entry being written. */
  readonly entry: CollectionEntry;
  /** Bytes of files written so far, this entry's included. */
  readonly bytes: number;
}

export interface WriteOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: WriteProgress) => void;
}

export interface WriteResult {
  readonly files: number;
  readonly folders: number;
  readonly bytes: number;
}

/**
 * Writes every entry of `collection` under `targetDir` (made if missing), restoring its tree. The
 * whole listing is read and every path checked (rules, collisions, staying inside) before anything
 * is made, so a bad listing writes nothing at all. A file that fails part way (a block missing or
 * bad, an abort) is removed; files finished before it stay.
 * @throws PathError naming the entry; what reading the collection throws.
 */
export async function writeCollection(
  collection: OpenedCollection,
  getBlock: BlockGetter,
  targetDir: string,
  options: WriteOptions = {},
): Promise<WriteResult> {
  const { signal } = options;
  const entries = await collection.list({ signal });
  for (const entry of entries) resolveInside(targetDir, entry.path, entry.index);
  await fs.mkdir(targetDir, { recursive: true });
  const realTarget = await fs.realpath(targetDir);
  let bytes = 0;
  let files = 0;
  let folders = 0;
  for (const entry of entries) {
    if (entry.kind === 'folder') {
      await createFolderInside(realTarget, entry.path, entry.index);
      folders++;
      options.onProgress?.({ entry, bytes });
      continue;
    }
    const file = await collection.openFile(entry, { signal });
    const { path: written, handle } = await createFileInside(realTarget, entry.path, entry.index);
    try {
      for await (const part of readFile(file, getBlock, { signal })) {
        await writeAll(handle, part);
        bytes += part.length;
        options.onProgress?.({ entry, bytes });
      }
      await handle.close();
    } catch (error) {
      // The write's error is the one to report; a failing close adds nothing.
      await handle.close().catch(() => undefined);
      await fs.rm(written, { force: true });
      throw error;
    }
    files++;
  }
  return { files, folders, bytes };
}
