// The content format's constants and the small pieces every encoder and decoder share: key
// derivation, the nonce and associated data of each block, block ids, and last-chunk padding.
//
// A file key is 32 random bytes, fresh for every file (never reused: AES-GCM nonces come from the
// chunk index, which is safe only under a key used once). HKDF-SHA256 derives from it
//   - the data key, which seals chunk i with nonce = i and AAD = (kind, i, last),
//   - the manifest key, which seals the manifest's root and index blocks the same way,
//   - a 32-byte commitment written inside the manifest, so a manifest opens under one key only
//     (AES-GCM alone is not key-committing).
// A block is ciphertext || tag; its id is the SHA-256 of those bytes, so anyone can verify a block
// without the key, and the manifest's list of ids pins every byte of the file.

import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, toHex, writeU64 } from './bytes.js';
import { AES_KEY_BYTES, GCM_NONCE_BYTES, GCM_TAG_BYTES, type AeadKey, type CryptoBackend } from './crypto.js';

export const FORMAT_VERSION = 1;
export const KiB = 1024;
export const MiB = 1024 * KiB;

/** 256 KiB was the fastest chunk size in Node and Chromium (see ../shared/notes/crypto-speed.md). */
export const DEFAULT_CHUNK_SIZE = 256 * KiB;
/** Smallest chunk size a manifest may name (small sizes exist for tests). */
export const MIN_CHUNK_SIZE = 1 * KiB;
export const MAX_CHUNK_SIZE = 1 * MiB;
/** Largest block any peer or store accepts: a full chunk plus its tag. */
export const MAX_BLOCK_BYTES = MAX_CHUNK_SIZE + GCM_TAG_BYTES;
/** Largest file size a manifest may carry (2^53 - 1: a safe JS integer). */
export const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER;

export const FILE_KEY_BYTES = AES_KEY_BYTES;
export const BLOCK_ID_BYTES = 32;

/** What a sealed block holds; bound into its associated data so blocks cannot change role. */
export const enum BlockKind {
  Data = 0,
  ManifestRoot = 1,
  ManifestIndex = 2,
}

/** A block id: 64 lowercase hex characters, the SHA-256 of the block's bytes. */
export type BlockId = string;

const BLOCK_ID_RE = /^[0-9a-f]{64}$/;
export function isBlockId(value: unknown): value is BlockId {
  return typeof value === 'string' && BLOCK_ID_RE.test(value);
}

export function blockIdFromBytes(bytes: Uint8Array): BlockId {
  if (bytes.length !== BLOCK_ID_BYTES) throw new RangeError('a block id is 32 bytes');
  return toHex(bytes);
}

export function blockIdToBytes(id: BlockId): Uint8Array {
  const bytes = isBlockId(id) ? fromHex(id) : undefined;
  if (!bytes) throw new RangeError(`not a block id: ${String(id).slice(0, 80)}`);
  return bytes;
}

export interface FileKeys {
  readonly data: AeadKey;
  readonly manifest: AeadKey;
  /** Written into the manifest; a manifest whose commitment differs was not made with this key. */
  readonly commitment: Uint8Array;
}

const encoder = new TextEncoder();
const INFO_DATA = encoder.encode('mycel/v1 data key');
const INFO_MANIFEST = encoder.encode('mycel/v1 manifest key');
const INFO_COMMIT = encoder.encode('mycel/v1 key commitment');

export async function deriveFileKeys(fileKey: Uint8Array, backend: CryptoBackend): Promise<FileKeys> {
  if (fileKey.length !== FILE_KEY_BYTES) throw new RangeError('a file key is 32 bytes');
  const dataRaw = hkdf(sha256, fileKey, undefined, INFO_DATA, AES_KEY_BYTES);
  const manifestRaw = hkdf(sha256, fileKey, undefined, INFO_MANIFEST, AES_KEY_BYTES);
  const commitment = hkdf(sha256, fileKey, undefined, INFO_COMMIT, 32);
  const [data, manifest] = await Promise.all([backend.importKey(dataRaw), backend.importKey(manifestRaw)]);
  dataRaw.fill(0);
  manifestRaw.fill(0);
  return { data, manifest, commitment };
}

/** Nonce for the block at `index`: 4 zero bytes then the index as u64 big-endian. */
export function nonceFor(index: number): Uint8Array {
  const nonce = new Uint8Array(GCM_NONCE_BYTES);
  writeU64(new DataView(nonce.buffer), 4, index);
  return nonce;
}

/** Associated data: version, kind, index (u64 BE), last flag. */
export function aadFor(kind: BlockKind, index: number, last: boolean): Uint8Array {
  const aad = new Uint8Array(11);
  const view = new DataView(aad.buffer);
  aad[0] = FORMAT_VERSION;
  aad[1] = kind;
  writeU64(view, 2, index);
  aad[10] = last ? 1 : 0;
  return aad;
}

/** How many chunks a file of `size` bytes has: at least one, so an empty file still has a last chunk. */
export function chunkCount(size: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(size / chunkSize));
}

/** Plaintext length of chunk `index` of a file of `size` bytes. */
export function chunkLength(size: number, chunkSize: number, index: number): number {
  const count = chunkCount(size, chunkSize);
  return index < count - 1 ? chunkSize : size - (count - 1) * chunkSize;
}

/**
 * Length the last chunk is padded to before sealing, so a block's size tells an observer the file's
 * size only to within 1/8 (and nothing below 512 bytes). Zero padding, checked on open.
 */
export function paddedLength(length: number, chunkSize: number): number {
  if (length <= 512) return Math.min(512, chunkSize);
  const step = 2 ** (Math.floor(Math.log2(length)) - 3);
  return Math.min(chunkSize, Math.ceil(length / step) * step);
}
