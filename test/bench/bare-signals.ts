// Signaling for the benches' bare peer connections (no simple-peer): local candidates go out as
// they come, remote candidates wait for the remote description, and an offer is answered. Used by
// bare-channel.ts (the ceilings) and connect-stall.ts; the caller runs the returned handler on one
// signal at a time, in order.

/** The W3C peer connection (a name free of node-datachannel's polyfill class of the same name). */
export type BarePeer = RTCPeerConnection;

/** Wires `pc`'s candidates to `send`; returns what to do with each signal from the other side. */
export function bareSignaling(
  pc: BarePeer,
  send: (data: Record<string, unknown>) => void,
): (data: Record<string, unknown>) => Promise<void> {
  pc.onicecandidate = ({ candidate: c }) => {
    if (c) send({ candidate: { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } });
  };
  let described = false;
  const early: RTCIceCandidateInit[] = [];
  return async (data) => {
    if (data.candidate) {
      const candidate = data.candidate as RTCIceCandidateInit;
      if (described)
        await pc.addIceCandidate(candidate).catch(() => undefined); // one path fewer
      else early.push(candidate);
    }
    if (data.sdp) {
      await pc.setRemoteDescription({ type: data.type as RTCSdpType, sdp: data.sdp as string });
      described = true;
      for (const candidate of early.splice(0)) await pc.addIceCandidate(candidate).catch(() => undefined); // one path fewer
      if (data.type === 'offer') {
        await pc.setLocalDescription(await pc.createAnswer());
        send({ type: 'answer', sdp: pc.localDescription!.sdp });
      }
    }
  };
}
