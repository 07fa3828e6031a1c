// The content format's constants and the small pieces every encoder and decoder share: key
// derivation, the nonce and associated data of each sealed object, block ids, and last-chunk padding.
//
// Format 2. A file key is 32 random bytes, fresh for every file. HKDF-SHA256 derives from it one key
// per kind of sealed object, and a commitment:
//   - the data key seals chunk i with nonce (Data, i) and AAD (version, Data, i, last);
//   - the metadata key seals the root's metadata (name, size, media type, chunk size, commitment)
//     with nonce (Metadata, 0) and AAD (version, Metadata, 0, last = 1, SHA-256 of the root's
//     cleartext header and refs), so sealed metadata cannot be moved onto other refs;
//   - a 32-byte commitment written inside the metadata, so a root opens under one key only
//     (AES-GCM alone is not key-committing).
// Every nonce starts with its kind byte and every kind has its own key: no (key, nonce) pair is ever
// used twice in a file, whatever its size or layout (format 1 sealed the root and index block 0
// under one key with nonce 0, and index block 0's plaintext was public: see issue 7).
//
// A block id is the SHA-256 of the block's bytes, so anyone can verify a block without the key, and
// the root's list of ids pins every byte of the file.
//
// What a holder without the key learns (manifest.ts has the byte layout): a file's list of block
// ids and their roles (root, index, data in order), hence its block count; the size of each block,
// hence the chunk size and the file's size to within the last chunk's padding (1/8). That is what
// holding and serving the blocks showed already, and it is what a seed needs to hold a whole file.
// The name, media type and exact size stay sealed; the metadata is always the same length.

import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesEqual, fromHex, toHex, writeU64 } from './bytes.js';
import {
  AES_KEY_BYTES,
  GCM_NONCE_BYTES,
  GCM_TAG_BYTES,
  sha256Sync,
  type AeadKey,
  type CryptoBackend,
} from './crypto.js';

export const FORMAT_VERSION = 2;
export const KiB = 1024;
export const MiB = 1024 * KiB;

/**
 * 256 KiB was the fastest chunk size in Node and Chromium: WebCrypto SHA-256 peaks there, and
 * AES-GCM gains little past it (`npm run bench -- pipeline` measures it).
 */
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

/** What a block of a file is: handed to sinks with each sealed block and to getters with each request. */
export const enum BlockKind {
  Data = 0,
  ManifestRoot = 1,
  ManifestIndex = 2,
}

/**
 * The kinds of sealed object: the first byte of every nonce and the second of every AAD. Each kind
 * has its own key too, so the two guarantees stand apart. Never 0, so no format-2 nonce equals a
 * format-1 one (those began with four zero bytes).
 */
export const enum SealKind {
  Data = 1,
  Metadata = 2,
  /** A collection root's sealed head (collection-manifest.ts). */
  CollectionHead = 3,
  /** A collection's sealed listing blocks. */
  CollectionListing = 4,
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

/** The ids packed in `packed` (32 bytes each, as roots, index blocks and `have` frames hold them), in order. */
export function* unpackIds(packed: Uint8Array): Generator<BlockId> {
  for (let o = 0; o < packed.length; o += BLOCK_ID_BYTES) yield toHex(packed.subarray(o, o + BLOCK_ID_BYTES));
}

/** Whether `bytes` hash to `id`: what a block must do before it is stored, served or read. */
export async function hashesTo(bytes: Uint8Array, id: BlockId, backend: CryptoBackend): Promise<boolean> {
  return bytesEqual(await backend.sha256(bytes), blockIdToBytes(id));
}

/** hashesTo, synchronously (noble): for one small block, where an async WebCrypto call costs more. */
export function hashesToSync(bytes: Uint8Array, id: BlockId): boolean {
  return bytesEqual(sha256Sync(bytes), blockIdToBytes(id));
}

export interface FileKeys {
  readonly data: AeadKey;
  readonly metadata: AeadKey;
  /** Written into the metadata; metadata whose commitment differs was not made with this key. */
  readonly commitment: Uint8Array;
}

const encoder = new TextEncoder();
const INFO_DATA = encoder.encode('mycel/v2 data key');
const INFO_METADATA = encoder.encode('mycel/v2 metadata key');
const INFO_COMMIT = encoder.encode('mycel/v2 key commitment');
export async function deriveFileKeys(fileKey: Uint8Array, backend: CryptoBackend): Promise<FileKeys> {
  if (fileKey.length !== FILE_KEY_BYTES) throw new RangeError('a file key is 32 bytes');
  const dataRaw = hkdf(sha256, fileKey, undefined, INFO_DATA, AES_KEY_BYTES);
  const metadataRaw = hkdf(sha256, fileKey, undefined, INFO_METADATA, AES_KEY_BYTES);
  const commitment = hkdf(sha256, fileKey, undefined, INFO_COMMIT, 32);
  const [data, metadata] = await Promise.all([backend.importKey(dataRaw), backend.importKey(metadataRaw)]);
  dataRaw.fill(0);
  metadataRaw.fill(0);
  return { data, metadata, commitment };
}

/** Nonce of sealed object `index` of `kind`: the kind byte, 3 zero bytes, the index as u64 big-endian. */
export function nonceFor(kind: SealKind, index: number): Uint8Array {
  const nonce = new Uint8Array(GCM_NONCE_BYTES);
  nonce[0] = kind;
  writeU64(new DataView(nonce.buffer), 4, index);
  return nonce;
}

const NO_BINDING = new Uint8Array(0);

/** Associated data: version, kind, index (u64 BE), last flag, then `binding` (the metadata's header digest). */
export function aadFor(kind: SealKind, index: number, last: boolean, binding: Uint8Array = NO_BINDING): Uint8Array {
  const aad = new Uint8Array(11 + binding.length);
  const view = new DataView(aad.buffer);
  aad[0] = FORMAT_VERSION;
  aad[1] = kind;
  writeU64(view, 2, index);
  aad[10] = last ? 1 : 0;
  aad.set(binding, 11);
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
