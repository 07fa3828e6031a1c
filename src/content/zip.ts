// "Download all": a collection as one zip, streamed as it is made. client-zip writes the archive
// (stored, not compressed: the entries are mostly already compressed media, and a stored zip's
// length is known in advance); this module feeds it one entry at a time, each file read from its
// blocks only when the zip gets to it, so memory holds a few chunks and the central directory
// (under 100 bytes an entry plus its path), never the files.
//
// Isomorphic: client-zip needs only web streams, Response, Blob and File, which Node 20, browsers
// and workers all have. It writes UTF-8 names with the language encoding flag, an empty folder as a
// "name/" entry, and Zip64 fields where a size or offset reaches 4 GiB. Entry paths come from an
// opened collection, so they already passed the path rules (paths.ts); the whole listing is read
// and checked before the first byte of the zip, so a bad entry fails the download before it starts.

import { makeZip, predictLength } from 'client-zip';
import type { BlockGetter } from './block-list.js';
import type { CollectionEntry, OpenedCollection } from './collection-open.js';
import { readFile } from './open.js';

/** Permissions recorded for files: readable, never executable, whatever the sender had. */
export const ZIP_FILE_MODE = 0o644;
export const ZIP_FOLDER_MODE = 0o755;

export interface ZipOptions {
  readonly signal?: AbortSignal;
  /** The modification time written for every entry; default: now. */
  readonly modified?: Date;
  /** The listing, if already read (list()); read and checked here otherwise. */
  readonly entries?: readonly CollectionEntry[];
}

/**
 * The zip's exact length for these entries, before any byte is made (for a Content-Length or a
 * progress bar). Sizes are the listing's; each file's own manifest is checked against them when
 * the zip reaches it.
 */
export function zipLength(entries: readonly CollectionEntry[]): number {
  return Number(
    predictLength(entries.map((e) => (e.kind === 'folder' ? { name: e.path } : { name: e.path, size: e.size }))),
  );
}

/**
 * The collection as a zip stream: folders and files in listing order, each file opened (and
 * checked against its entry) and read only when the zip reaches it. An error from any block ends
 * the stream with that error: a zip that ends in an error is not a zip, and callers must say so.
 * Cancelling the stream stops every fetch it started.
 */
export function zipCollection(
  collection: OpenedCollection,
  getBlock: BlockGetter,
  options: ZipOptions = {},
): ReadableStream<Uint8Array> {
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const lastModified = options.modified ?? new Date();
  async function* inputs() {
    const entries = options.entries ?? (await collection.list({ signal }));
    for (const entry of entries) {
      if (entry.kind === 'folder') {
        yield { name: entry.path, lastModified, mode: ZIP_FOLDER_MODE };
        continue;
      }
      const file = await collection.openFile(entry, { signal });
      yield {
        name: entry.path,
        lastModified,
        mode: ZIP_FILE_MODE,
        size: entry.size,
        input: readFile(file, getBlock, { signal }),
      };
    }
  }
  const zip = makeZip(inputs(), { buffersAreUTF8: true }).getReader();
  // client-zip's own stream answers cancel(reason) by throwing the reason into its generator, so
  // the cancel rejects and a file being read is left to its read-ahead: this one aborts the reads
  // and cancels quietly.
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await zip.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel(reason) {
      stop.abort(reason);
      // The zip stream may already be errored; cancelling it is best effort.
      await zip.cancel(reason).catch(() => undefined);
    },
  });
}
