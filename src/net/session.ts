// The wire protocol on one link: proving who is at each end, then our requests to the peer (want,
// store, commit) and the peer's requests to us, answered from the host's store.
//
// Dev docs. A session begins unauthenticated: each side's first frame is `auth`, a signature by its
// peer key over the channel's DTLS fingerprints (channel-auth.ts). Until the peer's auth verifies
// under the id we believe it has (`peer`), any other frame is a violation, and AUTH_TIMEOUT_MS
// without it closes the session. `authenticated` resolves once ours is sent and theirs verified;
// only then does the swarm hand the session out, and requests wait for it too.
//
// `pending` maps our request ids to their resolvers and timers; at most MAX_INFLIGHT_PER_PEER of
// ours are out at once (`slots`). The peer's requests wait in `incoming` (at most
// MAX_QUEUED_REQUESTS: more is a flood) and are answered a few at a time. Every frame the peer
// sends is decoded with bounds; a frame that breaks the protocol, an answer to nothing we asked, or
// a block whose bytes do not hash to the id we asked for closes the session with a ProtocolError,
// which the swarm turns into a ban. Nothing is stored before it is verified.
//
// `have`: no unsolicited lists of holdings. A session never tells its peer what the host holds, not
// when it opens and not when the host gains a file: holders are found through signaling lookups.
// The one `have` we send answers a question the peer asked: it wanted an id we did not hold
// (`missed`, the last MAX_MISSES_REMEMBERED of them), and the host has since come to hold the file
// of that root (`noteHeld`). The peer's `have` frames are taken at a bounded rate (`haveBucket`,
// one token per topic): more is a flood. They are passed on as events and never kept, so nothing a
// peer names grows our memory.
//
// `audit` (replication/audit.ts): the peer sends a block id and a fresh nonce, and we answer with
// SHA-256(tag ‖ nonce ‖ block) from the host's store, or not-found. Audits wait in the same
// `incoming` queue as wants, so a flood of audits is cut off like a flood of wants.

import {
  abortedBy,
  ClosedError,
  ProtocolError,
  StoreRefusedError,
  TimeoutError,
  UNAVAILABLE_MESSAGE,
  QuotaError,
  isWireErrorReason,
  throwIfAborted,
  type ProtocolReason,
} from '../errors.js';
import { channelAuthMessage } from './channel-auth.js';
import { verifyPeerSignature, type PeerIdentity } from './identity.js';
import { defaultBackend, type CryptoBackend } from '../content/crypto.js';
import type { BlockId } from '../content/format.js';
import type { BlockStore } from '../store/block-store.js';
import { Emitter } from './emitter.js';
import {
  AUTH_TIMEOUT_MS,
  ERROR_FLUSH_MS,
  HAVE_TOPICS_PER_SECOND,
  HAVE_TOPIC_BURST,
  LOST_ROOT_BURST,
  LOST_ROOTS_PER_SECOND,
  SUSPECT_REPORT_BURST,
  SUSPECT_REPORTS_PER_SECOND,
  HEARTBEAT_INTERVAL_MS,
  HEARTBEAT_TIMEOUT_MS,
  MAX_INFLIGHT_PER_PEER,
  MAX_MISSES_REMEMBERED,
  MAX_QUEUED_REQUESTS,
  REQUEST_TIMEOUT_MS,
  ERROR_LINGER_MS,
  SERVE_CONCURRENCY,
} from './limits.js';
import type { PeerLink } from './peer-link.js';
import { TokenBucket } from './token-bucket.js';
import {
  FrameType,
  LOST_PEER_BYTES,
  decodeFrame,
  encodeFrame,
  encodeFrameParts,
  type CommitTerms,
  type Frame,
  type SuspectReason,
} from './wire.js';
import { decodeReplicaReport, encodeReplicaReport, type ReplicaReport } from './replica-report.js';
import { fromBase64Url } from '../content/bytes.js';
import { peerIdOf } from './identity.js';
import { identifyBlock, verifyBlock, type VerifiedBlock } from '../content/verified.js';
import { AUDIT_NONCE_BYTES, auditDigest } from '../replication/audit.js';

