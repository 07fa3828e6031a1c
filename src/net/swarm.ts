// A peer's place in the network: its signaling connection, its links to other peers, and the
// sessions running the wire protocol on them.
//
// Dev docs. `sessions` holds open sessions by peer id; `connecting` holds connection attempts in
// progress (ours or theirs) by peer id, each identified by its attempt id (`cid`) that every signal
// carries, so signals of an abandoned attempt are ignored. When both sides offer at once, the
// smaller peer id keeps its offers and the other answers them.
//
// Racing (`dial`): a connect that has not succeeded RACE_AFTER_MS after its latest attempt began
// starts another one beside it (at most MAX_ATTEMPTS_PER_PEER at once, CONNECT_ATTEMPTS in all, and
// up to STACK_FAILURE_RETRIES more that our own WebRTC stack failed on the other side's signals),
// rather than waiting a deadline out: a lost offer or a stuck channel then costs RACE_AFTER_MS, not
// ANSWER_TIMEOUT_MS or CHANNEL_OPEN_TIMEOUT_MS. The answering side keeps up to
// MAX_ATTEMPTS_PER_PEER attempts from one peer (a newer offer past that replaces its oldest) and says
// so in every signal it sends (`race: true`); one that does not (a version from before racing)
// replaces an attempt in progress when the same peer offers again, so an attempt it answered is
// never raced, only retried after its deadline. Both sides must keep the same attempt: the
// initiator runs the session's auth on one open attempt at a time (`adoptInTurn`), the answerer can
// only complete the auth the initiator runs, and whichever attempt is adopted first closes every
// other attempt with that peer, on both sides.
//
// A peer whose session ended in a ProtocolError is banned for BAN_MS: we neither connect to it nor
// accept its offers.
//
// Offers from others are admitted through `admission` (admission.ts): attempts in progress are
// capped apart from sessions, in all and per origin (the signaling server's opaque tag for the
// sender's address), and a full table drops the oldest attempt not yet open from the busiest
// origin. Every attempt has a short deadline until ICE connects (peer-link.ts), so a dead offer costs
// little, and an origin's slot is held until then even if its sender abandons the attempt.
// Notices that we gave up on an attempt go out at a bounded rate (`notices`): a flood of offers
// must not make us flood the signaling server.
//
// `have`: the swarm sends no list of holdings to anyone. When the host comes to hold files
// (`announce`), each session tells its peer only about roots that peer asked it for (session.ts).
//
// The signaling server says who sent a signal, but a lying server could say anything: a link's
// remote id is a claim until its session's auth frame proves it on the channel (session.ts). So a
// session is adopted (put in `sessions`, emitted as 'session', returned by connect) only once
// authenticated; a failed proof bans that id without touching a session it already proved.

import { ClosedError, ProtocolError } from '../errors.js';
import type { BlockId } from '../content/format.js';
import { AdmissionTable, type AdmissionLimits } from './admission.js';
import { Emitter } from './emitter.js';
import type { HolderSource } from './holder-pool.js';
import type { PeerIdentity } from './identity.js';
import { newConnectionId } from './ids.js';
import {
  ABANDON_NOTICES_PER_SECOND,
  ABANDON_NOTICE_BURST,
  BAN_MS,
  CONNECT_ATTEMPTS,
  CONNECT_RETRY_AFTER_REFUSAL_MS,
  ICE_TIMEOUT_MS,
  MAX_ATTEMPTS_PER_PEER,
  MAX_CONNECTING,
  MAX_CONNECTING_PER_ORIGIN,
  MAX_PEERS,
  RACE_AFTER_MS,
  STACK_FAILURE_RETRIES,
} from './limits.js';
import { PeerLink, isStackSignalError, type PathType, type WrtcImplementation } from './peer-link.js';
import { quietLog, type Logger } from '../log.js';
import { PeerSession, type SessionHost } from './session.js';
import { SignalClient, type WebSocketFactory } from './signal-client.js';
import { TokenBucket } from './token-bucket.js';

