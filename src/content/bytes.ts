// Byte helpers shared by the content model, stores and wire protocol: hex and base64url codecs with
// strict validation (they parse untrusted links and ids), and small big-endian integer writers.

const HEX = '0123456789abcdef';
const HEX_RE = /^[0-9a-f]*$/;
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64URL_RE = /^[A-Za-z0-9_-]*$/;
const B64URL_LOOKUP = (() => {
  const table = new Int16Array(128).fill(-1);
  for (let i = 0; i < B64URL.length; i++) table[B64URL.charCodeAt(i)] = i;
  return table;
})();

/** ASCII codes of the two hex digits of every byte value. */
const HEX_CODES = (() => {
  const codes = new Uint8Array(512);
  for (let b = 0; b < 256; b++) {
    codes[2 * b] = HEX.charCodeAt(b >> 4);
    codes[2 * b + 1] = HEX.charCodeAt(b & 15);
  }
  return codes;
})();
const ascii = new TextDecoder('latin1');

/**
 * Lowercase hex of `bytes`, as one flat string: building it by `+=` made a rope of 64 pieces per
 * id, about 2 KiB each until V8 flattened it, which a list of 8,192 index ids turned into 12 MiB.
 */
export function toHex(bytes: Uint8Array): string {
  const out = new Uint8Array(bytes.length * 2);
  for (let i = 0; i < bytes.length; i++) {
    out[2 * i] = HEX_CODES[2 * bytes[i]!]!;
    out[2 * i + 1] = HEX_CODES[2 * bytes[i]! + 1]!;
  }
  return ascii.decode(out);
}

/** Parses lowercase hex; returns undefined for odd length or any other character. */
export function fromHex(hex: string): Uint8Array | undefined {
  if (hex.length % 2 !== 0 || !HEX_RE.test(hex)) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Unpadded base64url (RFC 4648 §5) of `bytes`. */
export function toBase64Url(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]! + B64URL[(n >> 6) & 63]! + B64URL[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]! + B64URL[(n >> 6) & 63]!;
  }
  return out;
}

/**
 * Parses unpadded base64url. Returns undefined for characters outside the alphabet, an impossible
 * length, or non-canonical trailing bits (so every byte string has exactly one encoding).
 */
export function fromBase64Url(text: string): Uint8Array | undefined {
  if (!B64URL_RE.test(text) || text.length % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let o = 0;
  let i = 0;
  const val = (k: number) => B64URL_LOOKUP[text.charCodeAt(k)]!;
  for (; i + 3 < text.length; i += 4) {
    const n = (val(i) << 18) | (val(i + 1) << 12) | (val(i + 2) << 6) | val(i + 3);
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 255;
    out[o++] = n & 255;
  }
  const rest = text.length - i;
  if (rest === 2) {
    const n = (val(i) << 18) | (val(i + 1) << 12);
    if (n & 0xffff) return undefined;
    out[o] = n >> 16;
  } else if (rest === 3) {
    const n = (val(i) << 18) | (val(i + 1) << 12) | (val(i + 2) << 6);
    if (n & 0xff) return undefined;
    out[o] = n >> 16;
    out[o + 1] = (n >> 8) & 255;
  }
  return out;
}

/** Constant-shape equality (no early exit on the first differing byte). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Writes a non-negative safe integer as an unsigned 64-bit big-endian value. */
export function writeU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, Math.floor(value / 0x1_0000_0000));
  view.setUint32(offset + 4, value >>> 0);
}

/** Reads an unsigned 64-bit big-endian value; returns undefined above Number.MAX_SAFE_INTEGER. */
export function readU64(view: DataView, offset: number): number | undefined {
  const hi = view.getUint32(offset);
  const lo = view.getUint32(offset + 4);
  if (hi > 0x1fffff) return undefined;
  return hi * 0x1_0000_0000 + lo;
}

/** A view of `bytes` that owns a plain ArrayBuffer (what WebCrypto, Blob and Response want). */
export function ownedBytes(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  if (bytes.buffer instanceof ArrayBuffer) return bytes as Uint8Array<ArrayBuffer>;
  return new Uint8Array(bytes);
}
