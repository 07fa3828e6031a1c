// The manifest's bytes in format 2: a root block (whose id is the file's root) and, for files with
// more ids than fit in the root, index blocks the root lists. Block ids are public structure, in
// the clear, so a holder without the key can list, fetch, hold and serve a whole file; what the file
// is (name, size, media type, chunk size) stays sealed in the root's metadata. format.ts says what
// this shows to a holder without the key.
//
// Root block (integers big-endian):
//   offset 0   magic "MYCL"
//          4   version u8 = 2
//          5   type u8: 0 = root, ids inline; 1 = root, ids in index blocks
//          6   blockCount u32  (data blocks, at least 1)
//         10   refCount u32    (= blockCount inline; = ceil(blockCount / IDS_PER_INDEX_BLOCK) indexed)
//         14   refs [32 × refCount]  (data block ids, or index block ids, in order)
//          H   sealed metadata [METADATA_BYTES + 16]: the rest of the block, exactly
// Index block j:
//   offset 0   magic "MYCL" | 4 version u8 = 2 | 5 type u8 = 2 | 6 index u32 = j | 10 idCount u32
//         14   ids [32 × idCount]  (data ids j·IDS_PER_INDEX_BLOCK onwards; the last block holds the rest)
// Metadata plaintext, always METADATA_BYTES long (the longest name and media type fit, the rest is
// zeros), so its length says nothing about the name:
//   commitment [32] | size u64 | chunkSize u32 | nameLength u16 | mediaTypeLength u8 | name | mediaType | zeros
//
// An index block needs no seal: its id is in the root, the root's id is the link, and its header
// (type, position, count) is checked against the root's, so it cannot be moved, cut or swapped.
// Every length is checked against the bytes present and the limits below before it is used; no
// decoder allocates anything sized from a declared count.

