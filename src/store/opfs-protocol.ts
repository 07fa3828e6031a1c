// The messages between the page's OPFS block store (opfs.browser.ts) and the dedicated Worker that
// appends block bytes to segment files (opfs-log.worker.browser.ts), and the sizes both sides share.
// Types only, plus the constants: nothing here touches a browser API.

/** Most bytes one segment file holds: big enough for few files, small enough that a dead one goes soon. */
export const SEGMENT_BYTES = 64 * 1024 * 1024;
/** The worker flushes after this many appended blocks (one IndexedDB transaction places them). */
export const FLUSH_BLOCKS = 8;
/** …or this long after the first block it has not flushed yet, whichever comes first. */
export const FLUSH_MS = 20;
/**
 * When every block it has not flushed yet came from a lazy put (a fetch storing what it already
 * handed its reader), it waits this long or for FLUSH_LAZY_BLOCKS. A download arrives a block at a
 * time: at FLUSH_MS each flush (a disk sync and an index transaction) placed one or two blocks, and
 * those flushes cost the receiving browser about 8 % of its CPU per MB (test/bench/ab-browsers.ts).
 */
export const FLUSH_LAZY_MS = 150;
export const FLUSH_LAZY_BLOCKS = 16;
/**
 * Appends travel in buffers of this size (a default chunk and its tag), which the worker hands back
 * for the next block: the page keeps a few and allocates no new buffer per block. Without them each
 * block's copy was garbage in the worker, and a worker that runs little JavaScript collects late:
 * the page's renderer held 500–640 MB during a 1 GiB add or download (280–300 with IndexedDB).
 */
export const SPARE_BYTES = 256 * 1024 + 16;
/** Most spare buffers the page keeps (more than the appends in flight at once). */
export const MAX_SPARES = 32;
/** The OPFS folder that holds the segment files of one database. */
export function segmentFolder(dbName: string): string {
  return `mycel-blocks-${dbName}`;
}
export function segmentFileName(seg: number): string {
  return `seg-${seg}`;
}
/** The segment number a file name stands for, or undefined for any other file. */
export function segmentOfFileName(name: string): number | undefined {
  const match = /^seg-(\d{1,9})$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** Where a block's bytes are: a segment file and a byte range in it. */
export interface Placement {
  readonly id: string;
  readonly seg: number;
  readonly off: number;
  readonly size: number;
}

export type ToWorker =
  /**
   * `next` is the first segment number no index entry uses; `segmentBytes` caps a segment
   * (SEGMENT_BYTES but in tests).
   */
  | { readonly type: 'open'; readonly folder: string; readonly next: number; readonly segmentBytes: number }
  /** The block is the first `size` bytes of `bytes`; `lazy`: from a lazy put (FLUSH_LAZY_MS). */
  | {
      readonly type: 'append';
      readonly id: string;
      readonly bytes: ArrayBuffer;
      readonly size: number;
      readonly lazy: boolean;
    }
  /** Reads through the worker's own handles: a third of the CPU of getFile() + slice() per MB. */
  | { readonly type: 'read'; readonly req: number; readonly seg: number; readonly off: number; readonly size: number }
  /**
   * Copies these blocks of segment `seg` (not the one appends go to) to the end of the log and
   * flushes them; answered by 'compacted'. The copies are unnamed until the page's index says so.
   */
  | {
      readonly type: 'compact';
      readonly req: number;
      readonly seg: number;
      readonly blocks: readonly { readonly id: string; readonly off: number; readonly size: number }[];
    }
  /** Deletes a segment file (every block in it is dead); answered by 'dropped'. */
  | { readonly type: 'drop'; readonly req: number; readonly seg: number }
  | { readonly type: 'close' };

export type FromWorker =
  | { readonly type: 'opened'; readonly segments: readonly { seg: number; size: number }[] }
  | { readonly type: 'open-failed'; readonly error: WorkerError }
  /** Flushed: these blocks' bytes are on disk where it says. */
  | { readonly type: 'placed'; readonly blocks: readonly Placement[] }
  | { readonly type: 'failed'; readonly ids: readonly string[]; readonly error: WorkerError }
  /** An append's buffer of SPARE_BYTES, written (or failed) and handed back for another block. */
  | { readonly type: 'spare'; readonly buffer: ArrayBuffer }
  /** The bytes read, or undefined if the segment or the range is not there. */
  | {
      readonly type: 'read';
      readonly req: number;
      readonly bytes: ArrayBuffer | undefined;
      readonly error?: WorkerError;
    }
  | { readonly type: 'dropped'; readonly req: number }
  /**
   * Where the copies of a 'compact' are, flushed. A block missing here was not copied (its bytes were
   * not readable); with `error` the copy failed and none is listed.
   */
  | {
      readonly type: 'compacted';
      readonly req: number;
      readonly moved: readonly Placement[];
      readonly error?: WorkerError;
    }
  | { readonly type: 'closed' };

/** A DOMException's name and message, as the worker saw it (errors do not cross postMessage typed). */
export interface WorkerError {
  readonly name: string;
  readonly message: string;
}
