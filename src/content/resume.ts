// Checking the part of a file a download already wrote: each whole chunk is sealed again with the
// file's data key for its index (sealing is deterministic, seal.ts) and must give the block id the
// file lists for that index. Bytes from a crash, garbage, or another file under the same name stop
// the check at the first chunk that differs; nothing after it is trusted.

import { mapInOrder, range } from '../in-order.js';
import { throwIfAborted } from '../errors.js';
import type { OpenedManifest } from './open.js';
import { sealChunk, SEAL_CONCURRENCY } from './seal.js';

/**
 * Reads `count` bytes at `offset` of what was written, or fewer if it ends sooner.
 */
export type PartialReader = (offset: number, count: number) => Promise<Uint8Array>;

/**
 * How many whole chunks at the start of `written` (`writtenBytes` long) are the file's own, in
 * order. The last chunk never counts (it is always fetched again: it carries the file's end and
 * padding), so the answer is below the file's block count.
 */
export async function verifiedPrefix(
  file: OpenedManifest,
  written: PartialReader,
  writtenBytes: number,
  signal?: AbortSignal,
): Promise<number> {
  const { chunkSize, blockCount } = file.manifest;
  const candidates = Math.max(0, Math.min(blockCount - 1, Math.floor(writtenBytes / chunkSize)));
  const check = async (index: number): Promise<boolean> => {
    const plain = await written(index * chunkSize, chunkSize);
    if (plain.length !== chunkSize) return false;
    const [sealed, id] = await Promise.all([
      sealChunk(file.keys.data, file.backend, index, false, plain),
      file.dataId(index, signal),
    ]);
    return sealed.id === id;
  };
  let good = 0;
  for await (const ok of mapInOrder(range(0, candidates), SEAL_CONCURRENCY, check, signal)) {
    throwIfAborted(signal);
    if (!ok) break;
    good++;
  }
  return good;
}
