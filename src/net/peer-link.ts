// One WebRTC data channel to one peer, through simple-peer. Owns the connect deadlines (one for
// our offer's answer, one until ICE connects, one from there to the channel open, one for the
// whole connect: an attempt whose offer was lost, or whose other side never completes ICE, such as
// a dead offer, is given up early so the next attempt starts), the fragmenting of frames into
// data-channel messages, and backpressure: a frame is sent one message at a time, pausing while the channel has more than
// SEND_HIGH_WATER bytes buffered, so memory stays bounded however fast the caller produces.
// Frames go out whole and in order.
//
// The WebRTC implementation is the browser's own, or one injected as `wrtc` in Node.

import SimplePeer from 'simple-peer';
import { ClosedError, ProtocolError, TimeoutError } from '../errors.js';
import { sdpFingerprints } from './channel-auth.js';
import { Emitter } from './emitter.js';
import {
  ANSWER_TIMEOUT_MS,
  CHANNEL_OPEN_TIMEOUT_MS,
  CONNECT_TIMEOUT_MS,
  ICE_TIMEOUT_MS,
  MAX_EARLY_FRAMES,
  MAX_MESSAGE_BYTES,
  SEND_DRAIN_POLL_MS,
  SEND_HIGH_WATER,
} from './limits.js';
import { Reassembler, fragments } from './wire.js';

/**
 * The path a connection took, from the selected candidate pair: `relay` if either end is a TURN
 * relay, else `srflx`/`prflx` if either end is an address a NAT gave (found through STUN, or by
 * the checks themselves), else `host` (a local address: same network, or no NAT).
 */
export type PathType = 'relay' | 'srflx' | 'prflx' | 'host';
export const PATH_TYPES: readonly PathType[] = ['relay', 'srflx', 'prflx', 'host'];

/** The path type of the selected candidate pair in an RTCPeerConnection's stats, if there is one. */
export function selectedPathType(stats: Iterable<Record<string, unknown>>): PathType | undefined {
  const entries = [...stats];
  const byId = new Map(entries.map((entry) => [entry.id, entry]));
  const transport = entries.find((entry) => entry.type === 'transport' && entry.selectedCandidatePairId);
  const pair =
    byId.get(transport?.selectedCandidatePairId) ??
    // Firefox marks the pair itself; others may only say which succeeded and was nominated.
    entries.find((entry) => entry.type === 'candidate-pair' && entry.selected === true) ??
    entries.find((entry) => entry.type === 'candidate-pair' && entry.nominated === true && entry.state === 'succeeded');
  if (!pair) return undefined;
  const types = [byId.get(pair.localCandidateId), byId.get(pair.remoteCandidateId)].map((c) => c?.candidateType);
  return PATH_TYPES.find((type) => types.includes(type));
}

/** What simple-peer's `wrtc` option takes. */
export type WrtcImplementation = NonNullable<SimplePeer.Options['wrtc']>;

export interface LinkOptions {
  /** The remote peer's id. */
  readonly remote: string;
  readonly initiator: boolean;
  /** Identifies this connection attempt in signals, so stale ones are ignored. */
  readonly cid: string;
  readonly sendSignal: (data: Record<string, unknown>) => void;
  readonly wrtc?: WrtcImplementation;
  readonly iceServers?: RTCIceServer[];
  readonly connectTimeoutMs?: number;
  /** Until ICE connects; default ICE_TIMEOUT_MS (and never past the whole connect's deadline). */
  readonly iceTimeoutMs?: number;
  /** For the initiator, until the first signal back; default ANSWER_TIMEOUT_MS. */
  readonly answerTimeoutMs?: number;
}

export interface LinkEvents extends Record<string, unknown> {
  connect: void;
  /** The peer sent messages that are not fragments of frames; whoever owns the link closes it. */
  violation: ProtocolError;
  close: { error?: Error };
}

