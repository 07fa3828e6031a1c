// A peer's place in the network: its signaling connection, its links to other peers, and the
// sessions running the wire protocol on them.
//
// Dev docs. `sessions` holds open sessions by peer id; `connecting` holds connects in progress
// (ours or theirs) by peer id, each identified by a connection id (cid) that every signal carries,
// so signals of an abandoned attempt are ignored. When both sides offer at once, the smaller peer
// id keeps its offer and the other answers it. A failed connect is retried with fresh state
// (CONNECT_ATTEMPTS). A peer whose session ended in a ProtocolError is banned for BAN_MS: we neither
// connect to it nor accept its offers.
//
// The signaling server says who sent a signal, but a lying server could say anything: a link's
// remote id is a claim until its session's auth frame proves it on the channel (session.ts). So a
// session is adopted (put in `sessions`, emitted as 'session', returned by connect) only once
// authenticated; a failed proof bans that id without touching a session it already proved.

import { ClosedError, MycelError, ProtocolError } from '../errors.js';
import { Emitter } from './emitter.js';
import type { PeerIdentity } from './identity.js';
import { newConnectionId } from './ids.js';
import { BAN_MS, CONNECT_ATTEMPTS, MAX_PEERS } from './limits.js';
import { PeerLink, type WrtcImplementation } from './link.js';
import { quietLog, type NetLog } from './log.js';
import { PeerSession, type SessionHost } from './session.js';
import { SignalClient, type WebSocketFactory } from './signal-client.js';

export interface SwarmOptions {
  /** Who this node is: its peer id and the key that proves it. */
  readonly identity: PeerIdentity;
  readonly signalUrl: string;
  readonly createSocket: WebSocketFactory;
  readonly host: SessionHost;
  readonly wrtc?: WrtcImplementation;
  readonly iceServers?: RTCIceServer[];
  readonly maxPeers?: number;
  readonly log?: NetLog;
  readonly connectTimeoutMs?: number;
}

export interface SwarmEvents extends Record<string, unknown> {
  session: PeerSession;
  'session-closed': { peer: string; error?: Error; session: PeerSession };
  banned: { peer: string; reason: string };
  /** Another connection proved our peer id to the signaling server: this node is off the network. */
  replaced: void;
}

interface Attempt {
  link: PeerLink;
  /** Settles when this peer has a session (from this attempt or one that replaced it). */
  done: Promise<PeerSession>;
}

const CID_RE = /^[A-Za-z0-9_-]{1,32}$/;

/** The signaling server no longer knows the peer we were connecting to. */
class PeerGoneError extends ClosedError {
  constructor(peer: string) {
    super(`connection to peer ${peer}, who is not on the network,`);
  }
}
/** Our own offer gave way to the other side's (both offered at once): not a failed attempt. */
class SupersededError extends ClosedError {
  constructor() {
    super('superseded connection attempt');
  }
}
/** Signal type (ours, not WebRTC's) telling a peer we gave up on connection attempt `cid`. */
const ABANDON = 'mycel-abandon';

export class Swarm extends Emitter<SwarmEvents> {
  readonly signaling: SignalClient;
  readonly peerId: string;
  private readonly sessionsById = new Map<string, PeerSession>();
  private readonly connecting = new Map<string, Attempt>();
  private readonly bans = new Map<string, number>();
  private readonly log: NetLog;
  private closed = false;

  constructor(private readonly options: SwarmOptions) {
    super();
    this.peerId = options.identity.id;
    this.log = options.log ?? quietLog;
    this.signaling = new SignalClient({
      url: options.signalUrl,
      identity: options.identity,
      createSocket: options.createSocket,
    });
    this.signaling.on('replaced', () => {
      this.log.warn('another connection proved this peer id to the signaling server: this one stopped', { peer: this.peerId });
      this.emit('replaced', undefined);
    });
    this.signaling.on('signal', ({ from, data }) => this.onSignal(from, data));
    this.signaling.on('rejected', (r) => {
      if (r.code === 'unknown-peer' && r.ref) {
        // The peer left (a stale holder list): give up on it now rather than at the deadline.
        this.connecting.get(r.ref)?.link.close(new PeerGoneError(r.ref));
        return;
      }
      this.log.warn('signaling server rejected a message', r);
    });
  }

  get host(): SessionHost {
    return this.options.host;
  }

  start(): void {
    this.signaling.start();
  }

  sessions(): PeerSession[] {
    return [...this.sessionsById.values()];
  }

  session(peer: string): PeerSession | undefined {
    return this.sessionsById.get(peer);
  }

  announce(topics: Iterable<string>): void {
    const list = [...topics];
    this.signaling.announce(list);
    const hex = list.filter((t) => t.length === 64);
    if (hex.length) for (const s of this.sessionsById.values()) s.sendHave(hex);
  }

  withdraw(topics: Iterable<string>): void {
    this.signaling.withdraw(topics);
  }

  /** Peers the signaling server says hold `topic`, banned ones left out. */
  async holders(topic: string): Promise<string[]> {
    const peers = await this.signaling.lookup(topic);
    return peers.filter((p) => !this.isBanned(p));
  }

  isBanned(peer: string): boolean {
    const until = this.bans.get(peer);
    if (until === undefined) return false;
    if (Date.now() < until) return true;
    this.bans.delete(peer);
    return false;
  }

