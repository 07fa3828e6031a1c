// A hostile peer for tests: a real WebRTC data channel (simple-peer on node-datachannel), joined
// through the real signaling server, over which the test sends whatever bytes it likes.
//
// To reach the wire protocol behind the door at all, the raw link first does what any peer must:
// proves its own id with an auth frame over the channel's fingerprints, and waits for the other
// side's auth (checked, so a test knows it reached the peer it named). A test about the door itself
// passes `auth` to sign something else, or nothing.
import SimplePeer from 'simple-peer';
import WebSocket from 'ws';
import { channelAuthMessage, sdpFingerprints } from '../../src/net/channel-auth.js';
import { ephemeralIdentity, verifyPeerSignature, type PeerIdentity } from '../../src/net/identity.js';
import { newConnectionId } from '../../src/net/ids.js';
import { CONNECT_ATTEMPTS, CONNECT_TIMEOUT_MS, STACK_FAILURE_RETRIES } from '../../src/net/limits.js';
import { isStackSignalError, normalizeSignal } from '../../src/net/peer-link.js';
import { SignalClient, type WebSocketLike } from '../../src/net/signal-client.js';
import {
  FrameType,
  Reassembler,
  WIRE_VERSION,
  decodeFrame,
  encodeFrame,
  fragments,
  type Frame,
} from '../../src/net/wire.js';
import { nodeSocketFactory } from '../../src/node/seed.js';
import { nodeWrtc } from '../../src/node/wrtc.js';

export interface Fingerprints {
  /** Ours, from the local description. */
  readonly local: string;
  /** The other side's, from the remote description. */
  readonly remote: string;
}

export interface RawLink {
  readonly peerId: string;
  readonly identity: PeerIdentity;
  readonly peer: SimplePeer.Instance;
  readonly fingerprints: Fingerprints;
  /** Messages received from the other side. */
  readonly received: Uint8Array[];
  /** Resolves when the other side (or the network) closes the channel. */
  readonly closed: Promise<void>;
  /** Resolves once `match` holds for what was received (checked at each arrival); rejects after `timeoutMs` (default: the link's). */
  until(match: (received: Uint8Array[]) => boolean, timeoutMs?: number): Promise<void>;
  send(message: Uint8Array): void;
  /** Sends a whole frame (fragmented as the protocol wants). */
  sendFrame(frame: Frame): void;
  destroy(): void;
}

export interface RawLinkOptions {
  readonly timeoutMs?: number;
  readonly identity?: PeerIdentity;
  /**
   * What to send as our auth frame's signature, given the channel's fingerprints; undefined sends
   * no auth at all. Default: an honest signature over (our fingerprints, theirs).
   */
  readonly auth?: ((fingerprints: Fingerprints, identity: PeerIdentity) => Promise<Uint8Array | undefined>) | 'honest';
  /** Answer the other side's heartbeat pings, so it keeps the session open as long as we like. */
  readonly keepAlive?: boolean;
}

/** The fingerprints of simple-peer's connection, as the session computes them. */
export function rawFingerprints(peer: SimplePeer.Instance): Fingerprints {
  const pc = (peer as unknown as { _pc: RTCPeerConnection })._pc;
  return { local: sdpFingerprints(pc.localDescription!.sdp), remote: sdpFingerprints(pc.remoteDescription!.sdp) };
}

export function honestAuth(fingerprints: Fingerprints, identity: PeerIdentity): Promise<Uint8Array> {
  return identity.sign(channelAuthMessage(fingerprints.local, fingerprints.remote));
}

