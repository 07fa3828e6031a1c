// The manifest: what a file is (name, size, media type, chunk size) and the ordered ids of its
// blocks. It is sealed under the manifest key as a root block, whose id is the file's root; a file
// with more ids than fit in the root spreads them over index blocks the root lists.
//
// Root plaintext (all integers big-endian), zero-padded to a multiple of ROOT_PAD_TO bytes so its
// length says little about the name:
//   magic "MYCL" | version u8 | layout u8 (0 = ids inline, 1 = index blocks)
//   | commitment [32] | size u64 | chunkSize u32 | blockCount u32
//   | nameLength u16 | mediaTypeLength u8 | name | mediaType | refCount u32 | refs [32 × refCount]
// Index block plaintext: up to IDS_PER_INDEX_BLOCK ids, 32 bytes each.
// Every length is checked against the bytes present and the limits below before it is used.

import { ManifestError, BadInputError } from '../errors.js';
import { bytesEqual, readU64, writeU64 } from './bytes.js';
import {
  BLOCK_ID_BYTES,
  FORMAT_VERSION,
  MAX_CHUNK_SIZE,
  MAX_FILE_SIZE,
  MIN_CHUNK_SIZE,
  blockIdFromBytes,
  chunkCount,
  type BlockId,
} from './format.js';

export const MAX_NAME_BYTES = 1024;
export const MAX_MEDIA_TYPE_BYTES = 255;
/** Ids kept in the root itself: 4096 ids = 128 KiB, a 1 GiB file at 256 KiB chunks. */
export const MAX_INLINE_IDS = 4096;
/** Ids per index block: 8192 ids = 256 KiB. */
export const IDS_PER_INDEX_BLOCK = 8192;
/** Index blocks one root may list; with the above, 2^26 blocks (16 TiB at 256 KiB chunks). */
export const MAX_INDEX_BLOCKS = 8192;
export const MAX_BLOCK_COUNT = IDS_PER_INDEX_BLOCK * MAX_INDEX_BLOCKS;
export const ROOT_PAD_TO = 1024;

const MAGIC = [0x4d, 0x59, 0x43, 0x4c]; // "MYCL"
const FIXED_HEADER = 4 + 1 + 1 + 32 + 8 + 4 + 4 + 2 + 1;

export interface Manifest {
  readonly name: string;
  readonly size: number;
  readonly mediaType: string;
  readonly chunkSize: number;
  readonly blockCount: number;
  /** The ids of the data blocks in order, packed 32 bytes each. */
  readonly ids: Uint8Array;
}

export function blockIdAt(manifest: Manifest, index: number): BlockId {
  if (!Number.isInteger(index) || index < 0 || index >= manifest.blockCount) {
    throw new RangeError(`chunk ${index} is outside 0..${manifest.blockCount - 1}`);
  }
  return blockIdFromBytes(manifest.ids.subarray(index * BLOCK_ID_BYTES, (index + 1) * BLOCK_ID_BYTES));
}

/** How the ids are laid out: inline in the root, or over this many index blocks. */
export function indexBlockCount(blockCount: number): number {
  return blockCount <= MAX_INLINE_IDS ? 0 : Math.ceil(blockCount / IDS_PER_INDEX_BLOCK);
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Checks what a file's creator supplies, before any block is sealed. */
export function validateMeta(name: string, mediaType: string, chunkSize: number): void {
  if (utf8.encode(name).length > MAX_NAME_BYTES) {
    throw new BadInputError(`file name is longer than ${MAX_NAME_BYTES} bytes`);
  }
  if (utf8.encode(mediaType).length > MAX_MEDIA_TYPE_BYTES) {
    throw new BadInputError(`media type is longer than ${MAX_MEDIA_TYPE_BYTES} bytes`);
  }
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new BadInputError(`chunk size must be an integer in ${MIN_CHUNK_SIZE}..${MAX_CHUNK_SIZE}`);
  }
}

/**
 * Encodes the root plaintext. `refs` are the data block ids (inline layout) or the index block ids.
 */
