// Builds the HTTP response for a file on the file route: for a file held whole, blocks are read where
// the page's block store placed them (an OPFS segment or IndexedDB, through readPlacedBlock, with no
// page needed), verified and decrypted as the body is pulled, never gathered in memory; for a file
// not (yet) held whole, the body comes from `fromPeer` (the tab that runs the peer fetches the range's
// blocks first, then reads ahead). Used by the service worker for
// /mycel/file/<root>/<name> (view in page, download, offline) with single-range support (206) so
// audio and video can seek. What a file may be served as, and the headers every answer carries,
// come from src/content/presentation.ts. The tables are read through src/store/idb.browser.ts.

import { parseLink } from '../../src/content/share-link.js';
import {
  openManifest,
  readFile,
  toReadableStream,
  type BlockGetter,
  type OpenedManifest,
} from '../../src/content/open.js';
import { collectionResponse } from './collection-response.js';
import { BlockMissingError, MycelError, UnavailableError } from '../../src/errors.js';
import { IdbLibrary, type MycelDB } from '../../src/store/idb.browser.js';
import { readPlacedBlock } from '../../src/store/opfs-read.browser.js';
import { isBlockId } from '../../src/content/format.js';
import { safeFileName } from '../../src/content/names.js';
import { FILE_ROUTE, FILE_SECURITY_HEADERS, presentationFor } from '../../src/content/presentation.js';

export { FILE_ROUTE };

/** The in-app URL of a file: its root, and its name for a nice download file name. */
export function fileUrl(root: string, name: string, download = false): string {
  return `${FILE_ROUTE}${root}/${encodeURIComponent(name || 'file')}${download ? '?download=1' : ''}`;
}

export interface Range {
  start: number;
  /** Exclusive. */
  end: number;
}

/**
 * Parses a Range header for a body of `size` bytes (RFC 9110 §14.2). Returns undefined to serve the
 * whole body (no header, another unit, several ranges), or 'unsatisfiable'.
 */
export function parseRange(header: string | null, size: number): Range | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return undefined;
  const [, from, to] = match as unknown as [string, string, string];
  if (from === '' && to === '') return undefined;
  if (from === '') {
    const suffix = Number(to);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size };
  }
  const start = Number(from);
  const last = to === '' ? size - 1 : Math.min(Number(to), size - 1);
  if (start >= size || last < start) return 'unsatisfiable';
  return { start, end: last + 1 };
}

function contentDisposition(declaredName: string, inline: boolean): string {
  const name = safeFileName(declaredName);
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `${inline ? 'inline' : 'attachment'}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/** An answer on the file route that is not the file (not held, damaged, failed): our own words. */
export function fileErrorResponse(status: number, body: string): Response {
  return new Response(body, {
    status,
    headers: { ...FILE_SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' },
  });
}

/**
 * A getter over the raw blocks where the page's store placed them (an OPFS segment or IndexedDB),
 * read with no page open; reads are verified by readFile itself.
 */
export function idbBlockGetter(db: MycelDB): BlockGetter {
  return async (id) => {
    const bytes = await readPlacedBlock(db, id);
    if (!bytes) throw new BlockMissingError(id, 'not held on this device');
    return bytes;
  };
}

/** A body for [start, end) of a file not held whole, streamed as it arrives. */
export type PeerBody = (root: string, start: number, end: number) => Promise<ReadableStream<Uint8Array>>;

export async function fileResponse(db: MycelDB, request: Request, fromPeer?: PeerBody): Promise<Response> {
  const url = new URL(request.url);
  const [root] = url.pathname.slice(FILE_ROUTE.length).split('/');
  if (!root || !isBlockId(root)) return fileErrorResponse(404, 'not a file address');
  const entry = await new IdbLibrary(db).get(root);
  if (!entry) return fileErrorResponse(404, 'this file is not on this device');
  const getBlock = idbBlockGetter(db);
  if (entry.kind === 'collection') return collectionResponse(db, request, entry);
  let opened;
  try {
    opened = await openManifest(root, parseLink(entry.link).key, getBlock);
  } catch (error) {
    if (error instanceof BlockMissingError) return fileErrorResponse(404, 'this file is not on this device');
    if (error instanceof MycelError) return fileErrorResponse(500, error.message);
    throw error;
  }
  // Blocks not here yet come from the tab that runs the peer, as they are fetched.
  const stream = entry.complete || !fromPeer ? undefined : (start: number, end: number) => fromPeer(root, start, end);
  return openedFileResponse(opened, getBlock, request, stream);
}

/**
 * The response for a file already opened (a file of its own, or an entry of a collection): read from
 * `getBlock`, or, given `stream`, from the peer as its blocks arrive.
 */
export async function openedFileResponse(
  opened: OpenedManifest,
  getBlock: BlockGetter,
  request: Request,
  stream?: (start: number, end: number) => Promise<ReadableStream<Uint8Array>>,
): Promise<Response> {
  const url = new URL(request.url);
  const { size, mediaType, name } = opened.manifest;
  // The declared type is a claim: only the policy's allow list is ever shown inline.
  const shown = presentationFor(mediaType);
  const inline = shown.viewer !== undefined && !url.searchParams.has('download');
  const headers = new Headers({
    ...FILE_SECURITY_HEADERS,
    'content-type': shown.contentType,
    'accept-ranges': 'bytes',
    'content-disposition': contentDisposition(name, inline),
  });
  const range = parseRange(request.headers.get('range'), size);
  if (range === 'unsatisfiable') {
    headers.set('content-range', `bytes */${size}`);
    return new Response(null, { status: 416, headers });
  }
  const { start, end } = range ?? { start: 0, end: size };
  headers.set('content-length', String(end - start));
  if (range) headers.set('content-range', `bytes ${start}-${end - 1}/${size}`);
  const status = range ? 206 : 200;
  if (request.method === 'HEAD') return new Response(null, { status, headers });
  // A range is read as it is fetched, so a player can start (and seek) before the file is here.
  if (!stream) {
    return new Response(toReadableStream(readFile(opened, getBlock, range ? { start, end } : {})), { status, headers });
  }
  try {
    return new Response(await stream(start, end), { status, headers });
  } catch (error) {
    if (error instanceof UnavailableError) return fileErrorResponse(503, error.message);
    throw error;
  }
}
