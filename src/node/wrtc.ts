// WebRTC for Node: node-datachannel's W3C polyfill, shaped for simple-peer.
// simple-peer assigns `offer.sdp` on the description it gets back, but the polyfill's description
// objects are read-only (ERR_CREATE_OFFER: Cannot set property sdp): offers and answers are handed
// back as plain {type, sdp} objects.

import {
  RTCIceCandidate,
  RTCPeerConnection as PolyfillPeerConnection,
  RTCSessionDescription,
} from 'node-datachannel/polyfill';
import type { WrtcImplementation } from '../net/peer-link.js';

class PeerConnection extends PolyfillPeerConnection {
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
