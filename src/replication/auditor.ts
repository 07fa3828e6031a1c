// The auditor: challenges the holders of files, each at random times, and says for every challenge
// whether the holder proved it still holds the file. Isomorphic (seeds and pages); the clock, the
// randomness, the network and the file's blocks are injected, so tests drive it with fakes.
//
// Dev docs. The auditor tracks (root, holder) pairs, at most `maxPairs` (holder lists come from
// lookups, which peers can grow). Each pair waits nextAuditDelay(random, interval), so within any
// interval every pair is audited at least once and no holder can predict when. At most
// `maxInFlight` audits run at once; pairs whose turn came meanwhile wait in line (bounded by the
// pairs). An audit picks a uniformly random block of the file and challenges that very holder (a
// session with its peer id, never another holder's), in one of three ways:
//   digest       the auditor holds the block: a fresh random nonce, and the holder must return
//                auditDigest(nonce, block). 32 bytes each way instead of a block.
//   block        the auditor does not hold it: the block is fetched from the holder and must hash to
//                its id (the session checks that, and closes on a peer that sends wrong bytes).
//   precomputed  an owner that kept a file's challenges (challengeSeeds/prepareChallenge) but not its
//                blocks: the stored nonce is sent, the stored digest expected (`challenge` option).
// Verdicts: `passed`; `failed` for a wrong digest, a bad block, not-found, an error, or no answer
// within AUDIT_DEADLINE_MS; `unreachable` when no session with the holder could be opened at all.
// Unreachable is NOT a failure: whether a holder is present is the repair engine's business
// (presence and grace); the pair is simply asked again after its next delay. A holder that answers
// nothing but is connected fails: it was there, and could not prove it.
//
// What a pass proves, and what it does not: that the holder could produce the block's bytes before
// the deadline. A holder may keep nothing and fetch the block from another holder at audit time; a
// digest audit lets it do so only within the deadline, and costs it a whole block per audit, but
// cannot rule it out. A holder missing a fraction p of a file fails each audit with probability p.

import type { BlockId } from '../content/format.js';
import { ProtocolError, TimeoutError } from '../errors.js';
import {
  AUDIT_CHALLENGES_PER_FILE,
  AUDIT_NONCE_BYTES,
  auditDigest,
  challengeSeeds,
  checkAnswer,
  nextAuditDelay,
  prepareChallenge,
  type AuditChallenge,
} from './audit.js';

/**
 * Time a holder has to answer one challenge once its session is open. A digest answer costs the
 * holder one block read (≤ 1 MiB) and one SHA-256 of it: milliseconds. A block audit moves one
 * block, 10 s being 1 MiB at under 1 Mbit/s. Tighter would fail honest holders on slow links; much
 * looser lets a holder that keeps nothing fetch blocks from others at leisure. It stays below the
 * session's own request timeout, so the auditor's deadline is the one that speaks.
 */
export const AUDIT_DEADLINE_MS = 10_000;
/** Audits running at once, per auditor: each may move a block, and holds a session busy. */
export const MAX_AUDITS_IN_FLIGHT = 4;
/**
 * (root, holder) pairs tracked, per auditor (a few hundred bytes and one timer each): a seed holding
 * 30,000 files with two other holders each. Lookups return at most 64 holders per root, so peers
 * announcing a file cannot grow it past 64 per file; past the cap, new pairs wait until others go.
 */
export const MAX_AUDIT_PAIRS = 65_536;
/** Precomputed challenges a ChallengeBook keeps, over all its files. */
export const MAX_KEPT_CHALLENGES = 16 * 4096;

export type AuditKind = 'digest' | 'block' | 'precomputed';
export type AuditResult = 'passed' | 'failed' | 'unreachable';

export interface AuditVerdict {
  readonly root: BlockId;
  readonly peer: string;
  readonly result: AuditResult;
  readonly kind: AuditKind;
  readonly block: BlockId;
  /** Why it failed or was unreachable; absent for a pass. */
  readonly reason?: string;
}