export interface SwarmOptions {
  /** Who this node is: its peer id and the key that proves it. */
  readonly identity: PeerIdentity;
  readonly signalUrl: string;
  /** More signaling URLs of the same deployment, tried in turn when one is lost (SignalClient). */
  readonly signalAlternates?: readonly string[];
  readonly createSocket: WebSocketFactory;
  readonly host: SessionHost;
  readonly wrtc?: WrtcImplementation;
  readonly iceServers?: RTCIceServer[];
  readonly maxPeers?: number;
  readonly log?: Logger;
  readonly connectTimeoutMs?: number;
  readonly iceTimeoutMs?: number;
  /** Bounds on offers taken from others; default MAX_CONNECTING, MAX_CONNECTING_PER_ORIGIN. */
  readonly admission?: Partial<AdmissionLimits>;
}

export interface SwarmEvents extends Record<string, unknown> {
  session: PeerSession;
  'session-closed': { peer: string; error?: Error; session: PeerSession };
  banned: { peer: string; reason: string };
  /** A peer told us it now holds these files (roots it was asked for and lacked). */
  have: { session: PeerSession; topics: BlockId[] };
  /** Another connection proved our peer id to the signaling server: this node is off the network. */
  replaced: void;
  /** The path a new session took is known (read from the WebRTC stack's stats after it opened). */
  path: { peer: string; path: PathType };
}

interface Attempt {
  link: PeerLink;
  /** Where an offer came from (the signaling server's tag); undefined for our own offers. */
  origin?: string;
  /** Settles with the session this attempt made, or why it made none. */
  done: Promise<PeerSession>;
  /**
   * Our own attempts: whether the answering side keeps several attempts from us ('racing') or, a
   * version from before racing, replaces one in progress with the next ('legacy'); unknown until
   * it first signals back.
   */
  answerer?: 'racing' | 'legacy';
}

/** How the first of a connect's attempts in progress ended, or that it is time to race another. */
type Outcome = { attempt: Attempt; session?: PeerSession; error?: Error } | 'race';

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
/** The other side gave up on (or refused) our attempt. */
class PeerAbandonedError extends ClosedError {
  constructor(peer: string) {
    super(`peer ${peer} abandoned the connection attempt`);
  }
}
/** An attempt offered to us, dropped to make room in a full in-progress table. */
class EvictedError extends ClosedError {
  constructor(peer: string) {
    super(`connection attempt from peer ${peer}, dropped for room,`);
  }
}
/** Signal type (ours, not WebRTC's) telling a peer we gave up on connection attempt `cid`. */
const ABANDON = 'mycel-abandon';

/** What a swarm holds, for metrics and tests. */
export interface SwarmStats {
  readonly sessions: number;
  /** Attempts offered to us and still in progress, now and at most at once. */
  readonly connecting: number;
  readonly connectingPeak: number;
  /** Our own attempts in progress. */
  readonly dialing: number;
  /** Offers refused and attempts dropped for room, since start. */
  readonly offersRefused: number;
  readonly attemptsEvicted: number;
  /** Sessions opened since start, by the path they took (see PathType). */
  readonly paths: Readonly<Record<PathType | 'unknown', number>>;
}

/** Paths of recent sessions kept for `pathOf` after they close (a one-shot get asks at its end). */
const MAX_PATHS_KEPT = 256;

