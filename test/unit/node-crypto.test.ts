// The node:crypto backend a Node process uses (src/node/node-crypto.ts) against WebCrypto and noble:
// the same bytes for every block, each opens the others' files, and a wrong tag or key opens nothing.
import { describe, expect, it } from 'vitest';
import { nobleBackend, webCrypto } from '../../src/content/crypto.js';
import { openManifest, readFile } from '../../src/content/open.js';
import { nodeCryptoBackend } from '../../src/node/node-crypto.js';
import { getterFrom, sealToMap } from '../helpers/blocks.js';
import { collect, pseudoRandomBytes, sameBytes } from '../helpers/data.js';

const CHUNK = 4096;

describe('the node:crypto backend', () => {
  const subtle = webCrypto()!;

  it('seals every block as WebCrypto and noble do, and opens their files (and they its)', async () => {
    const bytes = pseudoRandomBytes(5 * CHUNK + 99, 5);
    const fileKey = pseudoRandomBytes(32, 6);
    const viaNode = await sealToMap(bytes, { chunkSize: CHUNK, backend: nodeCryptoBackend, fileKey });
    for (const other of [subtle, nobleBackend]) {
      const via = await sealToMap(bytes, { chunkSize: CHUNK, backend: other, fileKey });
      expect(via.order.map((b) => b.id)).toEqual(viaNode.order.map((b) => b.id));
      via.order.forEach((b, i) => expect(sameBytes(b.bytes, viaNode.order[i]!.bytes)).toBe(true));
      const theirs = await openManifest(via.file.root, fileKey, getterFrom(via.blocks), { backend: nodeCryptoBackend });
      expect(sameBytes(await collect(readFile(theirs, getterFrom(via.blocks))), bytes)).toBe(true);
      const ours = await openManifest(viaNode.file.root, fileKey, getterFrom(viaNode.blocks), { backend: other });
      expect(sameBytes(await collect(readFile(ours, getterFrom(viaNode.blocks))), bytes)).toBe(true);
    }
  });

  it('hashes as WebCrypto does, into an array of its own', async () => {
    const data = pseudoRandomBytes(256 * 1024 + 3, 7);
    const digest = await nodeCryptoBackend.sha256(data);
    expect(sameBytes(digest, await subtle.sha256(data))).toBe(true);
    expect(digest.byteLength).toBe(32);
    expect(digest.buffer.byteLength).toBe(32);
  });

  it('opens nothing under a flipped bit, other data, a short input or another key', async () => {
    const key = await nodeCryptoBackend.importKey(pseudoRandomBytes(32, 8));
    const nonce = pseudoRandomBytes(12, 9);
    const aad = new Uint8Array([1, 2, 3]);
    const plaintext = pseudoRandomBytes(1000, 10);
    const sealed = await key.seal(nonce, aad, plaintext);
    expect(sameBytes((await key.open(nonce, aad, sealed))!, plaintext)).toBe(true);
    const flipped = sealed.slice();
    flipped[17]! ^= 1;
    expect(await key.open(nonce, aad, flipped)).toBeUndefined();
    expect(await key.open(nonce, new Uint8Array([1, 2, 4]), sealed)).toBeUndefined();
    expect(await key.open(nonce, aad, sealed.subarray(0, 15))).toBeUndefined();
    const other = await nodeCryptoBackend.importKey(pseudoRandomBytes(32, 11));
    expect(await other.open(nonce, aad, sealed)).toBeUndefined();
    await expect(nodeCryptoBackend.importKey(new Uint8Array(16))).rejects.toThrow(RangeError);
  });
});
