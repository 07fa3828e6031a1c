// A hostile peer for tests: a real WebRTC data channel (simple-peer on node-datachannel), joined
// through the real signaling server, over which the test sends whatever bytes it likes.
import SimplePeer from 'simple-peer';
import { newConnectionId, newPeerId } from '../../src/net/ids.js';
import { normalizeSignal } from '../../src/net/link.js';
import { SignalClient } from '../../src/net/signal-client.js';
import { nodeSocketFactory } from '../../src/node/seed.js';
import { nodeWrtc } from '../../src/node/wrtc.js';

export interface RawLink {
  readonly peerId: string;
  readonly peer: SimplePeer.Instance;
  /** Messages received from the other side. */
  readonly received: Uint8Array[];
  /** Resolves when the other side (or the network) closes the channel. */
  readonly closed: Promise<void>;
  send(message: Uint8Array): void;
  destroy(): void;
}

export async function openRawLink(signalUrl: string, target: string, timeoutMs = 15_000): Promise<RawLink> {
  const peerId = newPeerId();
  const signaling = new SignalClient({ url: signalUrl, peerId, createSocket: nodeSocketFactory });
  signaling.start();
  await signaling.ready();
  const cid = newConnectionId();
  const peer = new SimplePeer({ initiator: true, trickle: true, wrtc: nodeWrtc, config: { iceServers: [] } });
  peer.on('signal', (sig: object) => signaling.signal(target, { cid, sig: normalizeSignal(sig as Record<string, unknown>) }));
  signaling.on('signal', ({ from, data }) => {
    if (from === target && data.cid === cid && !(peer as unknown as { destroyed: boolean }).destroyed) {
      peer.signal(normalizeSignal(data.sig as Record<string, unknown>) as unknown as SimplePeer.SignalData);
    }
  });
  const received: Uint8Array[] = [];
  peer.on('data', (data: Uint8Array) => received.push(new Uint8Array(data)));
  peer.on('error', () => {});
  const closed = new Promise<void>((resolve) => peer.on('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('hostile link did not connect')), timeoutMs);
    peer.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return {
    peerId,
    peer,
    received,
    closed: closed.finally(() => signaling.close()),
    send: (message) => peer.send(message),
    destroy: () => {
      peer.destroy();
      signaling.close();
    },
  };
}

/** Resolves true if `promise` settles within `ms`, false otherwise. */
export function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms)),
  ]);
}
