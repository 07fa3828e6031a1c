// Peer identities and the messages they sign: a peer id is a public key, signatures verify only for
// that key and that message, and channel fingerprints read the same from either WebRTC stack.
import { webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { toBase64Url } from '../../src/content/bytes.js';
import { channelAuthMessage, sdpFingerprints } from '../../src/net/channel-auth.js';
import {
  domainMessage,
  ephemeralIdentity,
  identityFromSecret,
  isPeerId,
  verifyPeerSignature,
  webCryptoIdentity,
} from '../../src/net/identity.js';
import { helloMessage } from '../../src/net/signal-messages.js';

const text = (s: string) => new TextEncoder().encode(s);

describe('peer identity', () => {
  it('is a 43-character id whose signatures verify for that id only, over that message only', async () => {
    const alice = ephemeralIdentity();
    const bob = ephemeralIdentity();
    expect(isPeerId(alice.id)).toBe(true);
    expect(alice.id).toHaveLength(43);
    const signature = await alice.sign(text('hello'));
    expect(verifyPeerSignature(alice.id, text('hello'), signature)).toBe(true);
    expect(verifyPeerSignature(bob.id, text('hello'), signature)).toBe(false);
    expect(verifyPeerSignature(alice.id, text('hellO'), signature)).toBe(false);
    const flipped = signature.slice();
    flipped[10]! ^= 1;
    expect(verifyPeerSignature(alice.id, text('hello'), flipped)).toBe(false);
    expect(verifyPeerSignature(alice.id, text('hello'), signature.subarray(0, 63))).toBe(false);
    expect(verifyPeerSignature('not-a-peer-id', text('hello'), signature)).toBe(false);
  });

  it('is the same id from the same secret key', () => {
    const secret = new Uint8Array(32).fill(7);
    expect(identityFromSecret(secret).id).toBe(identityFromSecret(secret.slice()).id);
  });

  it('never verifies a signature for a small-order key, which nobody holds', () => {
    // The identity point (y = 1) has order 1: under cofactored verification, R = identity and S = 0
    // would "verify" any message for it. Strict verification refuses such keys.
    const identityPoint = new Uint8Array(32);
    identityPoint[0] = 1;
    const id = toBase64Url(identityPoint);
    expect(isPeerId(id)).toBe(true);
    const forged = new Uint8Array(64);
    forged[0] = 1;
    expect(verifyPeerSignature(id, text('anything'), forged)).toBe(false);
  });

  it('signs with a non-extractable WebCrypto key, and noble verifies what it signed', async () => {
    const keys = (await webcrypto.subtle.generateKey('Ed25519', false, ['sign', 'verify'])) as CryptoKeyPair;
    expect(keys.privateKey.extractable).toBe(false);
    const identity = await webCryptoIdentity(keys, webcrypto.subtle as SubtleCrypto);
    const signature = await identity.sign(text('interop'));
    expect(verifyPeerSignature(identity.id, text('interop'), signature)).toBe(true);
  });

  it('separates what each signature is for: label and parts cannot be confused', () => {
    const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
    expect(same(domainMessage('a', text('bc')), domainMessage('a', text('b'), text('c')))).toBe(false);
    expect(same(domainMessage('a', text('b')), domainMessage('ab'))).toBe(false);
    const nonce = new Uint8Array(32).fill(3);
    expect(same(helloMessage(nonce), channelAuthMessage('x', 'y'))).toBe(false);
    expect(same(channelAuthMessage('x', 'y'), channelAuthMessage('y', 'x'))).toBe(false);
  });
});

// Shapes the two stacks really write: node-datachannel at session level in upper case, Chromium per
// media section.
const HEX = 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89';
const nodeSdp = `v=0\r\no=rtc 1 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 ${HEX}\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n`;
const chromiumSdp = `v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=fingerprint:SHA-256 ${HEX.toLowerCase()}\r\na=setup:actpass\r\n`;

describe('DTLS fingerprints from SDP', () => {
  it('read the same from either stack: algorithm and hex in lower case, no colons', () => {
    const expected = `sha-256 ${HEX.replaceAll(':', '').toLowerCase()}`;
    expect(sdpFingerprints(nodeSdp)).toBe(expected);
    expect(sdpFingerprints(chromiumSdp)).toBe(expected);
  });

  it('count every fingerprint line, whatever its hash, so none can be slipped in unseen', () => {
    const extra = nodeSdp + `a=fingerprint:sha-1 ${HEX.split(':').slice(0, 20).join(':')}\r\n`;
    expect(sdpFingerprints(extra)).not.toBe(sdpFingerprints(nodeSdp));
    expect(sdpFingerprints(extra).split(',')).toHaveLength(2);
  });

  it('refuse a description with no fingerprint, a malformed one, or too many', () => {
    expect(() => sdpFingerprints('v=0\r\nm=application 9 UDP/DTLS/SCTP x\r\n')).toThrow(ProtocolError);
    expect(() => sdpFingerprints('a=fingerprint:sha-256 zz:zz\r\n')).toThrow(/malformed/);
    const many = Array.from({ length: 9 }, (_, i) => `a=fingerprint:sha-${i} ${HEX}`).join('\r\n');
    expect(() => sdpFingerprints(many)).toThrow(/too many/);
  });
});
