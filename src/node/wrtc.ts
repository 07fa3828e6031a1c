// WebRTC for Node: node-datachannel's W3C polyfill, shaped for simple-peer.
// simple-peer assigns `offer.sdp` on the description it gets back, but the polyfill's description
// objects are read-only (ERR_CREATE_OFFER: Cannot set property sdp): offers and answers are handed
// back as plain {type, sdp} objects.
// The polyfill also pastes a TURN server's username and credential into a "turn:user:pass@host" URL
// unencoded: a REST username ("<expiry>:<peer id>") holds a ':' and a base64 credential may hold
// '/' or '+', so coturn would look up the wrong user ("Cannot find credentials") and no relay
// candidate would come. Both are percent-encoded here, which libdatachannel decodes.
// Our offers go out with a=setup:active (the offerer is the DTLS client) instead of actpass: see
// OFFER_DTLS_SETUP.

import {
  RTCIceCandidate,
  RTCPeerConnection as PolyfillPeerConnection,
  RTCSessionDescription,
} from 'node-datachannel/polyfill';
import type { WrtcImplementation } from '../net/peer-link.js';

/** `server` with its username and credential percent-encoded for node-datachannel's URL form. */
export function encodeIceCredentials(server: RTCIceServer): RTCIceServer {
  if (server.username === undefined && server.credential === undefined) return server;
  return {
    ...server,
    username: server.username === undefined ? undefined : encodeURIComponent(server.username),
    credential: server.credential === undefined ? undefined : encodeURIComponent(String(server.credential)),
  };
}

/**
 * The DTLS role our offers claim. With actpass, libdatachannel's answerer takes the client role;
 * its ICE usually connects first and its ClientHello reaches the offerer before the offerer's DTLS
 * transport runs. libdatachannel 0.24.5 keeps that datagram but often drops it when the transport
 * starts (its receive task runs before the transport is marked connecting), and a DTLS server
 * arms no timer: the handshake waited for the client's retransmit, 1 s later (about half of all
 * Node-to-Node connects; test/bench/connect-stall.ts). Offering as the client means the ClientHello
 * comes from the side whose ICE connects last, to a server already listening. The answerer reads
 * the role from the description we send (simple-peer signals `localDescription`); the fingerprint
 * is untouched. (RFC 8842 lets an answerer take passive when the offer says active.)
 */
const OFFER_DTLS_SETUP = 'a=setup:active';

class PeerConnection extends PolyfillPeerConnection {
  constructor(config?: RTCConfiguration) {
    super(config && { ...config, iceServers: config.iceServers?.map(encodeIceCredentials) });
  }
  override get localDescription() {
    const description = super.localDescription;
    if (description?.type !== 'offer') return description;
    const sdp = description.sdp.replace(/^a=setup:actpass(?=\r?$)/gm, OFFER_DTLS_SETUP);
    return { type: description.type, sdp, toJSON: () => ({ type: description.type, sdp }) } as RTCSessionDescription;
  }
  override async createOffer(...args: Parameters<PolyfillPeerConnection['createOffer']>) {
    const offer = await super.createOffer(...args);
    return { type: offer.type, sdp: offer.sdp } as RTCSessionDescriptionInit;
  }
  override async createAnswer(...args: Parameters<PolyfillPeerConnection['createAnswer']>) {
    const answer = await super.createAnswer(...args);
    return { type: answer.type, sdp: answer.sdp } as RTCSessionDescriptionInit;
  }
}

export const nodeWrtc = {
  RTCPeerConnection: PeerConnection,
  RTCSessionDescription,
  RTCIceCandidate,
} as unknown as WrtcImplementation;