/** What a session needs from the node it belongs to. */
export interface SessionHost {
  readonly store: BlockStore;
  readonly backend?: CryptoBackend;
  /**
   * Keeps a block pushed by `peer` as part of `upload` (already verified against `id`). Throw
   * StoreRefusedError or QuotaError to refuse. Absent: every store is refused as not allowed.
   */
  receiveStore?(peer: string, upload: Uint8Array, id: BlockId, bytes: Uint8Array): Promise<void>;
  /** The upload `upload` is the file `root`, kept on `terms` (the owner's copies and expiry; may be empty). */
  receiveCommit?(peer: string, upload: Uint8Array, root: BlockId, terms: CommitTerms): Promise<void>;
  /**
   * This node's view of the copies of `root` (a replica-query from `peer`). Absent, or undefined:
   * the peer hears not-found (we keep no replication view of that file).
   */
  replicaReport?(peer: string, root: BlockId): ReplicaReport | undefined | Promise<ReplicaReport | undefined>;
  /**
   * `peer` reports that the peer that was `former` no longer holds `roots` (its storage was wiped).
   * Unproven: the host believes it only for holders absent now. Absent: noted with no effect.
   */
  receiveLost?(peer: string, former: string, roots: readonly BlockId[]): void;
  /**
   * `peer` says `holder` failed its audit of `root`. Never believed: a host that holds the file may
   * audit the holder itself (bounded). Absent: noted with no effect.
   */
  receiveSuspect?(peer: string, root: BlockId, holder: string, reason: SuspectReason): void;
  /**
   * Told of a local failure met while answering `peer` (a disk error from the store, anything not a
   * refusal): the peer heard only not-found or a generic `unavailable` refusal.
   */
  onLocalFault?(
    error: unknown,
    context: { peer: string; op: 'want' | 'store' | 'commit' | 'audit' | 'replica-query' },
  ): void;
}

export interface SessionEvents extends Record<string, unknown> {
  /** The peer says it now holds these files (after we asked it for their roots). */
  have: BlockId[];
  close: { error?: Error };
}

type Answer = Extract<
  Frame,
  {
    type:
      | FrameType.Block
      | FrameType.NotFound
      | FrameType.Stored
      | FrameType.Refused
      | FrameType.Committed
      | FrameType.Audited
      | FrameType.ReplicaReport
      | FrameType.LostNoted
      | FrameType.SuspectNoted;
  }
>;

interface Pending {
  kind:
    | FrameType.Want
    | FrameType.Store
    | FrameType.Commit
    | FrameType.Audit
    | FrameType.ReplicaQuery
    | FrameType.Lost
    | FrameType.Suspect;
  resolve: (answer: Answer) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

export interface RequestOptions {
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

export class PeerSession extends Emitter<SessionEvents> {
  /** The peer id at the other end: proven once `authenticated` has resolved. */
  readonly peer: string;
  /** Resolves once both ends proved their ids on this channel; rejects if the session closes first. */
  readonly authenticated: Promise<void>;
  /** Ids the peer wanted that we did not hold, oldest first (a Set keeps insertion order). */
  private readonly missed = new Set<BlockId>();
  private readonly haveBucket = new TokenBucket(HAVE_TOPIC_BURST, HAVE_TOPICS_PER_SECOND);
  private readonly lostBucket = new TokenBucket(LOST_ROOT_BURST, LOST_ROOTS_PER_SECOND);
  private readonly suspectBucket = new TokenBucket(SUSPECT_REPORT_BURST, SUSPECT_REPORTS_PER_SECOND);
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly incoming: Frame[] = [];
  private serving = 0;
  private slotsUsed = 0;
  private readonly slotWaiters: (() => void)[] = [];
  private lastHeard = Date.now();
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private readonly authTimer: ReturnType<typeof setTimeout>;
  private fingerprints: { local: string; remote: string } | undefined;
  private authSent = false;
  private remoteAuthed = false;
  private isAuthenticated = false;
  private settleAuth!: (error?: Error) => void;
  private readonly backend: CryptoBackend;
  private isClosed = false;
  /** Settles once the error frame telling the peer why we close is in the channel. */
  private errorSent: Promise<unknown> | undefined;
  readonly stats = { blocksServed: 0, bytesServed: 0, blocksFetched: 0, bytesFetched: 0 };

