// Bytes already checked against their block id, so that a block is hashed once on its way from the
// wire to the store and the reader, not once per layer. Only verifyBlock and identifyBlock, after
// hashing, make a VerifiedBlock; the mark is kept in a module-private WeakMap keyed by the very Uint8Array, so a
// type cast cannot forge it (every check asks the map, never the type) and it dies with the bytes. A mark names one id: the same bytes offered under another id are hashed.
//
// The mark is a promise about the bytes at the moment they were hashed: code that holds a verified
// block must never write into it (nothing on the receive path does: blocks are read, decrypted into
// fresh buffers, and stored).

import type { CryptoBackend } from './crypto.js';
import { blockIdFromBytes, hashesTo, type BlockId } from './format.js';

declare const verifiedBrand: unique symbol;

/** Bytes that hashed to the id they were verified as (see isVerifiedAs). */
export type VerifiedBlock = Uint8Array & { readonly [verifiedBrand]: true };

const verifiedAs = new WeakMap<Uint8Array, BlockId>();

/** Whether `bytes` are marked as hashing to `id` (by verifyBlock or identifyBlock). */
export function isVerifiedAs(bytes: Uint8Array, id: BlockId): bytes is VerifiedBlock {
  return verifiedAs.get(bytes) === id;
}

/**
 * `bytes` as a VerifiedBlock if they hash to `id` (hashed only if not already marked so), else
 * undefined.
 */
export async function verifyBlock(
  bytes: Uint8Array,
  id: BlockId,
  backend: CryptoBackend,
): Promise<VerifiedBlock | undefined> {
  if (isVerifiedAs(bytes, id)) return bytes;
  if (!(await hashesTo(bytes, id, backend))) return undefined;
  verifiedAs.set(bytes, id);
  return bytes as VerifiedBlock;
}

/** Hashes `bytes` and returns the id they are the block of, with the bytes marked as verified for it. */
export async function identifyBlock(
  bytes: Uint8Array,
  backend: CryptoBackend,
): Promise<{ id: BlockId; bytes: VerifiedBlock }> {
  const id = blockIdFromBytes(await backend.sha256(bytes));
  verifiedAs.set(bytes, id);
  return { id, bytes: bytes as VerifiedBlock };
}
