// The service worker's answers for a collection held on this device, under the file route:
//   /mycel/file/<collection root>/<entry index>/<name>  one entry, as any file is served (Range,
//                                                      inline only for the allowed types)
//   /mycel/file/<collection root>/<name>.zip          every entry as one zip, made as it is sent
// Blocks come from IndexedDB; the page fetches them first. The listing is read and every path
// checked before the first byte of a zip, so a hostile listing fails before a download starts.

import { openCollection, type CollectionEntry } from '../../src/content/collection-open.js';
import { safeFileName } from '../../src/content/names.js';
import { FILE_ROUTE, FILE_SECURITY_HEADERS } from '../../src/content/presentation.js';
import { parseLink } from '../../src/content/share-link.js';
import { zipCollection, zipLength } from '../../src/content/zip.js';
import { BlockMissingError, MycelError } from '../../src/errors.js';
import type { MycelDB } from '../../src/store/idb.browser.js';
import type { LibraryEntry } from '../../src/store/library.js';
import { fileErrorResponse, idbBlockGetter, openedFileResponse } from './file-response.js';

/** The in-app URL of one entry of a collection. */
export function entryUrl(root: string, entry: Pick<CollectionEntry, 'index' | 'path'>, download = false): string {
  const name = entry.path.slice(entry.path.lastIndexOf('/') + 1);
  return `${FILE_ROUTE}${root}/${entry.index}/${encodeURIComponent(name)}${download ? '?download=1' : ''}`;
}

/** The in-app URL of a collection as one zip named `name`.zip. */
export function zipUrl(root: string, name: string): string {
  return `${FILE_ROUTE}${root}/${encodeURIComponent(safeFileName(name))}.zip`;
}

function zipDisposition(name: string): string {
  const safe = safeFileName(name);
  const ascii = safe.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(safe)}`;
}

export async function collectionResponse(db: MycelDB, request: Request, held: LibraryEntry): Promise<Response> {
  const url = new URL(request.url);
  const parts = url.pathname.slice(FILE_ROUTE.length).split('/').slice(1);
  const getBlock = idbBlockGetter(db);
  try {
    const collection = await openCollection(held.root, parseLink(held.link).key, getBlock);
    const entries = await collection.list();
    if (parts.length === 2) {
      const index = Number(parts[0]);
      const entry = Number.isInteger(index) ? entries[index] : undefined;
      if (entry?.kind !== 'file') return fileErrorResponse(404, 'no such file in this collection');
      return openedFileResponse(await collection.openFile(entry), getBlock, request);
    }
    if (parts.length !== 1 || !parts[0]!.endsWith('.zip')) return fileErrorResponse(404, 'not a file address');
    const headers = new Headers({
      ...FILE_SECURITY_HEADERS,
      'content-type': 'application/zip',
      'content-length': String(zipLength(entries)),
      'content-disposition': zipDisposition(decodeURIComponent(parts[0]!)),
    });
    if (request.method === 'HEAD') return new Response(null, { headers });
    return new Response(zipCollection(collection, getBlock, { entries }), { headers });
  } catch (error) {
    if (error instanceof BlockMissingError) return fileErrorResponse(404, 'this collection is not on this device');
    if (error instanceof MycelError) return fileErrorResponse(500, error.message);
    throw error;
  }
}
