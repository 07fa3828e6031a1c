// Random identifiers that name no one: connection attempt ids. (Peer ids are public keys: identity.ts.)
import { toBase64Url } from '../content/bytes.js';
import { randomBytes } from '../content/crypto.js';

export function newConnectionId(): string {
  return toBase64Url(randomBytes(9));
}
