// Reading a block where the block store placed it (an OPFS segment or the `blocks` table) from a
// context beside the page that owns the store: the service worker, another tab. Kept apart from
// opfs.browser.ts so those bundles do not carry the block log's worker.

import { LocalStorageError } from '../errors.js';
import type { BlockId } from '../content/format.js';
import type { MycelDB } from './idb.browser.js';
import { segmentFileName, segmentFolder } from './opfs-protocol.js';

/**
 * Tries at reading a segment: one with a kept File, then fresh getFile() + slice(). A File read
 * fails (NotReadableError) if the worker wrote to its file after getFile(), which happens while
 * that segment takes appends.
 */
export const READ_ATTEMPTS = 4;

/**
 * Segment Files kept between reads (a file's blocks are read one after another from the same few
 * segments): a File stays readable until its segment takes another append, and is then taken again.
 */
export const CACHED_SEGMENT_FILES = 8;
const files = new Map<string, File>();

/**
 * Reads of a block's index entry: the first, and again after its segment was found gone (the owner
 * compacted it meanwhile). More than two only if it is compacted twice during one read.
 */
export const INDEX_LOOKS = 3;

async function segmentFile(dbName: string, seg: number, fresh: boolean): Promise<File> {
  const key = `${dbName}/${seg}`;
  const kept = fresh ? undefined : files.get(key);
  if (kept) return kept;
  const folder = await (await navigator.storage.getDirectory()).getDirectoryHandle(segmentFolder(dbName));
  const file = await (await folder.getFileHandle(segmentFileName(seg))).getFile();
  files.delete(key);
  files.set(key, file);
  // Oldest first in a Map: the first key is the one least recently taken.
  if (files.size > CACHED_SEGMENT_FILES) files.delete(files.keys().next().value!);
  return file;
}

/** What one read at a place found: the bytes, or that the place holds none (gone or too short). */
type AtPlace = Uint8Array | 'gone';

async function readAt(dbName: string, id: BlockId, seg: number, off: number, size: number): Promise<AtPlace> {
  for (let attempt = 1; ; attempt++) {
    // A kept File may be older than the block (its segment grew since): then it is taken again.
    const fresh = attempt > 1;
    try {
      const file = await segmentFile(dbName, seg, fresh);
      if (off + size > file.size) {
        if (!fresh) continue;
        return 'gone';
      }
      return new Uint8Array(await file.slice(off, off + size).arrayBuffer());
    } catch (error) {
      const name = error instanceof DOMException ? error.name : '';
      // NotReadableError: the owner appended to this segment since the File was taken (or deleted
      // it: a kept File of a compacted segment).
      if (name === 'NotReadableError' && attempt < READ_ATTEMPTS) continue;
      // NotFoundError: no segment folder or file (compacted away, or the browser cleared it).
      if (name === 'NotFoundError') {
        if (!fresh) continue;
        return 'gone';
      }
      throw new LocalStorageError(`could not read block ${id} from its segment`, error);
    }
  }
}

/**
 * A block's bytes as stored, wherever they are (an OPFS segment or the `blocks` table), without the
 * store's bookkeeping and unverified: for a reader beside the page that owns the store (the service
 * worker, another tab), which must verify every block itself. Reads the segment through getFile() +
 * slice(), which works while the owner's worker holds the file open. Undefined if not held.
 *
 * The owner may compact a segment between this reader's index read and its file read: the block's
 * entry then names a new place and the old segment file is gone. Its bytes never change while it
 * is there (appends only go past its end; segment numbers are not reused), so a read at an old place
 * is the right bytes or nothing; on nothing the index is read again, and a changed place is read.
 */
export async function readPlacedBlock(db: MycelDB, id: BlockId): Promise<Uint8Array | undefined> {
  let meta = await db.get('blockMeta', id);
  for (let look = 1; ; look++) {
    if (meta?.seg === undefined || meta.off === undefined) return db.get('blocks', id);
    const { seg, off, size } = meta;
    const found = await readAt(db.name, id, seg, off, size);
    if (found !== 'gone') return found;
    if (look >= INDEX_LOOKS) return undefined;
    meta = await db.get('blockMeta', id);
    // The same place (or none): the block is missing, not moved.
    if (meta?.seg === seg && meta.off === off) return undefined;
  }
}