/** The parts of the data channel simple-peer keeps private that backpressure needs. */
interface ChannelInternals {
  /** Called by the channel's onmessage for each message (simple-peer pushes it into its stream). */
  _onChannelMessage(event: { data: unknown }): void;
  destroyed: boolean;
  _channel?: {
    readyState: string;
    bufferedAmount: number;
    addEventListener(type: 'bufferedamountlow', listener: () => void): void;
    removeEventListener(type: 'bufferedamountlow', listener: () => void): void;
  } | null;
  /** The RTCPeerConnection, whose descriptions carry the DTLS fingerprints. */
  _pc?: {
    getStats(): Promise<{ values(): Iterable<Record<string, unknown>> }>;
    readonly localDescription: { sdp?: string } | null;
    readonly remoteDescription: { sdp?: string } | null;
  } | null;
}

/**
 * A data-channel message as bytes: simple-peer sets binaryType 'arraybuffer', so anything else (a
 * text message) is not a fragment.
 */
function messageBytes(data: unknown): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new ProtocolError(
    'bad-fragment',
    `a ${typeof data === 'string' ? 'text' : 'non-binary'} message is not a fragment`,
  );
}

/**
 * node-datachannel writes candidates as "a=candidate:…" with a null sdpMLineIndex; other stacks
 * want the bare attribute and an index. Normalised on the way out and in.
 */
export function normalizeSignal(data: Record<string, unknown>): Record<string, unknown> {
  const candidate = data.candidate as { candidate?: unknown; sdpMLineIndex?: unknown } | undefined;
  if (!candidate || typeof candidate !== 'object') return data;
  const fixed: Record<string, unknown> = { ...candidate };
  if (typeof fixed.candidate === 'string' && fixed.candidate.startsWith('a='))
    fixed.candidate = fixed.candidate.slice(2);
  if (fixed.sdpMLineIndex === null || fixed.sdpMLineIndex === undefined) fixed.sdpMLineIndex = 0;
  return { ...data, candidate: fixed };
}

/**
 * Whether `error` is our WebRTC stack failing to take the other side's description or candidate
 * (simple-peer's codes for those), rather than the network or a deadline: see STACK_FAILURE_RETRIES.
 */
export function isStackSignalError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === 'ERR_SET_REMOTE_DESCRIPTION' || code === 'ERR_ADD_ICE_CANDIDATE';
}

export class PeerLink extends Emitter<LinkEvents> {
  readonly remote: string;
  readonly cid: string;
  readonly initiator: boolean;
  private readonly peer: SimplePeer.Instance;
  private readonly reassembler = new Reassembler();
  private sending: Promise<void> = Promise.resolve();
  /** The buffer each outgoing message is assembled in (see sendNow). */
  private scratch: Uint8Array | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private iceTimer: ReturnType<typeof setTimeout> | undefined;
  private answerTimer: ReturnType<typeof setTimeout> | undefined;
  private channelTimer: ReturnType<typeof setTimeout> | undefined;
  /** When this attempt began, ICE connected and the channel opened (ms since the epoch). */
  readonly startedAt = Date.now();
  iceConnectedAt: number | undefined;
  openedAt: number | undefined;
  private isConnected = false;
  private isClosed = false;
  /** After a violation nothing more is read: the reassembler's state means nothing any more. */
  private violated = false;
  private closeError: Error | undefined;
  private wakeSender: (() => void) | undefined;
  /** Where whole frames go; until someone takes them, they wait in `early`. */
  private frameHandler: ((frame: Uint8Array) => void) | undefined;
  private early: Uint8Array[] = [];
  readonly opened: Promise<void>;

