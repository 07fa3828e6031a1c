// WebRTC for Node: node-datachannel's W3C polyfill, shaped for simple-peer.
// simple-peer assigns `offer.sdp` on the description it gets back, but the polyfill's description
// objects are read-only (ERR_CREATE_OFFER: Cannot set property sdp): offers and answers are handed
// back as plain {type, sdp} objects.
// The polyfill also pastes a TURN server's username and credential into a "turn:user:pass@host" URL
// unencoded: a REST username ("<expiry>:<peer id>") holds a ':' and a base64 credential may hold
// '/' or '+', so coturn would look up the wrong user ("Cannot find credentials") and no relay
// candidate would come. Both are percent-encoded here, which libdatachannel decodes.

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

class PeerConnection extends PolyfillPeerConnection {
  constructor(config?: RTCConfiguration) {
    super(config && { ...config, iceServers: config.iceServers?.map(encodeIceCredentials) });
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
