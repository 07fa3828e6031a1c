// The bytes of a collection in format 2: several files (and empty folders) under one root and one
// link. Each file in it is an ordinary format-2 file, sealed as today under its own fresh key; the
// collection adds a sealed listing of the entries and a root that names every block of every entry.
//
// The root is a format-2 root block, byte for byte the shape of a file's (manifest.ts): the same
// header, refs (inline, or in index blocks past maxInlineIds) and a sealed part of exactly
// SEALED_METADATA_BYTES. Only the sealed part differs: a file's opens under its metadata key, a
// collection's under its head key (both derived from the link's key), so which one a link names is
// learned by opening it, never from the clear. Its refs, in order:
//   refs 0 .. L-1   the listing blocks (sealed, below)
//   then            for each file entry in listing order, every block of that file in the order a
//                   keyless listing gives them (data, index blocks, its root last)
// So a holder without the key lists, fetches, holds and serves a whole collection exactly as it
// does a file (listFileBlockIds, a seed's whole-file commit, renewals, audits), with no change.
//
// Head (the root's sealed part; plaintext METADATA_BYTES long, like a file's metadata, integers
// big-endian):
//   commitment [32] | entryCount u32 | fileCount u32 | totalSize u64 | listingBlockBytes u32 |
//   listingBlocks u32 (= L) | zeros
// sealed under the head key with nonce (CollectionHead, 0), its AAD binding the SHA-256 of the
// root's cleartext header and refs, as a file's metadata is bound.
//
// Listing block j (0 .. L-1), sealed under the listing key with nonce (CollectionListing, j) and
// AAD (version, CollectionListing, j, last): plaintext
//   recordCount u32 | records | zeros
// exactly listingBlockBytes long, but the last, padded like a file's last chunk (paddedLength), so
// its size tells only the listing's length to within 1/8. Records never straddle blocks, so each
// block decodes alone. A record:
//   folder: kind u8 = 2 | pathLength u16 | path
//   file:   kind u8 = 1 | pathLength u16 | path | size u64 | rootPosition u32 | key [32] |
//           mediaTypeLength u8 | mediaType
// `rootPosition` is the ref that holds the file's root id: the file's blocks are the refs after the
// previous file's root up to and including it. The id itself is not repeated in the sealed part,
// so nothing sealed is also public (see the nonce property test).
//
// Binary, not JSON, for the reasons format 2 is: every length is bounded and checked against the
// bytes present before use; no parser ambiguity (duplicate keys, numbers past 2^53, escapes making
// lone surrogates, nesting); the same discipline as manifest.ts; about half the size. Versioning is
// the format byte in the root.
//
// Keys: HKDF-SHA256 from the 32-byte collection key with their own labels (collection head key,
// collection listing key, collection commitment), so no key of a collection is a key of any file;
// every entry has its own fresh key besides. Each key is used with one nonce kind only, and each
// (kind, index) once: no (key, nonce) pair repeats.

import { BadInputError, ManifestError } from '../errors.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesEqual, readU64, writeU64 } from './bytes.js';
import { AES_KEY_BYTES, type AeadKey, type CryptoBackend } from './crypto.js';
import {
  FILE_KEY_BYTES,
  KiB,
  MAX_CHUNK_SIZE,
  MAX_FILE_SIZE,
  SealKind,
  aadFor,
  nonceFor,
  paddedLength,
  type BlockId,
} from './format.js';
import { MAX_BLOCK_COUNT, MAX_MEDIA_TYPE_BYTES, METADATA_BYTES } from './manifest.js';
import { CONTROLS } from './names.js';
import { MAX_PATH_BYTES } from './paths.js';

/**
 * Most entries (files and folders) in one collection. 65,535 is what a zip's classic end record
 * counts, and client-zip writes a Zip64 end record only for sizes and offsets past 4 GiB, not for
 * counts: a larger collection would make a zip that readers list short. It also bounds the path
 * index a receiver keeps to refuse colliding entries before it writes anything.
 */
export const MAX_COLLECTION_ENTRIES = 65_535;
/** Plaintext bytes per listing block: a few hundred typical entries, at least 49 of the longest. */
export const DEFAULT_LISTING_BLOCK_BYTES = 64 * KiB;
/** Largest listing block a root may name. */
export const MAX_LISTING_BLOCK_BYTES = DEFAULT_LISTING_BLOCK_BYTES;
/** Smallest, for tests that reach several listing blocks with a few entries: one longest record fits. */
export const MIN_LISTING_BLOCK_BYTES = 2 * KiB;
/** Listing blocks one collection may have: a listing of at most 16 MiB, 256 bytes an entry at the most entries. */
export const MAX_LISTING_BLOCKS = 256;
/** Sum of the sizes of a collection's files: what its refs could name at the largest chunk size. */
export const MAX_COLLECTION_BYTES = MAX_BLOCK_COUNT * MAX_CHUNK_SIZE;