export function encodeRoot(manifest: Manifest, commitment: Uint8Array, refs: Uint8Array): Uint8Array {
  const name = utf8.encode(manifest.name);
  const mediaType = utf8.encode(manifest.mediaType);
  const refCount = refs.length / BLOCK_ID_BYTES;
  const layout = indexBlockCount(manifest.blockCount) === 0 ? 0 : 1;
  const length = FIXED_HEADER + name.length + mediaType.length + 4 + refs.length;
  const out = new Uint8Array(Math.ceil(length / ROOT_PAD_TO) * ROOT_PAD_TO);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = FORMAT_VERSION;
  out[5] = layout;
  out.set(commitment, 6);
  writeU64(view, 38, manifest.size);
  view.setUint32(46, manifest.chunkSize);
  view.setUint32(50, manifest.blockCount);
  view.setUint16(54, name.length);
  out[56] = mediaType.length;
  let o = FIXED_HEADER;
  out.set(name, o);
  o += name.length;
  out.set(mediaType, o);
  o += mediaType.length;
  view.setUint32(o, refCount);
  out.set(refs, o + 4);
  return out;
}

export interface DecodedRoot {
  readonly name: string;
  readonly size: number;
  readonly mediaType: string;
  readonly chunkSize: number;
  readonly blockCount: number;
  /** Data block ids (inline) when `indexed` is false; index block ids when true. */
  readonly refs: Uint8Array;
  readonly indexed: boolean;
}

/** Parses and bounds-checks a root plaintext. Throws ManifestError naming the first problem. */
export function decodeRoot(root: BlockId, plain: Uint8Array, commitment: Uint8Array): DecodedRoot {
  const fail = (detail: string): never => {
    throw new ManifestError(root, detail);
  };
  if (plain.length < FIXED_HEADER + 4) fail(`root is ${plain.length} bytes, shorter than its header`);
  const view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
  for (let i = 0; i < 4; i++) if (plain[i] !== MAGIC[i]) fail('bad magic');
  if (plain[4] !== FORMAT_VERSION) fail(`unsupported format version ${plain[4]}`);
  const layout = plain[5]!;
  if (layout > 1) fail(`unknown layout ${layout}`);
  if (!bytesEqual(plain.subarray(6, 38), commitment)) fail('key commitment does not match the key');
  const size = readU64(view, 38);
  if (size === undefined || size > MAX_FILE_SIZE) return fail('size out of range');
  const chunkSize = view.getUint32(46);
  if (chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) fail(`chunk size ${chunkSize} out of range`);
  const blockCount = view.getUint32(50);
  if (blockCount > MAX_BLOCK_COUNT) fail(`block count ${blockCount} out of range`);
  if (blockCount !== chunkCount(size, chunkSize)) fail('block count does not match size and chunk size');
  const nameLength = view.getUint16(54);
  const mediaTypeLength = plain[56]!;
  if (nameLength > MAX_NAME_BYTES) fail('name too long');
  let o = FIXED_HEADER;
  if (o + nameLength + mediaTypeLength + 4 > plain.length) fail('name or media type runs past the end');
  let name = '';
  let mediaType = '';
  try {
    name = strictUtf8.decode(plain.subarray(o, o + nameLength));
    mediaType = strictUtf8.decode(plain.subarray(o + nameLength, o + nameLength + mediaTypeLength));
  } catch {
    fail('name or media type is not valid UTF-8');
  }
  o += nameLength + mediaTypeLength;
  const refCount = view.getUint32(o);
  o += 4;
  const indexed = layout === 1;
  const expectedRefs = indexed ? indexBlockCount(blockCount) : blockCount;
  if (indexed !== indexBlockCount(blockCount) > 0) fail('layout does not match block count');
  if (refCount !== expectedRefs) fail(`lists ${refCount} ids, expected ${expectedRefs}`);
  const end = o + refCount * BLOCK_ID_BYTES;
  if (end > plain.length) fail('ids run past the end');
  for (let i = end; i < plain.length; i++) if (plain[i] !== 0) fail('padding is not zero');
  return { name, size, mediaType, chunkSize, blockCount, refs: plain.slice(o, end), indexed };
}

/** Number of ids index block `index` must hold. */
export function idsInIndexBlock(blockCount: number, index: number): number {
  return Math.min(IDS_PER_INDEX_BLOCK, blockCount - index * IDS_PER_INDEX_BLOCK);
}
