// Sealing files into an in-memory map of blocks and reading them back through getters that record
// what was asked for: the content tests' common setup.

import { type BlockGetter, type BlockRequest } from '../../src/content/block-list.js';
import { type BlockId } from '../../src/content/format.js';
import { sealFile, type SealOptions, type SealedBlock } from '../../src/content/seal.js';
import { BlockMissingError } from '../../src/errors.js';
import { inPieces } from './data.js';

export async function sealToMap(bytes: Uint8Array, options: Partial<SealOptions> = {}) {
  const blocks = new Map<BlockId, Uint8Array>();
  const order: SealedBlock[] = [];
  const file = await sealFile(
    inPieces(bytes),
    (block) => {
      blocks.set(block.id, block.bytes);
      order.push(block);
    },
    { name: 'test.bin', mediaType: 'application/x-test', ...options },
  );
  return { file, blocks, order };
}

/** A getter over `blocks`; a missing block is BlockMissingError, as from any source. */
export function getterFrom(blocks: Map<BlockId, Uint8Array>): BlockGetter {
  return async (id) => {
    const bytes = blocks.get(id);
    if (!bytes) throw new BlockMissingError(id);
    return bytes;
  };
}

/** A getter over `blocks` that records every request, and how many were in flight at most. */
export function recordingGetter(blocks: Map<BlockId, Uint8Array>, options: { slow?: boolean } = {}) {
  const requests: { id: BlockId; request: BlockRequest }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const get: BlockGetter = async (id, request) => {
    requests.push({ id, request });
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      // A source that answers later, so concurrent requests overlap.
      if (options.slow) await new Promise((resolve) => setTimeout(resolve, 1));
      const bytes = blocks.get(id);
      if (!bytes) throw new BlockMissingError(id, 'not in this test map');
      return bytes;
    } finally {
      inFlight--;
    }
  };
  return {
    get,
    requests,
    get maxInFlight() {
      return maxInFlight;
    },
  };
}

export async function collectIds(source: AsyncIterable<BlockId>): Promise<BlockId[]> {
  const ids: BlockId[] = [];
  for await (const id of source) ids.push(id);
  return ids;
}
