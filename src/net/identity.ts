// Peer identity: a peer id IS its Ed25519 public key (32 bytes as unpadded base64url, 43
// characters), so anyone can check a signature against an id without asking anybody. The signing
// key stays where it was made: a non-extractable WebCrypto key in a browser's IndexedDB, a seed file
// with owner-only permissions in a Node seed's data folder, memory for one-shot commands.
//
// Verification is @noble/curves everywhere (browser, worker, Node), so every runtime applies the
// same rules: strict RFC 8032 decoding (no ZIP-215 leniency) and small-order public keys refused,
// so no signature verifies for a key nobody holds.
//
// Every signed message is built by `domainMessage`: an ASCII label naming purpose and version, a NUL,
// then each part with a 4-byte length. A signature made for one purpose (a signaling hello, a
// data-channel auth) therefore never verifies as another, and parts cannot run into each other.

import { ed25519 } from '@noble/curves/ed25519.js';
import { fromBase64Url, toBase64Url } from '../content/bytes.js';

export const PUBLIC_KEY_BYTES = 32;
/** 43 base64url characters; the last carries 4 bits, so it is one of 16 (canonical encoding only). */
export const PEER_ID_RE = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
export const PEER_ID_LENGTH = 43;
export const SIGNATURE_BYTES = 64;
/** An Ed25519 secret key as RFC 8032 defines it: 32 random bytes. */
export const SECRET_SEED_BYTES = 32;

/** Who this node is on the network, and the means to prove it. */
export interface PeerIdentity {
  /** The public key, base64url: what the signaling server and other peers call this node. */
  readonly id: string;
  /** Ed25519 signature (64 bytes) over `message`. */
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** Whether `value` is a well-formed peer id (a canonical encoding of 32 bytes). */
export function isPeerId(value: unknown): value is string {
  return typeof value === 'string' && PEER_ID_RE.test(value) && fromBase64Url(value) !== undefined;
}

export function peerIdOf(publicKey: Uint8Array): string {
  if (publicKey.length !== PUBLIC_KEY_BYTES) throw new RangeError('an Ed25519 public key is 32 bytes');
  return toBase64Url(publicKey);
}

/**
 * Checks `signature` over `message` by the key `peerId` names. Never throws: a malformed id or
 * signature is simply not valid.
 */
export function verifyPeerSignature(peerId: string, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES || !isPeerId(peerId)) return false;
  const publicKey = fromBase64Url(peerId)!;
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

const encoder = new TextEncoder();

/** `label` NUL (u32 length, bytes)* — the only way signed messages are built. */
export function domainMessage(label: string, ...parts: Uint8Array[]): Uint8Array {
  const head = encoder.encode(label);
  let length = head.length + 1;
  for (const part of parts) length += 4 + part.length;
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  out.set(head, 0);
  let offset = head.length + 1;
  for (const part of parts) {
    view.setUint32(offset, part.length);
    out.set(part, offset + 4);
    offset += 4 + part.length;
  }
  return out;
}

/** An identity whose secret is the 32-byte RFC 8032 seed `secret` (kept by the caller). */
export function identityFromSecret(secret: Uint8Array): PeerIdentity {
  if (secret.length !== SECRET_SEED_BYTES) throw new RangeError('an Ed25519 secret key is 32 bytes');
  const key = secret.slice();
  const id = peerIdOf(ed25519.getPublicKey(key));
  return {
    id,
    async sign(message) {
      return ed25519.sign(message, key);
    },
  };
}

/** A fresh random secret key (RFC 8032 seed). */
export function newSecret(): Uint8Array {
  return ed25519.utils.randomSecretKey();
}

/** A fresh identity held only in memory: a short-lived peer (`mycel get`, tests). */
export function ephemeralIdentity(): PeerIdentity {
  return identityFromSecret(newSecret());
}

/**
 * An identity over a WebCrypto Ed25519 key pair. The private key may be (and in browsers is)
 * non-extractable: it signs, and nothing can read it out. The public key is always exportable.
 */
export async function webCryptoIdentity(
  keys: CryptoKeyPair,
  subtle: SubtleCrypto = globalThis.crypto.subtle,
): Promise<PeerIdentity> {
  const publicKey = new Uint8Array(await subtle.exportKey('raw', keys.publicKey));
  const id = peerIdOf(publicKey);
  return {
    id,
    async sign(message) {
      const bytes =
        message.buffer instanceof ArrayBuffer ? (message as Uint8Array<ArrayBuffer>) : new Uint8Array(message);
      return new Uint8Array(await subtle.sign('Ed25519', keys.privateKey, bytes));
    },
  };
}