  constructor(options: LinkOptions) {
    super();
    this.remote = options.remote;
    this.cid = options.cid;
    this.initiator = options.initiator;
    this.peer = new SimplePeer({
      initiator: options.initiator,
      trickle: true,
      wrtc: options.wrtc,
      config: { iceServers: options.iceServers ?? [] },
      channelConfig: { ordered: true },
    });
    this.opened = new Promise<void>((resolve, reject) => {
      this.once('connect', resolve);
      this.once('close', ({ error }) => reject(error ?? new ClosedError(`link to ${options.remote}`)));
    });
    this.opened.catch(() => {
      // Whoever waits for the connect hears why it failed; nobody waiting is no failure.
    });
    const timeoutMs = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    this.connectTimer = setTimeout(() => {
      this.close(new TimeoutError(`connecting to peer ${options.remote}`, timeoutMs));
    }, timeoutMs);
    const iceTimeoutMs = options.iceTimeoutMs ?? ICE_TIMEOUT_MS;
    if (iceTimeoutMs < timeoutMs) {
      this.iceTimer = setTimeout(() => {
        this.close(new TimeoutError(`ICE with peer ${options.remote}`, iceTimeoutMs));
      }, iceTimeoutMs);
    }
    if (options.initiator) {
      const answerTimeoutMs = options.answerTimeoutMs ?? ANSWER_TIMEOUT_MS;
      this.answerTimer = setTimeout(() => {
        this.close(new TimeoutError(`an answer from peer ${options.remote}`, answerTimeoutMs));
      }, answerTimeoutMs);
    }
    this.peer.on('iceStateChange', (state: string) => {
      if (state !== 'connected' && state !== 'completed') return;
      clearTimeout(this.iceTimer);
      if (this.iceConnectedAt !== undefined || this.isConnected) return;
      this.iceConnectedAt = Date.now();
      this.channelTimer = setTimeout(() => {
        this.close(new TimeoutError(`opening the data channel with peer ${options.remote}`, CHANNEL_OPEN_TIMEOUT_MS));
      }, CHANNEL_OPEN_TIMEOUT_MS);
    });
    this.peer.on('signal', (data: object) => {
      if (!this.isClosed) options.sendSignal(normalizeSignal(data as Record<string, unknown>));
    });
    this.peer.on('connect', () => {
      clearTimeout(this.connectTimer);
      clearTimeout(this.iceTimer);
      clearTimeout(this.answerTimer);
      clearTimeout(this.channelTimer);
      this.openedAt = Date.now();
      this.iceConnectedAt ??= this.openedAt;
      this.isConnected = true;
      this.emit('connect', undefined);
    });
    // Each message straight from the channel to the reassembler: simple-peer would push it through
    // its Readable stream first, which cost more CPU per MB than the rest of our receive path
    // (`npm run bench -- network`; test/bench/ab-node.ts). Its stream then never carries data.
    const internals = this.peer as unknown as ChannelInternals;
    internals._onChannelMessage = (event) => {
      if (!internals.destroyed) this.onMessage(event.data);
    };
    this.peer.on('error', (error: Error) => this.close(error));
    this.peer.on('close', () => this.close());
  }

  /**
   * The path this connection took (see PathType), read from the WebRTC stack's stats; undefined
   * if the stack does not say or the connection is gone.
   */
  async pathType(): Promise<PathType | undefined> {
    const pc = (this.peer as unknown as ChannelInternals)._pc;
    if (!pc || this.isClosed) return undefined;
    try {
      return selectedPathType((await pc.getStats()).values());
    } catch {
      return undefined;
    }
  }

  /** Whether the channel ever opened (stays true after close). */
  get everConnected(): boolean {
    return this.isConnected;
  }

