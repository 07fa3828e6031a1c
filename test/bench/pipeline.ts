// Throughput of the content pipeline beside its ceiling, in whatever runtime imports this (Node,
// or Chromium through the bench page): our sealFile/readFile against bare WebCrypto AES-256-GCM +
// SHA-256 doing the same work on the same chunks with the same number in flight.

import { webCrypto } from '../../src/content/crypto.js';
import {
  BlockKind,
  DEFAULT_CHUNK_SIZE,
  MiB,
  SealKind,
  aadFor,
  nonceFor,
  type BlockId,
} from '../../src/content/format.js';
import { openManifest, readFile } from '../../src/content/open.js';
import { SEAL_CONCURRENCY, sealFile } from '../../src/content/seal.js';
import { pseudoRandomBytes } from '../helpers/data.js';
import { median } from './units.js';

export interface PairResult {
  ours: number;
  bare: number;
}

/** Yields `total` bytes in 1 MiB pieces cut from one random buffer (generation costs ~nothing). */
export async function* generated(total: number): AsyncGenerator<Uint8Array> {
  const pool = pseudoRandomBytes(4 * MiB, 12345);
  for (let offset = 0; offset < total; offset += MiB) {
    const start = (offset / MiB) % 3;
    yield pool.subarray(start * MiB, start * MiB + Math.min(MiB, total - offset));
  }
}

const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);
const now = () => performance.now();

async function bareSeal(total: number, chunkSize: number): Promise<void> {
  const backend = webCrypto()!;
  const subtle = globalThis.crypto.subtle;
  const key = await backend.importKey(pseudoRandomBytes(32, 9));
  const inFlight: Promise<unknown>[] = [];
  let index = 0;
  const pool = pseudoRandomBytes(4 * MiB, 12345);
  for (let offset = 0; offset < total; offset += chunkSize, index++) {
    // The same copy the chunker makes, so only the format's own work differs.
    const chunk = pool.slice(offset % (3 * MiB), (offset % (3 * MiB)) + Math.min(chunkSize, total - offset));
    const last = offset + chunkSize >= total;
    inFlight.push(
      key
        .seal(nonceFor(SealKind.Data, index), aadFor(SealKind.Data, index, last), chunk)
        .then((c) => subtle.digest('SHA-256', c as Uint8Array<ArrayBuffer>)),
    );
    if (inFlight.length >= SEAL_CONCURRENCY) await inFlight.shift();
  }
  await Promise.all(inFlight);
}

/** Encrypt + hash: ours vs bare, alternating runs, median of `rounds`. MB/s of plaintext. */
export async function sealPair(total = 64 * MiB, rounds = 5, chunkSize = DEFAULT_CHUNK_SIZE): Promise<PairResult> {
  const ours: number[] = [];
  const bare: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let t = now();
    await sealFile(generated(total), () => undefined, { name: 'bench.bin', chunkSize }); // sealing alone is measured
    ours.push(mbps(total, now() - t));
    t = now();
    await bareSeal(total, chunkSize);
    bare.push(mbps(total, now() - t));
  }
  return { ours: median(ours), bare: median(bare) };
}

/** Decrypt + verify: ours (readFile) vs bare digest + decrypt of the same blocks. */
export async function openPair(total = 64 * MiB, rounds = 5, chunkSize = DEFAULT_CHUNK_SIZE): Promise<PairResult> {
  const blocks = new Map<BlockId, Uint8Array>();
  const order: Uint8Array[] = [];
  const sealed = await sealFile(
    generated(total),
    (b) => {
      blocks.set(b.id, b.bytes);
      if (b.kind === BlockKind.Data) order.push(b.bytes);
    },
    { name: 'bench.bin', chunkSize },
  );
  const get = async (id: BlockId) => blocks.get(id)!;
  const opened = await openManifest(sealed.root, sealed.key, get);
  const subtle = globalThis.crypto.subtle;
  const ours: number[] = [];
  const bare: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let t = now();
    let seen = 0;
    for await (const part of readFile(opened, get)) seen += part.length;
    if (seen !== total) throw new Error('short read');
    ours.push(mbps(total, now() - t));

    t = now();
    const inFlight: Promise<unknown>[] = [];
    for (let i = 0; i < order.length; i++) {
      const bytes = order[i]!;
      const last = i === order.length - 1;
      inFlight.push(
        Promise.all([
          subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>),
          opened.keys.data.open(nonceFor(SealKind.Data, i), aadFor(SealKind.Data, i, last), bytes),
        ]),
      );
      if (inFlight.length >= SEAL_CONCURRENCY) await inFlight.shift();
    }
    await Promise.all(inFlight);
    bare.push(mbps(total, now() - t));
  }
  return { ours: median(ours), bare: median(bare) };
}