import { FormatVersionError, ManifestError, BadInputError } from '../errors.js';
import { bytesEqual, readU64, writeU64 } from './bytes.js';
import { GCM_TAG_BYTES } from './crypto.js';
import {
  BLOCK_ID_BYTES,
  FORMAT_VERSION,
  MAX_BLOCK_BYTES,
  MAX_CHUNK_SIZE,
  MAX_FILE_SIZE,
  MIN_CHUNK_SIZE,
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

/** Root and index blocks both start with magic, version, type and two u32. */
export const STRUCTURE_HEADER_BYTES = 14;
const METADATA_FIXED_BYTES = 32 + 8 + 4 + 2 + 1;
/** The metadata plaintext's one length: room for the longest name and media type. */
export const METADATA_BYTES = METADATA_FIXED_BYTES + MAX_NAME_BYTES + MAX_MEDIA_TYPE_BYTES;
export const SEALED_METADATA_BYTES = METADATA_BYTES + GCM_TAG_BYTES;

const MAGIC = [0x4d, 0x59, 0x43, 0x4c]; // "MYCL"

/** The type byte of a structure block. */
export const enum StructureType {
  RootInline = 0,
  RootIndexed = 1,
  Index = 2,
}

/** Where a root keeps its data ids: in itself, or in index blocks it lists. */
export type RootLayout = 'inline' | 'indexed';

/**
 * How ids are spread over the root and index blocks. Files always use DEFAULT_ID_LAYOUT; tests pass
 * a smaller one (to reach index layouts with a few chunks) to the sealer and to every reader alike.
 */
export interface IdLayout {
  readonly maxInlineIds: number;
  readonly idsPerIndexBlock: number;
}

export const DEFAULT_ID_LAYOUT: IdLayout = { maxInlineIds: MAX_INLINE_IDS, idsPerIndexBlock: IDS_PER_INDEX_BLOCK };

/** Checks a layout passed in by a caller; none may make blocks larger than the default's. */
export function checkIdLayout(layout: IdLayout | undefined): IdLayout {
  if (!layout) return DEFAULT_ID_LAYOUT;
  const { maxInlineIds, idsPerIndexBlock } = layout;
  const ok = (n: number, max: number) => Number.isInteger(n) && n >= 1 && n <= max;
  if (!ok(maxInlineIds, MAX_INLINE_IDS) || !ok(idsPerIndexBlock, IDS_PER_INDEX_BLOCK)) {
    throw new RangeError(`id layout out of range: ${maxInlineIds} inline, ${idsPerIndexBlock} per index block`);
  }
  return layout;
}

/** What a file is. Its block ids are not here: OpenedManifest gives them, lazily. */
export interface Manifest {
  readonly name: string;
  readonly size: number;
  readonly mediaType: string;
  readonly chunkSize: number;
  readonly blockCount: number;
}

/** How the ids are laid out: inline in the root (0), or over this many index blocks. */
export function indexBlockCount(blockCount: number, layout: IdLayout = DEFAULT_ID_LAYOUT): number {
  return blockCount <= layout.maxInlineIds ? 0 : Math.ceil(blockCount / layout.idsPerIndexBlock);
}

/** Number of ids index block `index` must hold. */
export function idsInIndexBlock(blockCount: number, index: number, layout: IdLayout = DEFAULT_ID_LAYOUT): number {
  return Math.min(layout.idsPerIndexBlock, blockCount - index * layout.idsPerIndexBlock);
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

function writeHeader(out: Uint8Array, type: StructureType, a: number, b: number): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out.set(MAGIC, 0);
  out[4] = FORMAT_VERSION;
  out[5] = type;
  view.setUint32(6, a);
  view.setUint32(10, b);
}

/** True when `bytes` start with the magic (whatever the version): a structure block of some format. */
export function hasMagic(bytes: Uint8Array): boolean {
  return bytes.length >= 5 && MAGIC.every((b, i) => bytes[i] === b);
}

/**
 * The root's cleartext part: header and refs. `refs` are the data block ids (inline layout) or the
 * index block ids, packed.
 */
export function encodeRootHeader(blockCount: number, refs: Uint8Array, indexed: boolean): Uint8Array {
  const out = new Uint8Array(STRUCTURE_HEADER_BYTES + refs.length);
  writeHeader(
    out,
    indexed ? StructureType.RootIndexed : StructureType.RootInline,
    blockCount,
    refs.length / BLOCK_ID_BYTES,
  );
  out.set(refs, STRUCTURE_HEADER_BYTES);
  return out;
}

/** A root's parts, each a view of the root's bytes (nothing is copied). */
export interface RootStructure {
  readonly layout: RootLayout;
  readonly blockCount: number;
  readonly refCount: number;
  /** Packed 32-byte ids: data ids (inline) or index block ids (indexed). */
  readonly refs: Uint8Array;
  /** Header and refs: what the metadata's AAD binds. */
  readonly header: Uint8Array;
  readonly sealedMetadata: Uint8Array;
}

/**
 * Parses and bounds-checks a root's cleartext part. Needs no key.
 * @throws FormatVersionError for a root of another format version that says so in the clear;
 *   ManifestError naming the first problem otherwise (a format-1 root, all ciphertext, lands here:
 *   only its key can tell it from noise).
 */
export function decodeRootStructure(
  root: BlockId,
  bytes: Uint8Array,
  layout: IdLayout = DEFAULT_ID_LAYOUT,
): RootStructure {
  const fail = (detail: string): never => {
    throw new ManifestError(root, detail);
  };
  if (bytes.length > MAX_BLOCK_BYTES) fail(`root is ${bytes.length} bytes, more than any block may be`);
  if (!hasMagic(bytes)) fail('it does not start with a Mycel format 2 header');
  if (bytes[4] !== FORMAT_VERSION) throw new FormatVersionError(root, bytes[4]!, FORMAT_VERSION);
  if (bytes.length < STRUCTURE_HEADER_BYTES) fail(`root is ${bytes.length} bytes, shorter than its header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = bytes[5]!;
  if (type === StructureType.Index) fail('the block is an index block, not a root');
  if (type !== StructureType.RootInline && type !== StructureType.RootIndexed) fail(`unknown block type ${type}`);
  const blockCount = view.getUint32(6);
  const refCount = view.getUint32(10);
  if (blockCount < 1 || blockCount > MAX_BLOCK_COUNT) fail(`block count ${blockCount} out of range`);
  const indexed = type === StructureType.RootIndexed;
  if (indexed !== indexBlockCount(blockCount, layout) > 0) fail('layout does not match block count');
  const expectedRefs = indexed ? indexBlockCount(blockCount, layout) : blockCount;
  if (refCount !== expectedRefs) fail(`lists ${refCount} ids, expected ${expectedRefs}`);
  if (refCount > (indexed ? MAX_INDEX_BLOCKS : layout.maxInlineIds))
    fail(`lists ${refCount} ids, more than a root may`);
  const end = STRUCTURE_HEADER_BYTES + refCount * BLOCK_ID_BYTES;
  if (bytes.length !== end + SEALED_METADATA_BYTES) {
    fail(`root is ${bytes.length} bytes, expected ${end + SEALED_METADATA_BYTES} for ${refCount} ids`);
  }
  return {
    layout: indexed ? 'indexed' : 'inline',
    blockCount,
    refCount,
    refs: bytes.subarray(STRUCTURE_HEADER_BYTES, end),
    header: bytes.subarray(0, end),
    sealedMetadata: bytes.subarray(end),
  };
}

/** Index block `index`, listing `ids` (packed). */
export function encodeIndexBlock(index: number, ids: Uint8Array): Uint8Array {
  const out = new Uint8Array(STRUCTURE_HEADER_BYTES + ids.length);
  writeHeader(out, StructureType.Index, index, ids.length / BLOCK_ID_BYTES);
  out.set(ids, STRUCTURE_HEADER_BYTES);
  return out;
}

/**
 * Checks index block `index` of `root` (already verified against its id) and returns its packed
 * ids, a view of `bytes`.
 * @throws ManifestError naming the block and what is wrong: type, position, count or length.
 */
export function decodeIndexBlock(
  root: BlockId,
  id: BlockId,
  bytes: Uint8Array,
  index: number,
  expectedIds: number,
): Uint8Array {
  const fail = (detail: string): never => {
    throw new ManifestError(root, `index block ${index} (${id.slice(0, 12)}) ${detail}`);
  };
  if (bytes.length < STRUCTURE_HEADER_BYTES || !hasMagic(bytes)) fail('does not start with a Mycel header');
  if (bytes[4] !== FORMAT_VERSION) fail(`is format ${bytes[4]}, its root format ${FORMAT_VERSION}`);
  if (bytes[5] !== StructureType.Index) fail(`is not an index block (type ${bytes[5]})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const position = view.getUint32(6);
  if (position !== index) fail(`says it is index block ${position}`);
  const count = view.getUint32(10);
  if (count !== expectedIds) fail(`lists ${count} ids, expected ${expectedIds}`);
  const length = STRUCTURE_HEADER_BYTES + count * BLOCK_ID_BYTES;
  if (bytes.length !== length) fail(`is ${bytes.length} bytes, expected ${length}`);
  return bytes.subarray(STRUCTURE_HEADER_BYTES);
}

/** The metadata plaintext: always METADATA_BYTES. */
export function encodeMetadata(manifest: Manifest, commitment: Uint8Array): Uint8Array {
  const name = utf8.encode(manifest.name);
  const mediaType = utf8.encode(manifest.mediaType);
  if (name.length > MAX_NAME_BYTES || mediaType.length > MAX_MEDIA_TYPE_BYTES) {
    throw new BadInputError('name or media type too long');
  }
  const out = new Uint8Array(METADATA_BYTES);
  const view = new DataView(out.buffer);
  out.set(commitment, 0);
  writeU64(view, 32, manifest.size);
  view.setUint32(40, manifest.chunkSize);
  view.setUint16(44, name.length);
  out[46] = mediaType.length;
  out.set(name, METADATA_FIXED_BYTES);
  out.set(mediaType, METADATA_FIXED_BYTES + name.length);
  return out;
}

/**
 * Parses and checks opened metadata against the key's commitment and the root's block count.
 * @throws ManifestError naming the first problem.
 */
export function decodeMetadata(root: BlockId, plain: Uint8Array, commitment: Uint8Array, blockCount: number): Manifest {
  const fail = (detail: string): never => {
    throw new ManifestError(root, detail);
  };
  if (plain.length !== METADATA_BYTES) fail(`metadata is ${plain.length} bytes, expected ${METADATA_BYTES}`);
  if (!bytesEqual(plain.subarray(0, 32), commitment)) fail('key commitment does not match the key');
  const view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
  const size = readU64(view, 32);
  if (size === undefined || size > MAX_FILE_SIZE) return fail('size out of range');
  const chunkSize = view.getUint32(40);
  if (chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) fail(`chunk size ${chunkSize} out of range`);
  if (chunkCount(size, chunkSize) !== blockCount) fail('block count does not match size and chunk size');
  const nameLength = view.getUint16(44);
  const mediaTypeLength = plain[46]!;
  if (nameLength > MAX_NAME_BYTES) fail('name too long');
  const nameEnd = METADATA_FIXED_BYTES + nameLength;
  const end = nameEnd + mediaTypeLength;
  let name = '';
  let mediaType = '';
  try {
    name = strictUtf8.decode(plain.subarray(METADATA_FIXED_BYTES, nameEnd));
    mediaType = strictUtf8.decode(plain.subarray(nameEnd, end));
  } catch {
    fail('name or media type is not valid UTF-8');
  }
  for (let i = end; i < plain.length; i++) if (plain[i] !== 0) fail('padding is not zero');
  return { name, size, mediaType, chunkSize, blockCount };
}