export async function openRawLink(signalUrl: string, target: string, options: RawLinkOptions = {}): Promise<RawLink> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const identity = options.identity ?? ephemeralIdentity();
  const signaling = new SignalClient({ url: signalUrl, identity, createSocket: nodeSocketFactory });
  signaling.start();
  await signaling.ready();
  const received: Uint8Array[] = [];
  const arrivals: (() => void)[] = [];
  let peer!: SimplePeer.Instance;
  let cid = '';
  signaling.on('signal', ({ from, data }) => {
    if (from === target && data.cid === cid && !(peer as unknown as { destroyed: boolean }).destroyed) {
      peer.signal(normalizeSignal(data.sig as Record<string, unknown>) as unknown as SimplePeer.SignalData);
    }
  });
  // Like any peer, it tries again with a fresh connection when one fails to come up (about one in
  // twenty does on node-datachannel; see the notes), and, as the swarm does, an attempt its own
  // stack failed on the answer does not count (STACK_FAILURE_RETRIES).
  let stackFailures = 0;
  for (let attempt = 1; ; attempt++) {
    cid = newConnectionId();
    const thisCid = cid;
    peer = new SimplePeer({ initiator: true, trickle: true, wrtc: nodeWrtc, config: { iceServers: [] } });
    peer.on('signal', (sig: object) =>
      signaling.signal(target, { cid: thisCid, sig: normalizeSignal(sig as Record<string, unknown>) }),
    );
    let failure: unknown;
    peer.on('error', (error: Error) => {
      // Its close is what the test waits for.
      failure = error;
    });
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), CONNECT_TIMEOUT_MS);
      peer.once('connect', () => {
        clearTimeout(timer);
        resolve(true);
      });
      peer.once('close', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (connected) break;
    peer.destroy();
    if (isStackSignalError(failure) && stackFailures++ < STACK_FAILURE_RETRIES) attempt--;
    if (attempt >= CONNECT_ATTEMPTS) {
      signaling.close();
      throw new Error('hostile link: no connection');
    }
  }
  peer.on('data', (data: Uint8Array) => {
    const message = new Uint8Array(data);
    received.push(message);
    arrivals.splice(0).forEach((wake) => wake());
    if (
      options.keepAlive &&
      message[0] === 0 &&
      message[1] === WIRE_VERSION &&
      message[2] === FrameType.Ping &&
      !peer.destroyed
    ) {
      const id = new DataView(message.buffer, message.byteOffset + 3, 4).getUint32(0);
      for (const m of fragments(encodeFrame({ type: FrameType.Pong, id }))) peer.send(m);
    }
  });
  const closed = new Promise<void>((resolve) => peer.on('close', () => resolve()));
  const destroy = () => {
    peer.destroy();
    signaling.close();
  };
  const deadline = <T>(promise: Promise<T>, what: string, ms = timeoutMs) =>
    Promise.race([
      promise,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`hostile link: ${what} within ${ms} ms`)), ms),
      ),
    ]);
  const sendFrame = (frame: Frame) => {
    for (const message of fragments(encodeFrame(frame))) peer.send(message);
  };
  try {
    const fingerprints = rawFingerprints(peer);
    const auth = options.auth ?? 'honest';
    // The other side's auth is the first thing it sends. Waiting for it also means its session
    // exists: what we send next reaches the protocol, not a half-open connection.
    const theirs = deadline(
      new Promise<Uint8Array>((resolve) => {
        const check = () => (received[0] ? resolve(received[0]) : arrivals.push(check));
        check();
      }),
      'no auth from the other side',
    );
    if (auth === 'honest')
      sendFrame({ type: FrameType.Auth, id: 0, signature: await honestAuth(fingerprints, identity) });
    const frame = decodeFrame((await theirs).subarray(1));
    if (
      frame.type !== FrameType.Auth ||
      !verifyPeerSignature(target, channelAuthMessage(fingerprints.remote, fingerprints.local), frame.signature)
    ) {
      throw new Error('hostile link: the other side did not prove it is the peer asked for');
    }
    if (auth !== 'honest') {
      const signature = await auth(fingerprints, identity);
      if (signature) sendFrame({ type: FrameType.Auth, id: 0, signature });
    }
    return {
      peerId: identity.id,
      identity,
      peer,
      fingerprints,
      received,
      closed: closed.finally(() => signaling.close()),
      until: (match, ms) =>
        deadline(
          new Promise<void>((resolve) => {
            const check = () => (match(received) ? resolve() : arrivals.push(check));
            check();
          }),
          'the awaited messages',
          ms,
        ),
      send: (message) => peer.send(message),
      sendFrame,
      destroy,
    };
  } catch (error) {
    destroy();
    throw error;
  }
}

