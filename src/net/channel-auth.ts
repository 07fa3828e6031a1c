// Binding a data channel to the peer ids at its two ends.
//
// The signaling server relays SDP, so a lying server could put itself (or any peer) in the middle of
// a WebRTC connection and call it by another peer's id. What it cannot change is DTLS: each end's
// DTLS stack checks the certificate the other end presents against the `a=fingerprint:` lines of
// the remote description. So right after the channel opens, each side signs, with its peer key,
//   (its own fingerprints, the fingerprints it sees for the other side)
// and checks the other's signature, under the id it believes it is talking to, over the same pair
// as it sees it: (the remote fingerprints, its own). If anyone sat in the middle, one of the pairs
// differs and the signature fails. Both stacks make a fresh certificate per connection (checked:
// Chromium, libdatachannel 0.33), so an auth frame from another channel never verifies here.
//
// Fingerprints come from the descriptions the WebRTC stack itself holds (local and remote SDP),
// normalised because stacks write them differently: node-datachannel at session level, Chromium
// per media section, hex in either case. Every fingerprint line counts, whatever its hash: dropping
// one would let a middleman add a line of its own that the DTLS stack would accept.

import { ProtocolError } from '../errors.js';
import { domainMessage } from './identity.js';

/** More fingerprint lines than any stack writes is not a description we sign. */
export const MAX_FINGERPRINTS = 8;

const FINGERPRINT_LINE = /^a=fingerprint:(.*)$/;
const FINGERPRINT_VALUE = /^([A-Za-z0-9-]{1,16}) ((?:[0-9A-Fa-f]{2}:){15,63}[0-9A-Fa-f]{2})$/;

/**
 * The DTLS fingerprints an SDP declares, as one canonical string: "alg hex" entries (lowercase, no
 * colons), sorted, deduplicated, comma-separated.
 * @throws ProtocolError ('no-fingerprint') if there is none, one is malformed, or there are too many.
 */
export function sdpFingerprints(sdp: string): string {
  const found = new Set<string>();
  for (const raw of sdp.split('\n')) {
    const line = FINGERPRINT_LINE.exec(raw.trim());
    if (!line) continue;
    const value = FINGERPRINT_VALUE.exec(line[1]!.trim());
    if (!value) throw new ProtocolError('no-fingerprint', 'a description carries a malformed DTLS fingerprint');
    found.add(`${value[1]!.toLowerCase()} ${value[2]!.replaceAll(':', '').toLowerCase()}`);
    if (found.size > MAX_FINGERPRINTS)
      throw new ProtocolError('no-fingerprint', 'a description carries too many DTLS fingerprints');
  }
  if (found.size === 0) throw new ProtocolError('no-fingerprint', 'a description carries no DTLS fingerprint');
  return [...found].sort().join(',');
}

const encoder = new TextEncoder();

/** What an auth frame signs: the signer's own fingerprints, then those it sees for the other end. */
export function channelAuthMessage(own: string, seen: string): Uint8Array {
  return domainMessage('mycel channel auth v1', encoder.encode(own), encoder.encode(seen));
}
