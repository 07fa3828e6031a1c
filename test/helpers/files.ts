// Node-only file helpers for tests: generated files and piecewise comparison.
import { promises as fs } from 'node:fs';
import { pseudoRandomBytes, sameBytes } from './data.js';

/** Writes `size` pseudo-random bytes to `file` in 8 MiB pieces (never all in memory at once). */
export async function writeGeneratedFile(file: string, size: number, seed = 1, prefix?: Uint8Array): Promise<void> {
  const handle = await fs.open(file, 'w');
  try {
    if (prefix) await handle.write(prefix);
    const piece = 8 * 1024 * 1024;
    for (let offset = prefix?.length ?? 0, n = 0; offset < size; offset += piece, n++) {
      await handle.write(pseudoRandomBytes(Math.min(piece, size - offset), seed + n));
    }
  } finally {
    await handle.close();
  }
}

/** Whether two files hold the same bytes, compared piece by piece. */
export async function sameFiles(a: string, b: string): Promise<boolean> {
  const [ha, hb] = await Promise.all([fs.open(a), fs.open(b)]);
  try {
    const [sa, sb] = await Promise.all([ha.stat(), hb.stat()]);
    if (sa.size !== sb.size) return false;
    const piece = 4 * 1024 * 1024;
    const ba = new Uint8Array(piece);
    const bb = new Uint8Array(piece);
    for (let offset = 0; offset < sa.size; offset += piece) {
      const n = Math.min(piece, sa.size - offset);
      await Promise.all([ha.read(ba, 0, n, offset), hb.read(bb, 0, n, offset)]);
      if (!sameBytes(ba.subarray(0, n), bb.subarray(0, n))) return false;
    }
    return true;
  } finally {
    await Promise.all([ha.close(), hb.close()]);
  }
}