export const enum RecordKind {
  File = 1,
  Folder = 2,
}

const FOLDER_FIXED_BYTES = 1 + 2;
const FILE_FIXED_BYTES = 1 + 2 + 8 + 4 + FILE_KEY_BYTES + 1;
/** The longest record: a file with the longest path and media type. */
export const MAX_RECORD_BYTES = FILE_FIXED_BYTES + MAX_PATH_BYTES + MAX_MEDIA_TYPE_BYTES;
const LISTING_HEADER_BYTES = 4;
const HEAD_FIXED_BYTES = 32 + 4 + 4 + 8 + 4 + 4;

/** One entry as the listing stores it; paths are checked by the reader, not here. */
export type ListingRecord =
  | {
      readonly kind: 'file';
      readonly path: string;
      readonly size: number;
      readonly rootPosition: number;
      readonly key: Uint8Array;
      readonly mediaType: string;
    }
  | { readonly kind: 'folder'; readonly path: string };

/** What the root's sealed head says. */
export interface CollectionHead {
  readonly entryCount: number;
  readonly fileCount: number;
  readonly totalSize: number;
  readonly listingBlockBytes: number;
  readonly listingBlocks: number;
}

export interface CollectionKeys {
  readonly head: AeadKey;
  readonly listing: AeadKey;
  /** Written into the head; a head whose commitment differs was not made with this key. */
  readonly commitment: Uint8Array;
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const lossyUtf8 = new TextDecoder('utf-8');
const INFO_HEAD = utf8.encode('mycel/v2 collection head key');
const INFO_LISTING = utf8.encode('mycel/v2 collection listing key');
const INFO_COMMIT = utf8.encode('mycel/v2 collection commitment');
const HAS_CONTROL = new RegExp(CONTROLS.source);

export async function deriveCollectionKeys(key: Uint8Array, backend: CryptoBackend): Promise<CollectionKeys> {
  if (key.length !== FILE_KEY_BYTES) throw new RangeError('a collection key is 32 bytes');
  const headRaw = hkdf(sha256, key, undefined, INFO_HEAD, AES_KEY_BYTES);
  const listingRaw = hkdf(sha256, key, undefined, INFO_LISTING, AES_KEY_BYTES);
  const commitment = hkdf(sha256, key, undefined, INFO_COMMIT, 32);
  const [head, listing] = await Promise.all([backend.importKey(headRaw), backend.importKey(listingRaw)]);
  headRaw.fill(0);
  listingRaw.fill(0);
  return { head, listing, commitment };
}

/** Nonce and AAD of the head; `binding` is the SHA-256 of the root's header and refs. */
export function headNonce(): Uint8Array {
  return nonceFor(SealKind.CollectionHead, 0);
}
export function headAad(binding: Uint8Array): Uint8Array {
  return aadFor(SealKind.CollectionHead, 0, true, binding);
}
export function listingNonce(index: number): Uint8Array {
  return nonceFor(SealKind.CollectionListing, index);
}
export function listingAad(index: number, last: boolean): Uint8Array {
  return aadFor(SealKind.CollectionListing, index, last);
}

/** Checks a listing block size a caller passes in. */
export function checkListingBlockBytes(bytes: number | undefined): number {
  const value = bytes ?? DEFAULT_LISTING_BLOCK_BYTES;
  if (!Number.isInteger(value) || value < MIN_LISTING_BLOCK_BYTES || value > MAX_LISTING_BLOCK_BYTES) {
    throw new RangeError(
      `listing block size must be an integer in ${MIN_LISTING_BLOCK_BYTES}..${MAX_LISTING_BLOCK_BYTES}`,
    );
  }
  return value;
}

/** The head plaintext: always METADATA_BYTES. */
export function encodeHead(head: CollectionHead, commitment: Uint8Array): Uint8Array {
  const out = new Uint8Array(METADATA_BYTES);
  const view = new DataView(out.buffer);
  out.set(commitment, 0);
  view.setUint32(32, head.entryCount);
  view.setUint32(36, head.fileCount);
  writeU64(view, 40, head.totalSize);
  view.setUint32(48, head.listingBlockBytes);
  view.setUint32(52, head.listingBlocks);
  return out;
}

/**
 * Parses and checks an opened head against the key's commitment and the root's public block count.
 * Nothing is allocated from what it declares.
 * @throws ManifestError naming the first problem.
 */
export function decodeHead(
  root: BlockId,
  plain: Uint8Array,
  commitment: Uint8Array,
  blockCount: number,
): CollectionHead {
  const fail = (detail: string): never => {
    throw new ManifestError(root, `collection ${detail}`);
  };
  if (plain.length !== METADATA_BYTES) fail(`head is ${plain.length} bytes, expected ${METADATA_BYTES}`);
  if (!bytesEqual(plain.subarray(0, 32), commitment)) fail('key commitment does not match the key');
  const view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
  const entryCount = view.getUint32(32);
  const fileCount = view.getUint32(36);
  const totalSize = readU64(view, 40);
  const listingBlockBytes = view.getUint32(48);
  const listingBlocks = view.getUint32(52);
  if (entryCount < 1 || entryCount > MAX_COLLECTION_ENTRIES) {
    fail(`declares ${entryCount} entries, outside 1..${MAX_COLLECTION_ENTRIES}`);
  }
  if (fileCount > entryCount) fail(`declares ${fileCount} files among ${entryCount} entries`);
  if (totalSize === undefined || totalSize > MAX_COLLECTION_BYTES) fail('total size out of range');
  if (listingBlockBytes < MIN_LISTING_BLOCK_BYTES || listingBlockBytes > MAX_LISTING_BLOCK_BYTES) {
    fail(`listing block size ${listingBlockBytes} out of range`);
  }
  if (listingBlocks < 1 || listingBlocks > MAX_LISTING_BLOCKS || listingBlocks > entryCount) {
    fail(`declares ${listingBlocks} listing blocks for ${entryCount} entries`);
  }
  // Every file has at least a data block and a root; with no files the refs are the listing alone.
  const fewest = listingBlocks + 2 * fileCount;
  if (fileCount === 0 ? blockCount !== listingBlocks : blockCount < fewest) {
    fail(`names ${blockCount} blocks, which cannot hold ${listingBlocks} listing blocks and ${fileCount} files`);
  }
  for (let i = HEAD_FIXED_BYTES; i < plain.length; i++) if (plain[i] !== 0) fail('head padding is not zero');
  return { entryCount, fileCount, totalSize: totalSize!, listingBlockBytes, listingBlocks };
}

/** A record's length once encoded. */
export function recordLength(record: ListingRecord): number {
  const path = utf8.encode(record.path).length;
  return record.kind === 'folder'
    ? FOLDER_FIXED_BYTES + path
    : FILE_FIXED_BYTES + path + utf8.encode(record.mediaType).length;
}

/** Checks what a record carries that the listing's layout bounds (paths are checked elsewhere). */
export function checkRecord(record: ListingRecord): void {
  if (utf8.encode(record.path).length > MAX_PATH_BYTES)
    throw new BadInputError(`a path is longer than ${MAX_PATH_BYTES} bytes`);
  if (record.kind === 'folder') return;
  if (!Number.isSafeInteger(record.size) || record.size < 0 || record.size > MAX_FILE_SIZE) {
    throw new BadInputError(`size of ${record.path} out of range`);
  }
  if (record.key.length !== FILE_KEY_BYTES)
    throw new BadInputError(`the key of ${record.path} is not ${FILE_KEY_BYTES} bytes`);
  if (utf8.encode(record.mediaType).length > MAX_MEDIA_TYPE_BYTES || HAS_CONTROL.test(record.mediaType)) {
    throw new BadInputError(
      `the media type of ${record.path} is longer than ${MAX_MEDIA_TYPE_BYTES} bytes or has a control character`,
    );
  }
}

function writeRecord(out: Uint8Array, offset: number, record: ListingRecord): number {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const path = utf8.encode(record.path);
  out[offset] = record.kind === 'file' ? RecordKind.File : RecordKind.Folder;
  view.setUint16(offset + 1, path.length);
  out.set(path, offset + 3);
  let o = offset + 3 + path.length;
  if (record.kind === 'file') {
    const mediaType = utf8.encode(record.mediaType);
    writeU64(view, o, record.size);
    view.setUint32(o + 8, record.rootPosition);
    out.set(record.key, o + 12);
    out[o + 12 + FILE_KEY_BYTES] = mediaType.length;
    out.set(mediaType, o + 13 + FILE_KEY_BYTES);
    o += 13 + FILE_KEY_BYTES + mediaType.length;
  }
  return o;
}

/**
 * How many records go in each listing block of `blockBytes`, packing greedily in order. Record
 * lengths do not depend on root positions, so this is known before the positions are.
 */
export function planListing(lengths: readonly number[], blockBytes: number): number[] {
  const counts: number[] = [];
  let used = LISTING_HEADER_BYTES;
  let count = 0;
  for (const length of lengths) {
    if (length > blockBytes - LISTING_HEADER_BYTES) throw new RangeError('a record does not fit in a listing block');
    if (used + length > blockBytes) {
      counts.push(count);
      used = LISTING_HEADER_BYTES;
      count = 0;
    }
    used += length;
    count++;
  }
  if (count > 0) counts.push(count);
  return counts;
}

/** The plaintext of one listing block: its records, then zeros to its padded length. */
export function encodeListingBlock(records: readonly ListingRecord[], blockBytes: number, last: boolean): Uint8Array {
  let used = LISTING_HEADER_BYTES;
  for (const record of records) used += recordLength(record);
  if (used > blockBytes) throw new RangeError('records do not fit in the listing block');
  const out = new Uint8Array(last ? paddedLength(used, blockBytes) : blockBytes);
  new DataView(out.buffer).setUint32(0, records.length);
  let offset = LISTING_HEADER_BYTES;
  for (const record of records) offset = writeRecord(out, offset, record);
  return out;
}

/** A record as read: a path that could not be decoded is kept lossy, for the error to show. */
export type DecodedRecord = ListingRecord & { readonly pathIsUtf8: boolean };

/**
 * Parses listing block `index` (opened, its tag verified). Each record's lengths are checked
 * against the bytes left before anything is read; the record count is bounded by the block's size.
 * @throws ManifestError naming the block and what is wrong.
 */
export function decodeListingBlock(
  root: BlockId,
  index: number,
  plain: Uint8Array,
  blockBytes: number,
  last: boolean,
): DecodedRecord[] {
  const fail = (detail: string): never => {
    throw new ManifestError(root, `collection listing block ${index} ${detail}`);
  };
  if (last ? plain.length > blockBytes || plain.length < LISTING_HEADER_BYTES : plain.length !== blockBytes) {
    fail(`is ${plain.length} bytes, expected ${last ? `at most ${blockBytes}` : blockBytes}`);
  }
  const view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
  const count = view.getUint32(0);
  if (count < 1 || count > (plain.length - LISTING_HEADER_BYTES) / FOLDER_FIXED_BYTES) {
    fail(`declares ${count} records, more than it can hold or none`);
  }
  const records: DecodedRecord[] = [];
  let o = LISTING_HEADER_BYTES;
  const need = (n: number) => {
    if (o + n > plain.length) fail(`record ${records.length} runs past the block's end`);
  };
  for (let r = 0; r < count; r++) {
    need(FOLDER_FIXED_BYTES);
    const kind = plain[o]!;
    if (kind !== RecordKind.File && kind !== RecordKind.Folder) fail(`record ${r} has unknown kind ${kind}`);
    const pathLength = view.getUint16(o + 1);
    if (pathLength > MAX_PATH_BYTES) fail(`record ${r} has a path of ${pathLength} bytes, more than ${MAX_PATH_BYTES}`);
    o += FOLDER_FIXED_BYTES;
    need(pathLength);
    const pathBytes = plain.subarray(o, o + pathLength);
    let path: string;
    let pathIsUtf8 = true;
    try {
      path = strictUtf8.decode(pathBytes);
    } catch {
      path = lossyUtf8.decode(pathBytes);
      pathIsUtf8 = false;
    }
    o += pathLength;
    if (kind === RecordKind.Folder) {
      records.push({ kind: 'folder', path, pathIsUtf8 });
      continue;
    }
    need(FILE_FIXED_BYTES - FOLDER_FIXED_BYTES);
    const size = readU64(view, o);
    if (size === undefined || size > MAX_FILE_SIZE) fail(`record ${r} has a size out of range`);
    const rootPosition = view.getUint32(o + 8);
    const key = plain.slice(o + 12, o + 12 + FILE_KEY_BYTES);
    const mediaTypeLength = plain[o + 12 + FILE_KEY_BYTES]!;
    o += FILE_FIXED_BYTES - FOLDER_FIXED_BYTES;
    need(mediaTypeLength);
    let mediaType = '';
    try {
      mediaType = strictUtf8.decode(plain.subarray(o, o + mediaTypeLength));
    } catch {
      fail(`record ${r} has a media type that is not UTF-8`);
    }
    if (HAS_CONTROL.test(mediaType)) fail(`record ${r} has a control character in its media type`);
    o += mediaTypeLength;
    records.push({ kind: 'file', path, size: size!, rootPosition, key, mediaType, pathIsUtf8 });
  }
  for (let i = o; i < plain.length; i++) if (plain[i] !== 0) fail('padding is not zero');
  return records;
}