/** What the auditor needs of a session with one holder (PeerSession has both). */
export interface AuditSession {
  audit(
    block: BlockId,
    nonce: Uint8Array,
    options: { timeoutMs?: number; signal?: AbortSignal },
  ): Promise<Uint8Array | undefined>;
  want(block: BlockId, options: { timeoutMs?: number; signal?: AbortSignal }): Promise<Uint8Array | undefined>;
}

export interface AuditClock {
  now(): number;
  setTimeout(task: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface AuditorOptions {
  /** Longest time between two audits of one pair (`--audit-every`). */
  readonly intervalMs: number;
  /** A session with exactly `peer` (connecting if needed); throws if it cannot be reached. */
  connect(peer: string): Promise<AuditSession>;
  /**
   * The ids of every block of the file `root` (listed without its key, in the order the root lists
   * them, which precomputed challenges' block indices refer to), or undefined if unknown.
   */
  blocksOf(root: BlockId): Promise<readonly BlockId[] | undefined>;
  /** The auditor's own copy of a block, or undefined if it has none. */
  localBlock(id: BlockId): Promise<Uint8Array | undefined>;
  /**
   * A precomputed challenge for `root` to spend on `peer`, if the auditor keeps some (an owner
   * without the blocks); consumed by the call (asynchronously when the owner must first record the
   * spend durably, so a crash cannot send one nonce twice). Absent or undefined: digest or block
   * audits.
   */
  challenge?(root: BlockId, peer: string): AuditChallenge | undefined | Promise<AuditChallenge | undefined>;
  /** Told every verdict. */
  onVerdict(verdict: AuditVerdict): void;
  /** [0, 1); default Math.random. */
  readonly random?: () => number;
  /** Fresh random bytes for nonces (crypto.getRandomValues by default). */
  readonly randomBytes?: (n: number) => Uint8Array;
  readonly clock?: AuditClock;
  readonly deadlineMs?: number;
  readonly maxInFlight?: number;
  readonly maxPairs?: number;
}

interface Pair {
  readonly root: BlockId;
  readonly peer: string;
  timer: unknown;
  queued: boolean;
  running: boolean;
}

const realClock: AuditClock = {
  now: () => Date.now(),
  setTimeout: (task, ms) => {
    const timer = setTimeout(task, ms);
    // Audits never keep a process alive on their own (Node); browsers have no unref.
    (timer as { unref?: () => void }).unref?.();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

function cryptoBytes(n: number): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

const pairKey = (root: BlockId, peer: string) => `${root}/${peer}`;

/** Rejects with a deadline error after `ms`, unless `work` settles first. */
function withDeadline<T>(work: Promise<T>, ms: number, clock: AuditClock): Promise<T> {
  let handle: unknown;
  const deadline = new Promise<never>((_, reject) => {
    handle = clock.setTimeout(() => reject(new TimeoutError('an audit answer', ms)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clock.clearTimeout(handle));
}

export class Auditor {
  private readonly pairs = new Map<string, Pair>();
  private readonly line: Pair[] = [];
  private inFlight = 0;
  private closed = false;
  private readonly random: () => number;
  private readonly randomBytes: (n: number) => Uint8Array;
  private readonly clock: AuditClock;
  private readonly deadlineMs: number;
  private readonly maxInFlight: number;
  private readonly maxPairs: number;

  constructor(private readonly options: AuditorOptions) {
    this.random = options.random ?? Math.random;
    this.randomBytes = options.randomBytes ?? cryptoBytes;
    this.clock = options.clock ?? realClock;
    this.deadlineMs = options.deadlineMs ?? AUDIT_DEADLINE_MS;
    this.maxInFlight = options.maxInFlight ?? MAX_AUDITS_IN_FLIGHT;
    this.maxPairs = options.maxPairs ?? MAX_AUDIT_PAIRS;
    // Checked now: a bad interval is an operator's error, to hear at start rather than at the first audit.
    nextAuditDelay(() => 0, options.intervalMs);
  }

  /** Pairs tracked. */
  get size(): number {
    return this.pairs.size;
  }

  /** Audits running now. */
  get running(): number {
    return this.inFlight;
  }

  has(root: BlockId, peer: string): boolean {
    return this.pairs.has(pairKey(root, peer));
  }

  /**
   * Audits `peer`'s holding of `root` from now on. False if the pair cap is reached (the pair is
   * not tracked; it may be offered again once others leave).
   */
  track(root: BlockId, peer: string): boolean {
    if (this.closed) return false;
    const key = pairKey(root, peer);
    if (this.pairs.has(key)) return true;
    if (this.pairs.size >= this.maxPairs) return false;
    const pair: Pair = { root, peer, timer: undefined, queued: false, running: false };
    this.pairs.set(key, pair);
    this.schedule(pair);
    return true;
  }

  /** Stops auditing `peer` for `root`, or every holder of `root` when `peer` is absent. */
  untrack(root: BlockId, peer?: string): void {
    const keys =
      peer === undefined ? [...this.pairs.keys()].filter((k) => k.startsWith(`${root}/`)) : [pairKey(root, peer)];
    for (const key of keys) {
      const pair = this.pairs.get(key);
      if (!pair) continue;
      this.clock.clearTimeout(pair.timer);
      this.pairs.delete(key);
    }
  }

  /** Makes the holders of `root` audited exactly `peers` (new ones tracked, gone ones dropped). */
  setHolders(root: BlockId, peers: Iterable<string>): void {
    const wanted = new Set(peers);
    for (const pair of [...this.pairs.values()]) {
      if (pair.root === root && !wanted.has(pair.peer)) this.untrack(root, pair.peer);
    }
    for (const peer of wanted) this.track(root, peer);
  }

  /** Roots with at least one pair tracked. */
  roots(): Set<BlockId> {
    return new Set([...this.pairs.values()].map((p) => p.root));
  }

  close(): void {
    this.closed = true;
    for (const pair of this.pairs.values()) this.clock.clearTimeout(pair.timer);
    this.pairs.clear();
    this.line.length = 0;
  }

  private schedule(pair: Pair): void {
    const delay = nextAuditDelay(this.random, this.options.intervalMs);
    pair.timer = this.clock.setTimeout(() => {
      pair.timer = undefined;
      this.enqueue(pair);
    }, delay);
  }

  private enqueue(pair: Pair): void {
    if (this.closed || pair.queued || pair.running) return;
    pair.queued = true;
    this.line.push(pair);
    this.pump();
  }

  private pump(): void {
    while (!this.closed && this.inFlight < this.maxInFlight && this.line.length > 0) {
      const pair = this.line.shift()!;
      pair.queued = false;
      // Dropped while it waited in line.
      if (this.pairs.get(pairKey(pair.root, pair.peer)) !== pair) continue;
      pair.running = true;
      this.inFlight++;
      void this.auditPair(pair)
        .catch(() => {
          // Never: every failure is a verdict.
        })
        .finally(() => {
          pair.running = false;
          this.inFlight--;
          if (!this.closed && this.pairs.get(pairKey(pair.root, pair.peer)) === pair) this.schedule(pair);
          this.pump();
        });
    }
  }

  private async auditPair(pair: Pair): Promise<void> {
    const verdict = await this.audit(pair.root, pair.peer);
    if (this.closed) return;
    try {
      this.options.onVerdict(verdict);
    } catch {
      // A listener's failure is its own; the audits go on.
    }
  }

  /**
   * One audit of `peer`'s holding of `root`, now, whatever the schedule (tests, and a page asking
   * on demand), on the block `chosen` if given, else on one it picks. Never throws: everything that
   * goes wrong is in the verdict.
   */
  async audit(root: BlockId, peer: string, chosen?: BlockId): Promise<AuditVerdict> {
    let block: BlockId | undefined = chosen;
    let kind: AuditKind = 'precomputed';
    let expected: Uint8Array | undefined;
    let nonce: Uint8Array | undefined;
    try {
      // A block chosen by the caller is challenged afresh: a precomputed challenge names its own.
      const precomputed = chosen === undefined ? await this.options.challenge?.(root, peer) : undefined;
      if (precomputed) {
        block = precomputed.block ?? (await this.options.blocksOf(root))?.[precomputed.blockIndex];
        nonce = precomputed.nonce;
        expected = precomputed.expected;
      } else {
        if (block === undefined) {
          const ids = await this.options.blocksOf(root);
          if (ids && ids.length > 0) block = ids[Math.min(ids.length - 1, Math.floor(this.random() * ids.length))];
        }
        if (block !== undefined) {
          const own = await this.options.localBlock(block).catch(() => undefined);
          if (own) {
            kind = 'digest';
            nonce = this.randomBytes(AUDIT_NONCE_BYTES);
            expected = auditDigest(nonce, own);
          } else kind = 'block';
        }
      }
    } catch (error) {
      return this.verdictOf(
        root,
        peer,
        'unreachable',
        kind,
        block ?? root,
        `cannot list the file: ${(error as Error).message}`,
      );
    }
    if (block === undefined) {
      // The auditor cannot name a block of the file: nothing to ask, and nothing the holder did.
      return this.verdictOf(root, peer, 'unreachable', kind, root, 'the auditor cannot list the blocks of the file');
    }
    let session: AuditSession;
    try {
      session = await this.options.connect(peer);
    } catch (error) {
      return this.verdictOf(root, peer, 'unreachable', kind, block, (error as Error).message);
    }
    const request = { timeoutMs: this.deadlineMs + 1_000 };
    try {
      if (kind === 'block') {
        const bytes = await withDeadline(session.want(block, request), this.deadlineMs, this.clock);
        if (!bytes) return this.verdictOf(root, peer, 'failed', kind, block, 'not-found: it does not hold the block');
        // The session checked that the bytes hash to the id (and closes on a peer that lies).
        return this.verdictOf(root, peer, 'passed', kind, block);
      }
      const answer = await withDeadline(session.audit(block, nonce!, request), this.deadlineMs, this.clock);
      if (!answer) return this.verdictOf(root, peer, 'failed', kind, block, 'not-found: it does not hold the block');
      if (!checkAnswer({ expected: expected! }, answer))
        return this.verdictOf(
          root,
          peer,
          'failed',
          kind,
          block,
          'wrong digest: it could not compute it from the block',
        );
      return this.verdictOf(root, peer, 'passed', kind, block);
    } catch (error) {
      const reason =
        error instanceof TimeoutError
          ? `deadline: no answer within ${this.deadlineMs} ms`
          : error instanceof ProtocolError && error.reason === 'bad-block'
            ? 'bad block: the bytes it sent do not hash to the id'
            : `error: ${(error as Error).message}`;
      return this.verdictOf(root, peer, 'failed', kind, block, reason);
    }
  }

  /**
   * Audits `peer`'s holding of `root` on up to `count` distinct blocks picked at random, one after
   * another, with fresh digests or block fetches (never precomputed challenges). The first verdict
   * that is not a pass ends it and is the answer; else the last pass is. A holder missing a
   * fraction p of the file passes with probability about (1 - p)^count instead of 1 - p: what a
   * seed spends when it has been told a holder failed (seed-auditor.ts).
   */
  async auditBlocks(root: BlockId, peer: string, count: number): Promise<AuditVerdict> {
    let ids: readonly BlockId[] | undefined;
    try {
      ids = await this.options.blocksOf(root);
    } catch {
      ids = undefined;
    }
    // Nothing to choose from: one audit says why (it lists the file again, and cannot either).
    if (!ids || ids.length === 0 || count < 1) return this.audit(root, peer);
    // A file may name one block twice (the seed's pin set cannot, a listing can).
    const pool = [...new Set(ids)];
    let verdict: AuditVerdict | undefined;
    for (let i = 0; i < Math.min(count, pool.length); i++) {
      // A partial Fisher–Yates shuffle: pool[i] is drawn from the blocks not drawn yet.
      const j = i + Math.min(pool.length - i - 1, Math.floor(this.random() * (pool.length - i)));
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
      verdict = await this.audit(root, peer, pool[i]);
      if (verdict.result !== 'passed' || this.closed) return verdict;
    }
    return verdict!;
  }

  private verdictOf(
    root: BlockId,
    peer: string,
    result: AuditResult,
    kind: AuditKind,
    block: BlockId,
    reason?: string,
  ): AuditVerdict {
    return { root, peer, result, kind, block, ...(reason === undefined ? {} : { reason }) };
  }
}

/**
 * An owner's precomputed challenges (kind `precomputed`): made at upload from the owner's audit
 * secret and the blocks it still has then, kept (index, nonce, digest: no block), and spent one per
 * audit, never twice (a revealed nonce's answer could be passed around). Give `take` to an
 * Auditor as its `challenge` option. Bounded: MAX_KEPT_CHALLENGES over all files, oldest file first
 * out.
 */
export class ChallengeBook {
  private readonly byRoot = new Map<BlockId, AuditChallenge[]>();
  private count = 0;

  constructor(private readonly max: number = MAX_KEPT_CHALLENGES) {}

  /**
   * Prepares `count` challenges of the file `root` whose blocks are `ids` (in the root's listing
   * order), reading each challenged block once with `getBlock`.
   */
  async prepare(
    secret: Uint8Array,
    root: BlockId,
    ids: readonly BlockId[],
    getBlock: (id: BlockId) => Promise<Uint8Array>,
    count: number = AUDIT_CHALLENGES_PER_FILE,
  ): Promise<void> {
    const seeds = challengeSeeds(secret, root, ids.length, count);
    const prepared: AuditChallenge[] = new Array<AuditChallenge>(seeds.length);
    // Each chosen block read once, whatever number of challenges picked it; one block in memory at a time.
    for (const blockIndex of new Set(seeds.map((s) => s.blockIndex))) {
      const block = ids[blockIndex]!;
      const bytes = await getBlock(block);
      seeds.forEach((seed, i) => {
        if (seed.blockIndex === blockIndex) prepared[i] = { ...prepareChallenge(seed, bytes), block };
      });
    }
    this.put(root, prepared);
  }

  /** The unspent challenges of `root`, in the order `take` spends them (to persist them). */
  list(root: BlockId): readonly AuditChallenge[] {
    return [...(this.byRoot.get(root) ?? [])];
  }

  /** Roots with challenges left, oldest first (the first to go when the book is full). */
  roots(): BlockId[] {
    return [...this.byRoot.keys()];
  }

  /** Challenges kept, over all files. */
  get size(): number {
    return this.count;
  }

  /** Keeps `challenges` for `root` (replacing any it had). */
  put(root: BlockId, challenges: readonly AuditChallenge[]): void {
    this.drop(root);
    const kept = challenges.slice(0, this.max);
    while (this.count + kept.length > this.max && this.byRoot.size > 0) this.drop(this.byRoot.keys().next().value!);
    this.byRoot.set(root, [...kept]);
    this.count += kept.length;
  }

  /** The next unspent challenge of `root`, spent now; undefined when none is left. */
  take(root: BlockId): AuditChallenge | undefined {
    const left = this.byRoot.get(root);
    const next = left?.shift();
    if (next) this.count--;
    if (left && left.length === 0) this.byRoot.delete(root);
    return next;
  }

  /** Challenges left for `root`. */
  left(root: BlockId): number {
    return this.byRoot.get(root)?.length ?? 0;
  }

  drop(root: BlockId): void {
    this.count -= this.byRoot.get(root)?.length ?? 0;
    this.byRoot.delete(root);
  }
}
