// Reading a block where the block store placed it (an OPFS segment or the `blocks` table) from a
// context beside the page that owns the store: the service worker, another tab. Kept apart from
// opfs.browser.ts so those bundles do not carry the block log's worker.

import { LocalStorageError } from '../errors.js';
import type { BlockId } from '../content/format.js';
import type { MycelDB } from './idb.browser.js';
import { segmentFileName, segmentFolder } from './opfs-protocol.js';

/**
 * Tries at reading a segment through getFile() + slice(): a File read fails (NotReadableError) if
 * the worker wrote to its file after getFile(), which happens while that segment takes appends.
 */
export const READ_ATTEMPTS = 3;

/**
 * A block's bytes as stored, wherever they are (an OPFS segment or the `blocks` table), without the
 * store's bookkeeping and unverified: for a reader beside the page that owns the store (the service
 * worker, another tab), which must verify every block itself. Reads the segment through getFile() +
 * slice(), which works while the owner's worker holds the file open. Undefined if not held.
 */
export async function readPlacedBlock(db: MycelDB, id: BlockId): Promise<Uint8Array | undefined> {
  const meta = await db.get('blockMeta', id);
  if (meta?.seg === undefined || meta.off === undefined) return db.get('blocks', id);
  let folder: FileSystemDirectoryHandle;
  try {
    folder = await (await navigator.storage.getDirectory()).getDirectoryHandle(segmentFolder(db.name));
  } catch {
    return undefined; // No segment folder: the browser cleared it; the block is missing.
  }
  for (let attempt = 1; ; attempt++) {
    try {
      const file = await (await folder.getFileHandle(segmentFileName(meta.seg))).getFile();
      if (meta.off + meta.size > file.size) return undefined;
      return new Uint8Array(await file.slice(meta.off, meta.off + meta.size).arrayBuffer());
    } catch (error) {
      const name = error instanceof DOMException ? error.name : '';
      // NotReadableError: the owner appended to this segment between getFile() and the read.
      if (name === 'NotReadableError' && attempt < READ_ATTEMPTS) continue;
      if (name === 'NotFoundError') return undefined;
      throw new LocalStorageError(`could not read block ${id} from its segment`, error);
    }
  }
}
