// The ceiling for Node-to-Node transfers: two processes, one raw RTCDataChannel (node-datachannel's
// polyfill, the same stack the peers use), 64 KiB messages with the same backpressure window, no
// protocol, no crypto, no disk. Usage: bare-channel.ts send|recv <signal url> <my secret key,
// base64url> <other's peer id> <bytes>
// The receiver prints {"bytes", "seconds", "ttfbMs"}: seconds from the first byte to the last, and
// the time from reaching the signaling server to the first byte.
import { RTCPeerConnection } from 'node-datachannel/polyfill';
import { SignalClient } from '../../src/net/signal-client.js';
import { identityFromSecret } from '../../src/net/identity.js';
import { fromBase64Url } from '../../src/content/bytes.js';
import { normalizeSignal } from '../../src/net/peer-link.js';
import { nodeSocketFactory } from '../../src/node/seed.js';
import { MAX_MESSAGE_BYTES, SEND_HIGH_WATER, SEND_LOW_WATER } from '../../src/net/limits.js';

const [role, url, self, other, bytesText] = process.argv.slice(2) as [string, string, string, string, string];
const total = Number(bytesText);
const signaling = new SignalClient({
  url,
  identity: identityFromSecret(fromBase64Url(self)!),
  createSocket: nodeSocketFactory,
});
signaling.start();
await signaling.ready();
const reached = performance.now();

const pc = new RTCPeerConnection({ iceServers: [] });
pc.onicecandidate = (event) => {
  if (!event.candidate) return;
  const c = event.candidate;
  signaling.signal(
    other,
    normalizeSignal({ candidate: { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } }),
  );
};
// Candidates that arrive before the remote description wait for it (adding them early fails).
let described = false;
const early: RTCIceCandidateInit[] = [];
let chain = Promise.resolve();
signaling.on('signal', ({ data }) => {
  chain = chain.then(async () => {
    if (data.candidate) {
      // A candidate the stack refuses is one path fewer; the bench waits for the channel.
      if (described) await pc.addIceCandidate(data.candidate as RTCIceCandidateInit).catch(() => undefined);
      else early.push(data.candidate);
    }
    if (data.sdp) {
      await pc.setRemoteDescription({ type: data.type as RTCSdpType, sdp: data.sdp as string });
      described = true;
      for (const candidate of early.splice(0)) await pc.addIceCandidate(candidate).catch(() => undefined);
      if (data.type === 'offer') {
        const answer = await pc.createAnswer();
        await pc.setLocalDescription(answer);
        signaling.signal(other, { type: answer.type, sdp: answer.sdp });
      }
    }
  });
});
// A connect that never completes (it happens on node-datachannel) fails the run, to be retried.
setTimeout(() => {
  process.stderr.write('bare channel: no transfer within 120 s\n');
  process.exit(3);
}, 120_000).unref();

if (role === 'send') {
  const channel = pc.createDataChannel('bare', { ordered: true });
  channel.binaryType = 'arraybuffer';
  channel.bufferedAmountLowThreshold = SEND_LOW_WATER;
  channel.onopen = async () => {
    const message = new Uint8Array(MAX_MESSAGE_BYTES);
    for (let sent = 0; sent < total; sent += message.length) {
      channel.send(message.subarray(0, Math.min(message.length, total - sent)));
      if (channel.bufferedAmount > SEND_HIGH_WATER) {
        await new Promise<void>((resolve) =>
          channel.addEventListener('bufferedamountlow', () => resolve(), { once: true }),
        );
      }
    }
  };
  channel.onmessage = () => {
    // The receiver's acknowledgement: everything arrived.
    pc.close();
    signaling.close();
    process.exit(0);
  };
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  signaling.signal(other, { type: offer.type, sdp: offer.sdp });
} else {
  pc.ondatachannel = ({ channel }) => {
    channel.binaryType = 'arraybuffer';
    let received = 0;
    let started = 0;
    channel.onmessage = (event: MessageEvent) => {
      if (received === 0) started = performance.now();
      received += (event.data as ArrayBuffer).byteLength;
      if (received >= total) {
        const seconds = (performance.now() - started) / 1000;
        process.stdout.write(JSON.stringify({ bytes: received, seconds, ttfbMs: started - reached }) + '\n');
        channel.send(new Uint8Array(1));
        setTimeout(() => {
          pc.close();
          signaling.close();
          process.exit(0);
        }, 200);
      }
    };
  };
}