/** Error frames the other side sent before closing, decoded as their messages. */
export function errorFrames(received: Uint8Array[]): string[] {
  return received
    .filter((m) => m[0] === 0 && m[1] === WIRE_VERSION && m[2] === FrameType.Error)
    .map((m) => new TextDecoder().decode(m.subarray(8)));
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

/** Frames the other side sent, reassembled from its messages and decoded. */
export function framesOf(received: Uint8Array[]): Frame[] {
  const reassembler = new Reassembler();
  const frames: Frame[] = [];
  for (const message of received) {
    const frame = reassembler.push(message);
    if (frame) frames.push(decodeFrame(frame));
  }
  return frames;
}

/** A WebSocket factory whose sockets leave from `localAddress` (e.g. 127.0.0.7: another address). */
export function boundSocketFactory(localAddress: string): (url: string) => WebSocketLike {
  return (url) => new WebSocket(url, { localAddress, maxPayload: 1024 * 1024 }) as unknown as WebSocketLike;
}

/** A real SDP offer from a real RTCPeerConnection that is closed at once: it never does ICE. */
export async function deadOffer(): Promise<Record<string, unknown>> {
  const peer = new SimplePeer({ initiator: true, trickle: true, wrtc: nodeWrtc, config: { iceServers: [] } });
  peer.on('error', () => {
    // A dead offer is never answered: its peer only ever errors out.
  });
  const offer = await new Promise<Record<string, unknown>>((resolve) => {
    peer.on('signal', (signal: Record<string, unknown>) => signal.type === 'offer' && resolve(signal));
  });
  peer.destroy();
  return offer;
}

export interface OfferFlood {
  /** Offers sent so far. */
  readonly sent: () => number;
  stop(): void;
}

/**
 * Dead offers against `target`: from each of `addresses`, `idsPerAddress` peers with real keys
 * (signed hellos) each send a real offer with a fresh connection id every `everyMs`, and never a
 * candidate. What the flooder hopes: to hold every slot the target has for connections in progress.
 */
export async function startOfferFlood(
  signalUrl: string,
  target: string,
  options: { addresses: readonly string[]; idsPerAddress: number; everyMs: number },
): Promise<OfferFlood> {
  const offers = await Promise.all(Array.from({ length: 4 }, () => deadOffer()));
  const clients: SignalClient[] = [];
  for (const address of options.addresses) {
    for (let i = 0; i < options.idsPerAddress; i++) {
      const client = new SignalClient({
        url: signalUrl,
        identity: ephemeralIdentity(),
        createSocket: boundSocketFactory(address),
      });
      client.start();
      clients.push(client);
    }
  }
  await Promise.all(clients.map((c) => c.ready(30_000)));
  let sent = 0;
  let stopped = false;
  const timers = clients.map((client, i) => {
    const offer = () => {
      if (stopped) return;
      client.signal(target, { cid: newConnectionId(), sig: offers[i % offers.length]! });
      sent++;
    };
    // Spread over the period, so the flood is steady rather than in bursts.
    const start = setTimeout(
      () => {
        offer();
        timers[i] = setInterval(offer, options.everyMs);
      },
      (i / clients.length) * options.everyMs,
    );
    return start;
  });
  return {
    sent: () => sent,
    stop() {
      stopped = true;
      for (const timer of timers) {
        clearTimeout(timer);
        clearInterval(timer);
      }
      for (const client of clients) client.close();
    },
  };
}
