// Recognising a format-1 root, so its link gets a clear "made by an older Mycel" error instead of
// "wrong key". A format-1 root is all ciphertext: it is recognised only by opening it the way
// format 1 sealed it (its manifest key, nonce 0, its AAD) and finding format 1's header inside.
// Nothing else of format 1 is kept; its files are not read.

import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { AES_KEY_BYTES, GCM_NONCE_BYTES, type CryptoBackend } from './crypto.js';
import { MAX_BLOCK_BYTES } from './format.js';

const V1 = 1;
const V1_INFO_MANIFEST = new TextEncoder().encode('mycel/v1 manifest key');
/** Format 1's AAD for its root: version 1, kind 1 (root), index 0 as u64, last = 1. */
const V1_ROOT_AAD = Uint8Array.of(V1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1);
const MAGIC = [0x4d, 0x59, 0x43, 0x4c]; // "MYCL"

/** The format version of `rootBytes` if `fileKey` opens it as a format-1 root; undefined otherwise. */
export async function legacyRootVersion(
  rootBytes: Uint8Array,
  fileKey: Uint8Array,
  backend: CryptoBackend,
): Promise<number | undefined> {
  if (rootBytes.length > MAX_BLOCK_BYTES) return undefined;
  const raw = hkdf(sha256, fileKey, undefined, V1_INFO_MANIFEST, AES_KEY_BYTES);
  const key = await backend.importKey(raw);
  raw.fill(0);
  const plain = await key.open(new Uint8Array(GCM_NONCE_BYTES), V1_ROOT_AAD, rootBytes);
  if (!plain || plain.length < 5 || !MAGIC.every((b, i) => plain[i] === b) || plain[4] !== V1) return undefined;
  plain.fill(0);
  return V1;
}
