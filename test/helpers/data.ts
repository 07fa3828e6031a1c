// Deterministic test data: fast pseudo-random bytes from a seed, and sources that cut them into
// pieces of awkward sizes, so chunk boundaries never line up with what the source yields.

import { concatBytes } from '../../src/content/bytes.js';

/** `length` pseudo-random bytes from `seed` (xorshift32; not for anything but tests). */
export function pseudoRandomBytes(length: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  const words = new Uint32Array(out.buffer, 0, Math.floor(length / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  for (let i = words.length * 4; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 255;
  }
  return out;
}

/** Yields `bytes` in pieces whose sizes cycle through `sizes`. */
export async function* inPieces(bytes: Uint8Array, sizes: number[] = [1000, 7, 65536, 3]): AsyncGenerator<Uint8Array> {
  let offset = 0;
  let i = 0;
  while (offset < bytes.length) {
    const n = Math.min(sizes[i++ % sizes.length]!, bytes.length - offset);
    yield bytes.slice(offset, offset + n);
    offset += n;
  }
}

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of source) parts.push(part);
  return concatBytes(...parts);
}

/** Byte equality that stays fast on large arrays (expect().toEqual compares element by element). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