  /** Bans `peer` for BAN_MS and, unless `keepSession`, closes the session it has. */
  ban(peer: string, reason: string, keepSession = false): void {
    this.bans.set(peer, Date.now() + BAN_MS);
    this.log.warn('peer banned', { peer, reason, forMs: BAN_MS });
    if (!keepSession) this.sessionsById.get(peer)?.close(new ProtocolError('banned', reason, peer));
    this.emit('banned', { peer, reason });
  }

  /** A session with `peer`, connecting (with retries) if there is none. */
  async connect(peer: string): Promise<PeerSession> {
    if (this.closed) throw new ClosedError('swarm');
    if (peer === this.peerId) throw new Error('cannot connect to self');
    const open = this.sessionsById.get(peer);
    if (open && !open.closed) return open;
    if (this.isBanned(peer)) throw new MycelError('PROTOCOL', `peer ${peer} is banned for misbehaving`);
    const inProgress = this.connecting.get(peer);
    if (inProgress) return inProgress.done;
    let lastError: unknown;
    // An attempt that gave way to the other side's offer is followed by waiting on that one; it
    // does not use up an attempt (bounded all the same, should both sides keep crossing).
    let givenWay = 0;
    for (let attempt = 1; attempt <= CONNECT_ATTEMPTS; attempt++) {
      if (this.closed) throw new ClosedError('swarm');
      const current = this.connecting.get(peer) ?? this.startLink(peer, true, newConnectionId());
      try {
        return await current.done;
      } catch (error) {
        lastError = error;
        this.log.debug('connect attempt failed', { peer, attempt, error: (error as Error).message });
        if (error instanceof PeerGoneError || this.isBanned(peer)) break;
        if (error instanceof SupersededError && givenWay++ < CONNECT_ATTEMPTS) attempt--;
        const established = this.sessionsById.get(peer);
        if (established && !established.closed) return established;
      }
    }
    throw lastError;
  }

  private startLink(peer: string, initiator: boolean, cid: string): Attempt {
    const link = new PeerLink({
      remote: peer,
      initiator,
      cid,
      wrtc: this.options.wrtc,
      iceServers: this.options.iceServers,
      connectTimeoutMs: this.options.connectTimeoutMs,
      sendSignal: (sig) => this.signaling.signal(peer, { cid, sig }),
    });
    const done = link.opened.then(() => this.adopt(link));
    const attempt: Attempt = { link, done };
    // A side that gives up tells the other, which would otherwise wait out its own deadline
    // (simple-peer can fail on one side only).
    link.on('close', () => {
      if (!link.everConnected && !this.closed) this.signaling.signal(peer, { cid, sig: { type: ABANDON } });
    });
    this.connecting.set(peer, attempt);
    const clear = () => {
      if (this.connecting.get(peer) === attempt) this.connecting.delete(peer);
    };
    done.then(clear, clear);
    done.catch(() => {});
    return attempt;
  }

  /** Runs the session's auth; the session is ours only if the peer proves its id on the channel. */
  private async adopt(link: PeerLink): Promise<PeerSession> {
    const peer = link.remote;
    const session = new PeerSession(link, this.options.host, this.options.identity);
    let adopted = false;
    session.on('close', ({ error }) => {
      if (this.sessionsById.get(peer) === session) this.sessionsById.delete(peer);
      // A failed proof says nothing against a session that id already proved: keep that one.
      if (error instanceof ProtocolError && error.reason !== 'banned') this.ban(peer, error.message, !adopted);
      if (!adopted) {
        this.log.debug('peer did not prove its id', { peer, error: error?.message });
        return;
      }
      this.log.debug('peer disconnected', { peer, error: error?.message, ...session.stats });
      this.emit('session-closed', { peer, error, session });
    });
    await session.authenticated;
    if (this.closed) {
      session.close();
      throw new ClosedError('swarm');
    }
    const previous = this.sessionsById.get(peer);
    if (previous && !previous.closed) previous.close();
    this.sessionsById.set(peer, session);
    adopted = true;
    this.log.debug('peer connected', { peer, initiator: link.initiator });
    this.emit('session', session);
    return session;
  }

  private onSignal(from: string, data: Record<string, unknown>): void {
    if (this.closed || this.isBanned(from)) return;
    const { cid, sig } = data as { cid?: unknown; sig?: unknown };
    if (typeof cid !== 'string' || !CID_RE.test(cid) || typeof sig !== 'object' || sig === null) return;
    const signal = sig as Record<string, unknown>;
    const attempt = this.connecting.get(from);
    if (attempt && attempt.link.cid === cid) {
      if (signal.type === ABANDON) attempt.link.close(new ClosedError(`peer ${from} abandoned the connection attempt`));
      else attempt.link.signal(signal);
      return;
    }
    if (signal.type !== 'offer') return; // a late signal of an attempt that is gone
    if (attempt) {
      // Both offered at once: the smaller id keeps its own offer.
      if (attempt.link.initiator && this.peerId < from) return;
      attempt.link.close(new SupersededError());
      this.connecting.delete(from);
    }
    if (!this.sessionsById.has(from) && this.sessionsById.size + this.connecting.size >= (this.options.maxPeers ?? MAX_PEERS)) {
      this.log.debug('offer ignored: too many peers', { peer: from });
      return;
    }
    const accepted = this.startLink(from, false, cid);
    accepted.link.signal(signal);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const attempt of this.connecting.values()) attempt.link.close();
    this.connecting.clear();
    for (const session of this.sessionsById.values()) session.close();
    this.sessionsById.clear();
    this.signaling.close();
  }
}
