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

/**
 * A block's bytes as stored, wherever they are (an OPFS segment or the `blocks` table), without the
 * store's bookkeeping and unverified: for a reader beside the page that owns the store (the service
 * worker, another tab), which must verify every block itself. Reads the segment through getFile() +
 * slice(), which works while the owner's worker holds the file open. Undefined if not held.
 */
export async function readPlacedBlock(db: MycelDB, id: BlockId): Promise<Uint8Array | undefined> {
  const meta = await db.get('blockMeta', id);
  if (meta?.seg === undefined || meta.off === undefined) return db.get('blocks', id);
  for (let attempt = 1; ; attempt++) {
    // A kept File may be older than the block (its segment grew since): then it is taken again.
    const fresh = attempt > 1;
    try {
      const file = await segmentFile(db.name, meta.seg, fresh);
      if (meta.off + meta.size > file.size) {
        if (!fresh) continue;
        return undefined;
      }
      return new Uint8Array(await file.slice(meta.off, meta.off + meta.size).arrayBuffer());
    } catch (error) {
      const name = error instanceof DOMException ? error.name : '';
      // NotReadableError: the owner appended to this segment since the File was taken.
      if (name === 'NotReadableError' && attempt < READ_ATTEMPTS) continue;
      // NotFoundError: no segment folder or file (the browser cleared it): the block is missing.
      if (name === 'NotFoundError') {
        if (!fresh) continue;
        return undefined;
      }
      throw new LocalStorageError(`could not read block ${id} from its segment`, error);
    }
  }
}
