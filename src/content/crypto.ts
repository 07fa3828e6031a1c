// The crypto backends behind one interface: WebCrypto for the bulk path (about 10x faster for
// AES-GCM and 3x for SHA-256 than pure JS on our machines; it runs off the JS thread) and
// @noble/ciphers + @noble/hashes where `crypto.subtle` is missing (a page served over plain http on a
// LAN address is not a secure context). A Node process may choose node:crypto instead
// (src/node/node-crypto.ts, through useCryptoBackend). All produce identical bytes; a test holds
// them to it.

import { gcm } from '@noble/ciphers/aes.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { ownedBytes } from './bytes.js';

export const AES_KEY_BYTES = 32;
export const GCM_NONCE_BYTES = 12;
export const GCM_TAG_BYTES = 16;

/** An AES-256-GCM key ready for use. */
export interface AeadKey {
  /** Returns ciphertext || 16-byte tag. */
  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array>;
  /** Returns the plaintext, or undefined when the tag does not verify. */
  open(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Promise<Uint8Array | undefined>;
}

export interface CryptoBackend {
  readonly name: 'webcrypto' | 'noble' | 'node';
  importKey(raw: Uint8Array): Promise<AeadKey>;
  sha256(data: Uint8Array): Promise<Uint8Array>;
}

export const nobleBackend: CryptoBackend = {
  name: 'noble',
  async importKey(raw) {
    if (raw.length !== AES_KEY_BYTES) throw new RangeError('AES-256 key must be 32 bytes');
    const key = raw.slice();
    return {
      async seal(nonce, aad, plaintext) {
        return gcm(key, nonce, aad).encrypt(plaintext);
      },
      async open(nonce, aad, sealed) {
        if (sealed.length < GCM_TAG_BYTES) return undefined;
        try {
          return gcm(key, nonce, aad).decrypt(sealed);
        } catch {
          return undefined;
        }
      },
    };
  },
  async sha256(data) {
    return nobleSha256(data);
  },
};

function webCryptoBackend(subtle: SubtleCrypto): CryptoBackend {
  return {
    name: 'webcrypto',
    async importKey(raw) {
      if (raw.length !== AES_KEY_BYTES) throw new RangeError('AES-256 key must be 32 bytes');
      const key = await subtle.importKey('raw', ownedBytes(raw.slice()), 'AES-GCM', false, ['encrypt', 'decrypt']);
      return {
        async seal(nonce, aad, plaintext) {
          const params = { name: 'AES-GCM', iv: ownedBytes(nonce), additionalData: ownedBytes(aad) };
          return new Uint8Array(await subtle.encrypt(params, key, ownedBytes(plaintext)));
        },
        async open(nonce, aad, sealed) {
          if (sealed.length < GCM_TAG_BYTES) return undefined;
          const params = { name: 'AES-GCM', iv: ownedBytes(nonce), additionalData: ownedBytes(aad) };
          try {
            return new Uint8Array(await subtle.decrypt(params, key, ownedBytes(sealed)));
          } catch {
            return undefined;
          }
        },
      };
    },
    async sha256(data) {
      return new Uint8Array(await subtle.digest('SHA-256', ownedBytes(data)));
    },
  };
}

let detected: CryptoBackend | undefined;
let chosen: CryptoBackend | undefined;

/** WebCrypto when this context has `crypto.subtle`, noble otherwise. */
function detectedBackend(): CryptoBackend {
  if (!detected) {
    const subtle = (globalThis.crypto as Crypto | undefined)?.subtle;
    detected = subtle ? webCryptoBackend(subtle) : nobleBackend;
  }
  return detected;
}

/** The backend chosen for this process (useCryptoBackend), else WebCrypto, else noble. */
export function defaultBackend(): CryptoBackend {
  return chosen ?? detectedBackend();
}

/** Makes `backend` the default for this whole process (a Node process's node:crypto). Call once, first. */
export function useCryptoBackend(backend: CryptoBackend): void {
  chosen = backend;
}

/** The WebCrypto backend, or undefined where this context has none. */
export function webCrypto(): CryptoBackend | undefined {
  const backend = detectedBackend();
  return backend.name === 'webcrypto' ? backend : undefined;
}

/** Fills a fresh array from the platform CSPRNG (available in insecure contexts too). */
export function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) {
    globalThis.crypto.getRandomValues(out.subarray(i, Math.min(length, i + 65536)));
  }
  return out;
}

/** Synchronous SHA-256 (noble) for small inputs, where an async WebCrypto call costs more. */
export function sha256Sync(data: Uint8Array): Uint8Array {
  return nobleSha256(data);
}
