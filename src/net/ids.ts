// Random identifiers: peer ids (public, sent to the signaling server) and connection ids.
import { toBase64Url } from '../content/bytes.js';
import { randomBytes } from '../content/crypto.js';
import { PEER_ID_RE } from './signal-messages.js';

/** 16 random bytes, base64url: 22 characters. */
export function newPeerId(): string {
  return toBase64Url(randomBytes(16));
}

export function isPeerId(value: unknown): value is string {
  return typeof value === 'string' && PEER_ID_RE.test(value);
}

export function newConnectionId(): string {
  return toBase64Url(randomBytes(9));
}
