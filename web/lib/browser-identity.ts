// This browser's peer identity: made once, kept in IndexedDB, so the device is the same peer across
// reloads and restarts (and an allow list can name it).
//
// Where WebCrypto has Ed25519 (secure contexts in current browsers), the key pair is generated
// non-extractable: the private key is an opaque CryptoKey that signs and that no script, not even
// ours, can read out. Where it has not (a page over plain http on a LAN address has no
// crypto.subtle at all), @noble/curves signs with a secret key whose raw bytes are kept in
// IndexedDB: readable by script on this origin, which is the most such a page can do.

import { identityFromSecret, newSecret, webCryptoIdentity, type PeerIdentity } from '../../src/net/identity.js';
import {
  readStoredIdentity,
  storeIdentityOnce,
  type MycelDB,
  type StoredIdentity,
} from '../../src/store/idb.browser.js';

/** The identity stored in `db`, made and stored first if there is none. */
export async function loadBrowserIdentity(db: MycelDB): Promise<PeerIdentity> {
  const stored = (await readStoredIdentity(db)) ?? (await storeIdentityOnce(db, await makeIdentity()));
  return stored.kind === 'webcrypto' ? webCryptoIdentity(stored) : identityFromSecret(stored.secret);
}

async function makeIdentity(): Promise<StoredIdentity> {
  const subtle = globalThis.crypto?.subtle;
  if (subtle) {
    try {
      const keys = await subtle.generateKey('Ed25519', false, ['sign', 'verify']);
      return { kind: 'webcrypto', privateKey: keys.privateKey, publicKey: keys.publicKey };
    } catch {
      // This WebCrypto has no Ed25519: fall through to the pure-JS key.
    }
  }
  return { kind: 'raw', secret: newSecret() };
}