  get connected(): boolean {
    return this.isConnected && !this.isClosed;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Bytes queued in the data channel, not yet handed to the network. */
  get bufferedAmount(): number {
    return (this.peer as unknown as { bufferedAmount: number }).bufferedAmount ?? 0;
  }

  /**
   * The DTLS fingerprints of this connection as the WebRTC stack holds them: ours (local
   * description) and the other end's (remote description, the one DTLS checked its certificate
   * against). Canonical strings, see sdpFingerprints.
   * @throws ProtocolError if a description is missing or carries no usable fingerprint.
   */
  fingerprints(): { local: string; remote: string } {
    const pc = (this.peer as unknown as ChannelInternals)._pc;
    const local = pc?.localDescription?.sdp;
    const remote = pc?.remoteDescription?.sdp;
    if (!local || !remote) throw new ProtocolError('no-fingerprint', 'the connection has no descriptions', this.remote);
    return { local: sdpFingerprints(local), remote: sdpFingerprints(remote) };
  }

  /**
   * Hands every whole frame to `handler`, starting with those that arrived before anyone asked:
   * the other side may open the channel and speak before this side's stack reports 'connect'.
   */
  receive(handler: (frame: Uint8Array) => void): void {
    this.frameHandler = handler;
    const early = this.early;
    this.early = [];
    for (const frame of early) {
      if (this.isClosed || this.violated) return;
      handler(frame);
    }
  }

  /** Feeds a signal from the remote peer. */
  signal(data: Record<string, unknown>): void {
    if (this.isClosed || (this.peer as unknown as { destroyed: boolean }).destroyed) return;
    clearTimeout(this.answerTimer);
    try {
      this.peer.signal(normalizeSignal(data) as unknown as SimplePeer.SignalData);
    } catch (error) {
      this.close(error as Error);
    }
  }

  /**
   * Sends one frame (whole, or as parts: wire.ts encodeFrameParts); resolves once all of it is in
   * the channel's buffer below the high-water mark.
   */
  send(frame: Uint8Array | readonly Uint8Array[]): Promise<void> {
    const next = this.sending.then(() => this.sendNow(frame));
    this.sending = next.catch(() => {
      // The caller of send() hears this failure; the next frame still goes after it.
    });
    return next;
  }

  private async sendNow(frame: Uint8Array | readonly Uint8Array[]): Promise<void> {
    // send() below copies each message before it returns (the W3C RTCDataChannel and
    // node-datachannel's polyfill both do), so one buffer serves every message of this link.
    this.scratch ??= new Uint8Array(MAX_MESSAGE_BYTES);
    for (const message of fragments(frame, this.scratch)) {
      if (this.isClosed) throw this.closeError ?? new ClosedError(`link to ${this.remote}`);
      this.peer.send(message);
      if (this.bufferedAmount > SEND_HIGH_WATER) await this.drained();
    }
  }

  /** Waits for bufferedamountlow (simple-peer sets the threshold to 64 KiB) or close. */
  private drained(): Promise<void> {
    const channel = (this.peer as unknown as ChannelInternals)._channel;
    if (!channel) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        channel.removeEventListener('bufferedamountlow', done);
        clearInterval(poll);
        this.wakeSender = undefined;
        resolve();
      };
      this.wakeSender = done;
      channel.addEventListener('bufferedamountlow', done);
      // A stack that misses the event must not stall us forever.
      const poll = setInterval(() => {
        if (channel.bufferedAmount <= SEND_HIGH_WATER / 4 || channel.readyState !== 'open') done();
      }, SEND_DRAIN_POLL_MS);
    });
  }

  private onMessage(data: unknown): void {
    if (this.isClosed || this.violated) return;
    let frame: Uint8Array | undefined;
    try {
      frame = this.reassembler.push(messageBytes(data));
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      error.peerId = this.remote;
      this.violated = true;
      this.emit('violation', error);
      return;
    }
    if (!frame) return;
    if (this.frameHandler) return this.frameHandler(frame);
    // Before the session exists the other side may have sent its auth frame, and nothing more.
    if (this.early.length >= MAX_EARLY_FRAMES) {
      this.close(new ProtocolError('unauthenticated', 'sent frames before the session began', this.remote));
      return;
    }
    this.early.push(frame);
  }

  /** Closes the link; `error` says why (absent for a normal close). Safe to call twice. */
  close(error?: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeError = error;
    clearTimeout(this.connectTimer);
    clearTimeout(this.iceTimer);
    clearTimeout(this.answerTimer);
    clearTimeout(this.channelTimer);
    this.wakeSender?.();
    this.early = [];
    this.frameHandler = undefined;
    try {
      this.peer.destroy();
    } catch {
      // already torn down
    }
    this.emit('close', { error });
    this.removeAllListeners();
  }
}