  constructor(
    readonly link: PeerLink,
    private readonly host: SessionHost,
    identity: PeerIdentity,
  ) {
    super();
    this.peer = link.remote;
    this.backend = host.backend ?? defaultBackend();
    this.authenticated = new Promise<void>((resolve, reject) => {
      this.settleAuth = (error) => (error ? reject(error) : resolve());
    });
    this.authenticated.catch(() => {
      // Requests waiting on it hear why; a session nobody used needs no one told.
    });
    this.authTimer = setTimeout(() => {
      this.close(new TimeoutError(`proving the identity of peer ${this.peer}`, AUTH_TIMEOUT_MS));
    }, AUTH_TIMEOUT_MS);
    if (link.closed) {
      this.close(new ClosedError(`link to ${this.peer}`));
      return;
    }
    link.on('violation', (error) => this.fail(error));
    link.on('close', ({ error }) => this.close(error));
    try {
      this.fingerprints = link.fingerprints();
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    link.receive((bytes) => this.onFrame(bytes));
    this.sendAuth(identity, this.fingerprints).catch((error: unknown) => this.close(error as Error));
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Our auth: the first frame we send, before anything else can be queued behind it. */
  private async sendAuth(identity: PeerIdentity, fingerprints: { local: string; remote: string }): Promise<void> {
    try {
      const signature = await identity.sign(channelAuthMessage(fingerprints.local, fingerprints.remote));
      if (this.isClosed) return;
      await this.link.send(encodeFrame({ type: FrameType.Auth, id: 0, signature }));
    } catch (error) {
      this.close(error as Error);
      return;
    }
    this.authSent = true;
    this.maybeAuthenticated();
  }

  /** The peer's auth: its key's signature over the channel's fingerprints as we see them. */
  private checkAuth(signature: Uint8Array): void {
    const { local, remote } = this.fingerprints!;
    if (!verifyPeerSignature(this.peer, channelAuthMessage(remote, local), signature)) {
      this.fail(
        this.violation(
          'bad-auth',
          'its channel auth does not verify: not the peer it was said to be, or not on this channel',
        ),
      );
      return;
    }
    this.remoteAuthed = true;
    this.maybeAuthenticated();
  }

  private maybeAuthenticated(): void {
    if (!this.authSent || !this.remoteAuthed || this.isClosed || this.isAuthenticated) return;
    this.isAuthenticated = true;
    clearTimeout(this.authTimer);
    this.lastHeard = Date.now();
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_INTERVAL_MS);
    this.settleAuth();
  }

  /** Requests we may still send before the per-peer bound is reached. */
  get freeSlots(): number {
    return MAX_INFLIGHT_PER_PEER - this.slotsUsed;
  }

  /**
   * The host now holds the files `roots`: tells the peer about those it asked us for and we did
   * not have. Nothing is sent about the others (no unsolicited lists of holdings).
   */
  noteHeld(roots: Iterable<BlockId>): void {
    if (this.isClosed) return;
    const asked: BlockId[] = [];
    for (const root of roots) if (this.missed.delete(root)) asked.push(root);
    // At most MAX_MISSES_REMEMBERED ids: always one frame.
    if (asked.length > 0) {
      this.sendFrame({ type: FrameType.Have, id: 0, topics: asked }).catch(() => {
        // A have is a hint: a closed channel has nobody left to tell.
      });
    }
  }

  private rememberMiss(id: BlockId): void {
    this.missed.delete(id);
    this.missed.add(id);
    if (this.missed.size > MAX_MISSES_REMEMBERED) this.missed.delete(this.missed.values().next().value!);
  }

  /**
   * Asks the peer for a block. Resolves with its bytes, verified against `id` and marked so (the
   * store and the reader do not hash them again), or undefined if the peer does not have it.
   * @throws ProtocolError if the peer answers with the wrong bytes (the session is then closed);
   *   TimeoutError; ClosedError.
   */
  async want(id: BlockId, options: RequestOptions = {}): Promise<VerifiedBlock | undefined> {
    const answer = await this.request({ type: FrameType.Want, id: 0, block: id }, options);
    if (answer.type === FrameType.NotFound) return undefined;
    if (answer.type !== FrameType.Block) throw this.violation('bad-answer', 'answered a want with something else');
    const verified = await verifyBlock(answer.bytes, id, this.backend);
    if (!verified) {
      const error = this.violation('bad-block', `sent bytes that do not hash to block ${id.slice(0, 12)}`);
      this.fail(error);
      throw error;
    }
    this.stats.blocksFetched++;
    this.stats.bytesFetched += verified.length;
    return verified;
  }

  /** Pushes a block to a peer that keeps blocks (a seed). @throws StoreRefusedError */
  async store(upload: Uint8Array, bytes: Uint8Array, options: RequestOptions = {}): Promise<void> {
    const answer = await this.request({ type: FrameType.Store, id: 0, upload, bytes }, options);
    if (answer.type === FrameType.Refused) throw new StoreRefusedError(this.peer, answer.reason, answer.message);
    if (answer.type !== FrameType.Stored) throw this.violation('bad-answer', 'answered a store with something else');
  }

  /**
   * Tells a seed that `upload` is complete and is the file `root`, to keep on `terms` (copies wanted,
   * expiry). @throws StoreRefusedError
   */
  async commit(
    upload: Uint8Array,
    root: BlockId,
    options: RequestOptions & { terms?: CommitTerms } = {},
  ): Promise<void> {
    const answer = await this.request({ type: FrameType.Commit, id: 0, upload, root, terms: options.terms }, options);
    if (answer.type === FrameType.Refused) throw new StoreRefusedError(this.peer, answer.reason, answer.message);
    if (answer.type !== FrameType.Committed)
      throw this.violation('bad-answer', 'answered a commit with something else');
  }

  /**
   * Challenges the peer to prove it holds block `id`: resolves with its answer to `nonce` (the
   * caller checks it with checkAnswer), or undefined if the peer says it does not hold the block.
   * @throws TimeoutError (no answer within `timeoutMs`); ClosedError (an older peer that does not
   *   know audits closes the session: that too is no proof).
   */
  async audit(id: BlockId, nonce: Uint8Array, options: RequestOptions = {}): Promise<Uint8Array | undefined> {
    if (nonce.length !== AUDIT_NONCE_BYTES) throw new RangeError(`an audit nonce is ${AUDIT_NONCE_BYTES} bytes`);
    const answer = await this.request({ type: FrameType.Audit, id: 0, block: id, nonce }, options);
    if (answer.type === FrameType.NotFound) return undefined;
    if (answer.type !== FrameType.Audited) throw this.violation('bad-answer', 'answered an audit with something else');
    return answer.digest;
  }

  /**
   * Asks the peer (a seed holding `root`) for its view of the file's copies. Undefined: it keeps no
   * view of that root.
   * @throws ProtocolError if the report breaks its schema (the session is then closed); TimeoutError;
   *   ClosedError (an older peer that does not know the frame closes the session).
   */
  async queryReplicas(root: BlockId, options: RequestOptions = {}): Promise<ReplicaReport | undefined> {
    const answer = await this.request({ type: FrameType.ReplicaQuery, id: 0, root }, options);
    if (answer.type === FrameType.NotFound) return undefined;
    if (answer.type !== FrameType.ReplicaReport) {
      throw this.violation('bad-answer', 'answered a replica query with something else');
    }
    let report: ReplicaReport;
    try {
      report = decodeReplicaReport(answer.json);
    } catch (error) {
      const violation = this.violation('bad-answer', `sent a bad replica report: ${(error as Error).message}`);
      this.fail(violation);
      throw violation;
    }
    if (report.root !== root) {
      const violation = this.violation('bad-answer', 'sent a replica report of another file');
      this.fail(violation);
      throw violation;
    }
    return report;
  }

  /**
   * Tells the peer that the peer that was `formerId` (this node before its storage was wiped) no
   * longer holds `roots` (1..MAX_LOST_ROOTS of them). @throws ClosedError, TimeoutError
   */
  async reportLost(formerId: string, roots: readonly BlockId[], options: RequestOptions = {}): Promise<void> {
    const former = fromBase64Url(formerId);
    if (former?.length !== LOST_PEER_BYTES) throw new RangeError(`${formerId} is not a peer id`);
    const answer = await this.request({ type: FrameType.Lost, id: 0, former, roots: [...roots] }, options);
    if (answer.type !== FrameType.LostNoted)
      throw this.violation('bad-answer', 'answered a lost report with something else');
  }

  /**
   * Tells the peer (a seed holding `root`) that `holder` failed this node's audit of it, so the seed
   * audits it itself. @throws ClosedError, TimeoutError
   */
  async reportSuspect(
    root: BlockId,
    holder: string,
    reason: SuspectReason,
    options: RequestOptions = {},
  ): Promise<void> {
    const raw = fromBase64Url(holder);
    if (raw?.length !== LOST_PEER_BYTES) throw new RangeError(`${holder} is not a peer id`);
    const answer = await this.request({ type: FrameType.Suspect, id: 0, root, holder: raw, reason }, options);
    if (answer.type !== FrameType.SuspectNoted)
      throw this.violation('bad-answer', 'answered a suspect report with something else');
  }

  private async acquireSlot(signal?: AbortSignal): Promise<void> {
    while (this.slotsUsed >= MAX_INFLIGHT_PER_PEER) {
      if (this.isClosed) throw new ClosedError(`session with ${this.peer}`);
      throwIfAborted(signal);
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    }
    this.slotsUsed++;
  }

  private releaseSlot(): void {
    this.slotsUsed--;
    this.slotWaiters.shift()?.();
  }

  private async request(frame: Frame & { id: number }, options: RequestOptions): Promise<Answer> {
    if (this.isClosed) throw new ClosedError(`session with ${this.peer}`);
    throwIfAborted(options.signal);
    if (!this.isAuthenticated) await this.authenticated;
    await this.acquireSlot(options.signal);
    try {
      // Aborted while it waited for the peer's proof or a slot: nothing is sent.
      throwIfAborted(options.signal);
      const id = this.nextId++;
      if (this.nextId > 0xffffffff) this.nextId = 1;
      const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
      return await new Promise<Answer>((resolve, reject) => {
        const onAbort = () => {
          this.pending.delete(id);
          clearTimeout(timer);
          reject(abortedBy(options.signal!));
        };
        const timer = setTimeout(() => {
          this.pending.delete(id);
          options.signal?.removeEventListener('abort', onAbort);
          reject(new TimeoutError(`request ${id} to peer ${this.peer}`, timeoutMs));
        }, timeoutMs);
        this.pending.set(id, {
          kind: frame.type as Pending['kind'],
          resolve: (answer) => {
            options.signal?.removeEventListener('abort', onAbort);
            resolve(answer);
          },
          reject: (error) => {
            options.signal?.removeEventListener('abort', onAbort);
            reject(error);
          },
          timer,
        });
        options.signal?.addEventListener('abort', onAbort, { once: true });
        this.sendFrame({ ...frame, id } as Frame).catch((error: Error) => {
          const pending = this.pending.get(id);
          if (!pending) return;
          this.pending.delete(id);
          clearTimeout(pending.timer);
          pending.reject(error);
        });
      });
    } finally {
      this.releaseSlot();
    }
  }

  private sendFrame(frame: Frame): Promise<void> {
    if (this.isClosed) return Promise.reject(new ClosedError(`session with ${this.peer}`));
    return this.link.send(encodeFrameParts(frame));
  }

  private violation(reason: ProtocolReason, message: string): ProtocolError {
    return new ProtocolError(reason, message, this.peer);
  }

  private onFrame(bytes: Uint8Array): void {
    if (this.isClosed) return;
    this.lastHeard = Date.now();
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (error) {
      if (error instanceof ProtocolError) error.peerId = this.peer;
      this.fail(error as Error);
      return;
    }
    if (!this.remoteAuthed && frame.type !== FrameType.Auth && frame.type !== FrameType.Error) {
      this.fail(this.violation('unauthenticated', `sent a frame (type ${frame.type}) before proving its id`));
      return;
    }
    switch (frame.type) {
      case FrameType.Auth:
        if (this.remoteAuthed) {
          this.fail(this.violation('bad-auth', 'sent a second auth'));
          return;
        }
        this.checkAuth(frame.signature);
        return;
      case FrameType.Have:
        if (!this.haveBucket.take(Math.max(1, frame.topics.length))) {
          this.fail(
            this.violation(
              'flood',
              `sent more than ${HAVE_TOPICS_PER_SECOND} have topics per second (burst ${HAVE_TOPIC_BURST})`,
            ),
          );
          return;
        }
        this.emit('have', frame.topics);
        return;
      case FrameType.Ping:
        this.sendFrame({ type: FrameType.Pong, id: frame.id }).catch(() => {
          // A pong that cannot go means the channel closed: its close handler has said so.
        });
        return;
      case FrameType.Pong:
        if (frame.id === 0) return; // a heartbeat's answer
        break;
      case FrameType.Error:
        this.close(new ProtocolError(frame.reason, `closed the session: ${frame.message}`, this.peer));
        return;
      case FrameType.Lost:
        // One token per root: a peer naming roots faster than any wiped browser could is flooding.
        if (!this.lostBucket.take(frame.roots.length)) {
          this.fail(
            this.violation(
              'flood',
              `sent more than ${LOST_ROOTS_PER_SECOND} lost roots per second (burst ${LOST_ROOT_BURST})`,
            ),
          );
          return;
        }
        this.enqueue(frame);
        return;
      case FrameType.Suspect:
        if (!this.suspectBucket.take()) {
          this.fail(
            this.violation(
              'flood',
              `sent more than ${SUSPECT_REPORTS_PER_SECOND} suspect reports per second (burst ${SUSPECT_REPORT_BURST})`,
            ),
          );
          return;
        }
        this.enqueue(frame);
        return;
      case FrameType.Want:
      case FrameType.Store:
      case FrameType.Commit:
      case FrameType.Audit:
      case FrameType.ReplicaQuery:
        this.enqueue(frame);
        return;
      case FrameType.Block:
      case FrameType.NotFound:
      case FrameType.Stored:
      case FrameType.Refused:
      case FrameType.Committed:
      case FrameType.Audited:
      case FrameType.ReplicaReport:
      case FrameType.LostNoted:
      case FrameType.SuspectNoted:
        break; // answers: matched to our request below
    }
    const pending = this.pending.get(frame.id);
    if (!pending || !answers(pending.kind, frame.type)) {
      this.fail(this.violation('unsolicited', `sent an answer (type ${frame.type}) to no request of ours`));
      return;
    }
    this.pending.delete(frame.id);
    clearTimeout(pending.timer);
    pending.resolve(frame as Answer);
  }

  /** Queues a request of the peer's to be answered in turn. */
  private enqueue(frame: Frame): void {
    if (this.incoming.length >= MAX_QUEUED_REQUESTS) {
      this.fail(this.violation('flood', `sent more than ${MAX_QUEUED_REQUESTS} requests without waiting`));
      return;
    }
    this.incoming.push(frame);
    this.serveNext();
  }

  private serveNext(): void {
    while (this.serving < SERVE_CONCURRENCY && this.incoming.length > 0 && !this.isClosed) {
      const frame = this.incoming.shift()!;
      this.serving++;
      this.answer(frame)
        .catch((error) => {
          if (!(error instanceof ClosedError)) this.fail(error as Error);
        })
        .finally(() => {
          this.serving--;
          this.serveNext();
        });
    }
  }

  private async answer(frame: Frame): Promise<void> {
    switch (frame.type) {
      case FrameType.Want: {
        let bytes: Uint8Array | undefined;
        try {
          bytes = await this.host.store.get(frame.block);
        } catch (error) {
          // Our fault, not the peer's: it hears not-found, never our error's text (paths).
          this.host.onLocalFault?.(error, { peer: this.peer, op: 'want' });
        }
        if (!bytes) {
          this.rememberMiss(frame.block);
          return this.sendFrame({ type: FrameType.NotFound, id: frame.id });
        }
        await this.sendFrame({ type: FrameType.Block, id: frame.id, bytes });
        this.stats.blocksServed++;
        this.stats.bytesServed += bytes.length;
        return;
      }
      case FrameType.Store: {
        const refuse = (reason: Extract<Frame, { type: FrameType.Refused }>['reason'], message: string) =>
          this.sendFrame({ type: FrameType.Refused, id: frame.id, reason, message });
        if (!this.host.receiveStore) return refuse('not-allowed', 'this peer keeps no blocks for others');
        // Hashed once here: the store takes the marked bytes without hashing them again.
        const { id, bytes } = await identifyBlock(frame.bytes, this.backend);
        try {
          await this.host.receiveStore(this.peer, frame.upload.slice(), id, bytes);
        } catch (error) {
          if (error instanceof StoreRefusedError) return refuse(error.reason, error.detail);
          if (error instanceof QuotaError) return refuse('quota', error.message);
          this.host.onLocalFault?.(error, { peer: this.peer, op: 'store' });
          return refuse('unavailable', UNAVAILABLE_MESSAGE);
        }
        return this.sendFrame({ type: FrameType.Stored, id: frame.id });
      }
      case FrameType.Commit: {
        if (!this.host.receiveCommit) {
          return this.sendFrame({
            type: FrameType.Refused,
            id: frame.id,
            reason: 'not-allowed',
            message: 'no uploads here',
          });
        }
        try {
          await this.host.receiveCommit(this.peer, frame.upload.slice(), frame.root, frame.terms ?? {});
        } catch (error) {
          if (error instanceof StoreRefusedError) {
            return this.sendFrame({
              type: FrameType.Refused,
              id: frame.id,
              reason: error.reason,
              message: error.detail,
            });
          }
          this.host.onLocalFault?.(error, { peer: this.peer, op: 'commit' });
          return this.sendFrame({
            type: FrameType.Refused,
            id: frame.id,
            reason: 'unavailable',
            message: UNAVAILABLE_MESSAGE,
          });
        }
        return this.sendFrame({ type: FrameType.Committed, id: frame.id });
      }
      case FrameType.Audit: {
        let bytes: Uint8Array | undefined;
        try {
          bytes = await this.host.store.get(frame.block);
        } catch (error) {
          this.host.onLocalFault?.(error, { peer: this.peer, op: 'audit' });
        }
        if (!bytes) return this.sendFrame({ type: FrameType.NotFound, id: frame.id });
        return this.sendFrame({ type: FrameType.Audited, id: frame.id, digest: auditDigest(frame.nonce, bytes) });
      }
      case FrameType.ReplicaQuery: {
        let report: ReplicaReport | undefined;
        try {
          report = await this.host.replicaReport?.(this.peer, frame.root);
        } catch (error) {
          this.host.onLocalFault?.(error, { peer: this.peer, op: 'replica-query' });
        }
        if (!report) return this.sendFrame({ type: FrameType.NotFound, id: frame.id });
        return this.sendFrame({ type: FrameType.ReplicaReport, id: frame.id, json: encodeReplicaReport(report) });
      }
      case FrameType.Lost: {
        this.host.receiveLost?.(this.peer, peerIdOf(frame.former), frame.roots);
        return this.sendFrame({ type: FrameType.LostNoted, id: frame.id });
      }
      case FrameType.Suspect: {
        this.host.receiveSuspect?.(this.peer, frame.root, peerIdOf(frame.holder), frame.reason);
        return this.sendFrame({ type: FrameType.SuspectNoted, id: frame.id });
      }
      default:
        return;
    }
  }

  private beat(): void {
    if (Date.now() - this.lastHeard > HEARTBEAT_TIMEOUT_MS) {
      this.close(new TimeoutError(`heartbeat from peer ${this.peer}`, HEARTBEAT_TIMEOUT_MS));
      return;
    }
    // Id 0: a heartbeat takes no request slot; any frame heard back keeps the session alive.
    this.sendFrame({ type: FrameType.Ping, id: 0 }).catch(() => {
      // A ping that cannot go means the channel closed: its close handler has said so.
    });
  }

  /** Tells the peer why (best effort), then closes. */
  private fail(error: Error): void {
    if (this.isClosed) return;
    // The peer hears the wire's reason when there is one; our finer reasons stay ours.
    const reason = error instanceof ProtocolError && isWireErrorReason(error.reason) ? error.reason : 'protocol';
    this.errorSent = this.link
      .send(encodeFrame({ type: FrameType.Error, id: 0, reason, message: error.message }))
      .catch(() => {
        // Best effort: the session closes whether or not the peer hears why.
      });
    this.close(error);
  }

  close(error?: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.authTimer);
    const closedError = error ?? new ClosedError(`session with ${this.peer}`);
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(closedError instanceof ProtocolError ? new ClosedError(`session with ${this.peer}`) : closedError);
    }
    this.pending.clear();
    for (const wake of this.slotWaiters.splice(0)) wake();
    this.incoming.length = 0;
    this.missed.clear();
    this.settleAuth(closedError);
    // Let an error frame go out before the channel is torn down: it may wait behind blocks being
    // sent (a peer flooding us with wants), so until it is in the channel, within a bound.
    const closeLink = () => setTimeout(() => this.link.close(error), error ? ERROR_LINGER_MS : 0);
    if (this.errorSent) {
      const deadline = setTimeout(() => this.link.close(error), ERROR_FLUSH_MS);
      const flushed = () => {
        clearTimeout(deadline);
        closeLink();
      };
      this.errorSent.then(flushed, flushed);
    } else closeLink();
    this.emit('close', { error });
    this.removeAllListeners();
  }
}

function answers(kind: Pending['kind'], type: FrameType): boolean {
  switch (kind) {
    case FrameType.Want:
      return type === FrameType.Block || type === FrameType.NotFound;
    case FrameType.Store:
      return type === FrameType.Stored || type === FrameType.Refused;
    case FrameType.Commit:
      return type === FrameType.Committed || type === FrameType.Refused;
    case FrameType.Audit:
      return type === FrameType.Audited || type === FrameType.NotFound;
    case FrameType.ReplicaQuery:
      return type === FrameType.ReplicaReport || type === FrameType.NotFound;
    case FrameType.Lost:
      return type === FrameType.LostNoted;
    case FrameType.Suspect:
      return type === FrameType.SuspectNoted;
  }
}