export class Swarm extends Emitter<SwarmEvents> implements HolderSource {
  readonly signaling: SignalClient;
  readonly peerId: string;
  private readonly sessionsById = new Map<string, PeerSession>();
  /** Attempts in progress by peer, oldest first: at most MAX_ATTEMPTS_PER_PEER each way. */
  private readonly connecting = new Map<string, Attempt[]>();
  /** connect() calls in progress by peer: a second caller shares the first one's. */
  private readonly dials = new Map<string, Promise<PeerSession>>();
  /** Per peer, the latest of our open attempts running the session's auth (see adoptInTurn). */
  private readonly proving = new Map<string, Promise<unknown>>();
  private readonly bans = new Map<string, number>();
  private readonly admission: AdmissionTable<Attempt>;
  private readonly notices = new TokenBucket(ABANDON_NOTICE_BURST, ABANDON_NOTICES_PER_SECOND);
  private offersRefused = 0;
  private readonly pathCounts: Record<PathType | 'unknown', number> = {
    relay: 0,
    srflx: 0,
    prflx: 0,
    host: 0,
    unknown: 0,
  };
  private readonly paths = new Map<string, PathType>();
  private attemptsEvicted = 0;
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly options: SwarmOptions) {
    super();
    this.peerId = options.identity.id;
    this.log = options.log ?? quietLog;
    this.admission = new AdmissionTable<Attempt>({
      maxTotal: MAX_CONNECTING,
      maxPerOrigin: MAX_CONNECTING_PER_ORIGIN,
      holdMs: options.iceTimeoutMs ?? ICE_TIMEOUT_MS,
      ...options.admission,
    });
    this.signaling = new SignalClient({
      url: options.signalUrl,
      alternates: options.signalAlternates,
      identity: options.identity,
      createSocket: options.createSocket,
    });
    this.signaling.on('replaced', () => {
      this.log.warn('another connection proved this peer id to the signaling server: this one stopped', {
        peer: this.peerId,
      });
      this.emit('replaced', undefined);
    });
    this.signaling.on('signal', ({ from, data, origin }) => this.onSignal(from, data, origin));
    this.signaling.on('rejected', (r) => {
      if (r.code === 'unknown-peer' && r.ref) {
        // The peer left (a stale holder list): give up on it now rather than at the deadline.
        for (const attempt of this.attemptsWith(r.ref)) attempt.link.close(new PeerGoneError(r.ref));
        return;
      }
      this.log.warn('signaling server rejected a message', r);
    });
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

  stats(): SwarmStats {
    let dialing = 0;
    for (const list of this.connecting.values()) for (const a of list) if (a.link.initiator) dialing++;
    return {
      sessions: this.sessionsById.size,
      connecting: this.admission.size,
      connectingPeak: this.admission.peak,
      dialing,
      offersRefused: this.offersRefused,
      attemptsEvicted: this.attemptsEvicted,
      paths: { ...this.pathCounts },
    };
  }

  /** The path the latest session with `peer` took, if known (kept a while after it closed). */
  pathOf(peer: string): PathType | undefined {
    return this.paths.get(peer);
  }

  /** Whether the ICE servers in use include a TURN relay. */
  get hasRelay(): boolean {
    const servers = this.options.iceServers ?? this.signaling.iceServers;
    return servers.some((server) =>
      (Array.isArray(server.urls) ? server.urls : [server.urls]).some((url) => /^turns?:/.test(url)),
    );
  }

  /**
   * Tells the signaling server we hold `topics`, and each session's peer only those of them it
   * asked us for and we lacked (no list of holdings to peers that did not ask).
   */
  announce(topics: Iterable<string>): void {
    const list = [...topics];
    this.signaling.announce(list);
    const roots = list.filter((t) => t.length === 64);
    if (roots.length) for (const s of this.sessionsById.values()) s.noteHeld(roots);
  }

  withdraw(topics: Iterable<string>): void {
    this.signaling.withdraw(topics);
  }

  /** Peers the signaling server says hold `topic`, banned ones left out. */
  async holders(topic: string): Promise<string[]> {
    const peers = await this.signaling.lookup(topic);
    return peers.filter((p) => !this.isBanned(p));
  }

  /** Topics one holdersOfMany may name now (0: the server takes no batched lookups). */
  get lookupBatch(): number {
    return this.signaling.lookupBatch;
  }

  /**
   * Peers holding each of `topics` (at most lookupBatch), in one signaling message, banned ones
   * left out: a sample of at most MAX_BATCHED_HOLDERS per topic (see SignalClient.lookupMany).
   */
  async holdersOfMany(topics: readonly string[]): Promise<Map<string, string[]>> {
    const found = await this.signaling.lookupMany(topics);
    for (const [topic, peers] of found)
      found.set(
        topic,
        peers.filter((p) => !this.isBanned(p)),
      );
    return found;
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

  /** A session with `peer`, connecting (raced and retried attempts, see `dial`) if there is none. */
  async connect(peer: string): Promise<PeerSession> {
    if (this.closed) throw new ClosedError('swarm');
    if (peer === this.peerId) throw new RangeError('cannot connect to self');
    const open = this.sessionsById.get(peer);
    if (open && !open.closed) return open;
    if (this.isBanned(peer)) throw new ProtocolError('banned', 'banned for misbehaving', peer);
    const inProgress = this.dials.get(peer);
    if (inProgress) return inProgress;
    const dial = this.dial(peer);
    this.dials.set(peer, dial);
    const clear = () => {
      if (this.dials.get(peer) === dial) this.dials.delete(peer);
    };
    dial.then(clear, clear);
    return dial;
  }

  /**
   * Attempts to `peer` until one makes a session: another starts when none is in progress, or
   * beside the one(s) in progress RACE_AFTER_MS after the latest began (unless its answerer is of
   * a version that would drop it for the new one); CONNECT_ATTEMPTS in all, not counting up to
   * STACK_FAILURE_RETRIES that our own stack failed on their signals. An offer of theirs in
   * progress is waited on rather than crossed with ours.
   */
  private async dial(peer: string): Promise<PeerSession> {
    const running = new Set<Attempt>();
    let made = 0;
    let lastStart = 0;
    let lastError: Error | undefined;
    // An attempt that gave way (to the other side's offer, or to one of ours that won) does not use
    // up an attempt (bounded all the same, should both sides keep crossing).
    let givenWay = 0;
    // Nor does one our own stack failed at once on the other side's signals, up to a bound.
    let stackFailures = 0;
    try {
      for (;;) {
        if (this.closed) throw new ClosedError('swarm');
        const opened = this.sessionsById.get(peer);
        if (opened && !opened.closed) return opened;
        if (running.size === 0) {
          if (made >= CONNECT_ATTEMPTS) throw lastError ?? new ClosedError(`connection to peer ${peer}`);
          const theirs = this.attemptsWith(peer).find((a) => !a.link.initiator);
          made++;
          if (theirs) running.add(theirs);
          else {
            running.add(this.startLink(peer, true, newConnectionId()));
            lastStart = Date.now();
          }
        }
        const mayRace = () =>
          made < CONNECT_ATTEMPTS &&
          running.size < MAX_ATTEMPTS_PER_PEER &&
          [...running].every((a) => a.link.initiator && a.answerer !== 'legacy');
        const outcome = await this.firstOf(running, mayRace() ? lastStart + RACE_AFTER_MS - Date.now() : undefined);
        if (outcome === 'race') {
          // An answer that came meanwhile may say the answerer would drop our attempt for a new one.
          if (!mayRace()) continue;
          // The other side's offer came meanwhile and ours gave way to it: wait on that instead.
          const theirs = this.attemptsWith(peer).find((a) => !a.link.initiator);
          if (theirs) {
            running.add(theirs);
            continue;
          }
          made++;
          running.add(this.startLink(peer, true, newConnectionId()));
          lastStart = Date.now();
          this.log.debug('connect attempt raced', { peer, attempt: made });
          continue;
        }
        running.delete(outcome.attempt);
        if (outcome.session) return outcome.session;
        const error = outcome.error as Error;
        lastError = error;
        this.log.debug('connect attempt failed', { peer, attempt: made, error: error.message });
        if (error instanceof PeerGoneError || this.isBanned(peer)) throw error;
        if (error instanceof SupersededError && givenWay++ < CONNECT_ATTEMPTS) made--;
        else if (isStackSignalError(error) && stackFailures++ < STACK_FAILURE_RETRIES) made--;
        // Refused (its table or our origin's share of it was full): offering again at once would be
        // refused again.
        if (error instanceof PeerAbandonedError && running.size === 0 && made < CONNECT_ATTEMPTS) {
          await new Promise((resolve) => setTimeout(resolve, CONNECT_RETRY_AFTER_REFUSAL_MS * (0.5 + Math.random())));
        }
      }
    } finally {
      // Given up (or closing): none of ours is left trying. After a success the rest are closed
      // already, and the winner (still here if a loser's end was heard first) stays.
      const won = this.sessionsById.get(peer)?.link;
      for (const attempt of running)
        if (attempt.link.initiator && attempt.link !== won) attempt.link.close(new SupersededError());
    }
  }

  /** Waits for the first of `attempts` to settle, or `raceInMs` (if given) to pass. */
  private firstOf(attempts: Iterable<Attempt>, raceInMs: number | undefined): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      const timer = raceInMs === undefined ? undefined : setTimeout(() => resolve('race'), Math.max(0, raceInMs));
      for (const attempt of attempts) {
        attempt.done.then(
          (session) => {
            clearTimeout(timer);
            resolve({ attempt, session });
          },
          (error: unknown) => {
            clearTimeout(timer);
            resolve({ attempt, error: error as Error });
          },
        );
      }
    });
  }

  private attemptsWith(peer: string): readonly Attempt[] {
    return this.connecting.get(peer) ?? [];
  }

  private forget(peer: string, attempt: Attempt): void {
    const list = this.connecting.get(peer);
    const index = list?.indexOf(attempt) ?? -1;
    if (index < 0) return;
    list!.splice(index, 1);
    if (list!.length === 0) this.connecting.delete(peer);
  }

  private startLink(peer: string, initiator: boolean, cid: string, origin?: string): Attempt {
    const link = new PeerLink({
      remote: peer,
      initiator,
      cid,
      wrtc: this.options.wrtc,
      // Given ones win (tests, embedders); else the server's, read per attempt so renewed TURN
      // credentials are used from then on.
      iceServers: this.options.iceServers ?? this.signaling.iceServers,
      connectTimeoutMs: this.options.connectTimeoutMs,
      iceTimeoutMs: this.options.iceTimeoutMs,
      // Answering, we say we keep several attempts from one peer, so it may race them.
      sendSignal: (sig) => this.signaling.signal(peer, initiator ? { cid, sig } : { cid, sig, race: true }),
    });
    const done = link.opened.then(() => (initiator ? this.adoptInTurn(link) : this.adopt(link)));
    const attempt: Attempt = { link, done, origin };
    // A side that gives up tells the other, which would otherwise wait out its own deadline
    // (simple-peer can fail on one side only).
    link.on('close', () => {
      this.admission.end(attempt, link.iceConnectedAt === undefined);
      if (!link.everConnected) this.notifyAbandoned(peer, cid);
    });
    if (origin !== undefined) this.admission.add(attempt, origin);
    const list = this.connecting.get(peer);
    if (list) list.push(attempt);
    else this.connecting.set(peer, [attempt]);
    const clear = () => {
      this.admission.end(attempt, link.iceConnectedAt === undefined);
      this.forget(peer, attempt);
    };
    done.then(clear, clear);
    return attempt;
  }

  /**
   * Our attempts run the session's auth one at a time per peer, so the answerer (which adopts the
   * attempt whose auth completes) and we end on the same one: another attempt whose channel opened
   * meanwhile waits (its peer's auth frame kept as an early frame) and goes on only if this one
   * fails; if this one wins, it is closed.
   */
  private adoptInTurn(link: PeerLink): Promise<PeerSession> {
    const peer = link.remote;
    const before = this.proving.get(peer) ?? Promise.resolve();
    const mine = before
      .catch(() => undefined)
      .then(() => {
        if (link.closed) throw new ClosedError(`link to ${peer}`);
        return this.adopt(link);
      });
    this.proving.set(peer, mine);
    const clear = () => {
      if (this.proving.get(peer) === mine) this.proving.delete(peer);
    };
    mine.then(clear, clear);
    return mine;
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
    // This attempt won: the others with this peer (raced, or crossed) are closed, on both sides.
    for (const other of [...this.attemptsWith(peer)])
      if (other.link !== link) this.dropAttempt(peer, other, new SupersededError());
    session.on('have', (topics) => this.emit('have', { session, topics }));
    this.log.debug('peer connected', {
      peer,
      initiator: link.initiator,
      iceMs: (link.iceConnectedAt ?? NaN) - link.startedAt,
      openMs: (link.openedAt ?? NaN) - link.startedAt,
      provenMs: Date.now() - link.startedAt,
    });
    this.notePath(peer, link);
    this.emit('session', session);
    return session;
  }

  private notePath(peer: string, link: PeerLink): void {
    link.pathType().then(
      (type) => {
        this.pathCounts[type ?? 'unknown']++;
        if (!type) return;
        this.paths.delete(peer);
        this.paths.set(peer, type);
        if (this.paths.size > MAX_PATHS_KEPT) this.paths.delete(this.paths.keys().next().value!);
        this.log.debug('peer path', { peer, path: type });
        this.emit('path', { peer, path: type });
      },
      () => this.pathCounts.unknown++,
    );
  }

  /** Tells `peer` we gave up on attempt `cid`, unless we have been telling too many lately. */
  private notifyAbandoned(peer: string, cid: string): void {
    if (this.closed || !this.notices.take()) return;
    this.signaling.signal(peer, { cid, sig: { type: ABANDON } });
  }

  private onSignal(from: string, data: Record<string, unknown>, origin: string | undefined): void {
    if (this.closed || this.isBanned(from)) return;
    const { cid, sig } = data as { cid?: unknown; sig?: unknown };
    if (typeof cid !== 'string' || !CID_RE.test(cid) || typeof sig !== 'object' || sig === null) return;
    const signal = sig as Record<string, unknown>;
    const attempts = this.attemptsWith(from);
    const attempt = attempts.find((a) => a.link.cid === cid);
    if (attempt) {
      if (signal.type === ABANDON) attempt.link.close(new PeerAbandonedError(from));
      else {
        if (attempt.link.initiator) attempt.answerer ??= data.race === true ? 'racing' : 'legacy';
        attempt.link.signal(signal);
      }
      return;
    }
    if (signal.type !== 'offer') return; // a late signal of an attempt that is gone
    const ours = attempts.filter((a) => a.link.initiator);
    // Both offered at once: the smaller id keeps its own offers.
    if (ours.length > 0 && this.peerId < from) return;
    if (!this.sessionsById.has(from) && this.sessionsById.size >= (this.options.maxPeers ?? MAX_PEERS)) {
      this.refuse(from, cid, 'too many peers');
      return;
    }
    // A peer races at most MAX_ATTEMPTS_PER_PEER attempts with us: a newer offer replaces its oldest
    // (which still holds its origin's slot until its ICE deadline if it ended before ICE, like any),
    // so attempt ids cannot grow our tables.
    const theirs = attempts.filter((a) => !a.link.initiator);
    if (theirs.length >= MAX_ATTEMPTS_PER_PEER) this.dropAttempt(from, theirs[0]!, new SupersededError());
    // Without a tag (a signaling server that sends none) each peer id is its own origin.
    const tag = origin ?? `peer:${from}`;
    const admission = this.admission.admit(tag, (a) => !a.link.everConnected);
    if (!admission.admitted) {
      this.refuse(from, cid, admission.reason);
      return;
    }
    if (admission.evict) {
      const victim = admission.evict;
      this.attemptsEvicted++;
      this.log.debug('connection attempt dropped for room', { peer: victim.link.remote, for: from });
      this.dropAttempt(victim.link.remote, victim, new EvictedError(victim.link.remote));
    }
    // Ours give way only once theirs is taken: refused, we keep our own offers going.
    for (const own of ours) this.dropAttempt(from, own, new SupersededError());
    const accepted = this.startLink(from, false, cid, tag);
    accepted.link.signal(signal);
  }

  private dropAttempt(peer: string, attempt: Attempt, error: Error): void {
    attempt.link.close(error);
    this.admission.end(attempt, attempt.link.iceConnectedAt === undefined);
    this.forget(peer, attempt);
  }

  private refuse(peer: string, cid: string, reason: string): void {
    this.offersRefused++;
    this.log.debug('offer refused', { peer, reason });
    this.notifyAbandoned(peer, cid);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const list of this.connecting.values()) for (const attempt of [...list]) attempt.link.close();
    this.connecting.clear();
    this.admission.clear();
    for (const session of this.sessionsById.values()) session.close();
    this.sessionsById.clear();
    this.signaling.close();
  }
}
