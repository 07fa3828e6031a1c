// The crypto backend for Node processes (the CLI, seeds): node:crypto's native AES-256-GCM and
// SHA-256, called synchronously. WebCrypto in Node runs the same native code, but copies every input
// and hops to the libuv pool and back for each call; for 256 KiB blocks that overhead alone was
// about as much CPU again as the work (test/bench/crypto-node.mjs). Same bytes as the other
// backends: a test holds all three to it.

import { createCipheriv, createDecipheriv, createHash, createSecretKey, type KeyObject } from 'node:crypto';
import { AES_KEY_BYTES, GCM_TAG_BYTES, type AeadKey, type CryptoBackend } from '../content/crypto.js';

/** The bytes of a Buffer as a plain Uint8Array (a Buffer's slice() is a view, not a copy). */
function plain(buffer: Buffer): Uint8Array<ArrayBuffer> {
  return new Uint8Array(buffer.buffer as ArrayBuffer, buffer.byteOffset, buffer.byteLength);
}

function nodeKey(key: KeyObject): AeadKey {
  return {
    async seal(nonce, aad, plaintext) {
      const cipher = createCipheriv('aes-256-gcm', key, nonce);
      cipher.setAAD(aad);
      // GCM's final() yields no bytes: the ciphertext is update()'s, then the tag.
      const body = cipher.update(plaintext);
      cipher.final();
      const out = new Uint8Array(body.length + GCM_TAG_BYTES);
      out.set(body, 0);
      out.set(cipher.getAuthTag(), body.length);
      return out;
    },
    async open(nonce, aad, sealed) {
      if (sealed.length < GCM_TAG_BYTES) return undefined;
      const decipher = createDecipheriv('aes-256-gcm', key, nonce);
      decipher.setAAD(aad);
      decipher.setAuthTag(sealed.subarray(sealed.length - GCM_TAG_BYTES));
      try {
        const body = decipher.update(sealed.subarray(0, sealed.length - GCM_TAG_BYTES));
        // GCM's final() yields nothing more; it throws when the tag does not verify.
        decipher.final();
        return plain(body);
      } catch {
        return undefined;
      }
    },
  };
}

export const nodeCryptoBackend: CryptoBackend = {
  name: 'node',
  async importKey(raw) {
    if (raw.length !== AES_KEY_BYTES) throw new RangeError('AES-256 key must be 32 bytes');
    return nodeKey(createSecretKey(raw));
  },
  async sha256(data) {
    // A digest from node:crypto may share a pooled slab: copy the 32 bytes out.
    return Uint8Array.from(createHash('sha256').update(data).digest());
  },
};
