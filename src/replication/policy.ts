// The replication policy: where a file's copies go, which copies count, and what to do when they fall
// or pile up. Pure and deterministic (no clock, no randomness, no I/O): every holder that sees the
// same holders and times reaches the same plan, and the simulation in test/sim runs these very
// functions over 10,000 peers.
//
// Dev notes — what each piece decides
// - Placement: rendezvous (highest-random-weight) hashing. Each (peer id, root) pair gets a score
//   from SHA-256; candidates are sorted by durability class first (seed, then browser with
//   persisted storage, then other browser) and by score within a class. A file's holders are the
//   top `target` reachable candidates. Removing a candidate moves only the files it held; adding one
//   takes only the files where it scores highest; with several seeds each file lands on `target` of
//   them, so storage grows with the number of seeds.
// - Failure domains: a seed may carry the domain the deployment gives it (operator, provider, site).
//   Within a class, candidates in a domain that holds no copy come before those in one that does, so
//   one provider's outage or one operator's exit does not take every copy of a file.
// - Liveness: a holder is live while present (connected and announcing), absent for `graceMs` after
//   it was last seen, then lost. A failed or unanswered audit makes it failed at once.
// - Counting: copies of the kinds in `policy.counts` that are live or absent within grace.
// - Repair (hysteresis): nothing moves while a holder is merely absent within grace and at least
//   `minimum` counted copies are present: a flapping browser or a seed restarting costs nothing.
//   After grace (or a failed audit, or a reported wipe) a copy stops counting and the plan pushes
//   up to `target` again. Only when present copies fall below `minimum` does repair start before
//   grace ends: that many simultaneous absences is no longer a blip. The pusher is the first live
//   holder in rendezvous order (of any kind: a cache copy may push); targets are the next reachable
//   candidates of a counted kind that do not hold the file.
// - Durable floor: a file counted only on browsers gets a seed copy as soon as a seed is reachable
//   (MIN_SEED_COPIES), and liveCopies calls it at risk meanwhile.
// - Release: a repaired seed that comes back leaves extra copies. Up to `releaseSlack` extra copies
//   stay (the next outage then costs no traffic); beyond that the lowest-ranked seed copies are
//   released down to `target`, keeping the kept copies spread over domains. Only seed copies are
//   compared with the target here, so a crowd of browsers holding a file never makes a seed drop it
//   (browsers leave at night). Without slack the simulation moved four times the bytes.

import { sha256 } from '@noble/hashes/sha2.js';

export type PeerKind = 'seed' | 'persisted-browser' | 'browser';

/** Durability classes, most durable first: the order placement prefers. */
export const PEER_KINDS: readonly PeerKind[] = ['seed', 'persisted-browser', 'browser'];

export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;

/** Live copies a file aims for unless its owner or the seed says otherwise. */
export const DEFAULT_TARGET_COPIES = 3;
/** Largest target accepted: bounds the work and traffic one `put --copies` can ask of the network. */
export const MAX_TARGET_COPIES = 16;
/**
 * Default minimum = target minus this: one copy may be away (a restart, a network blip) without
 * repair starting before the grace period ends; two away at once starts it.
 */
export const DEFAULT_MINIMUM_MARGIN = 1;
/**
 * How long an absent holder still counts. 30 minutes: longer than nearly every browser flap
 * (network change, laptop lid, reload) and seed restart, so those cost nothing; a seed that is
 * really down is replaced within the hour. In the simulation (test/sim/README.md) 5 minutes moved
 * 20 % more bytes for no fewer files at risk; 2 hours moved 27 % fewer but left 2.3 times the
 * file-hours without a live copy.
 */
export const DEFAULT_GRACE_MS = 30 * MINUTE_MS;
/** Extra seed copies kept above the target before any is released (see Release above). */
export const RELEASE_SLACK = 1;
/** Copies on seeds every file should have whenever a seed is reachable. */
export const MIN_SEED_COPIES = 1;

const RENDEZVOUS_TAG = 'mycel/rendezvous/v1:';

/** A peer that may hold data: a seed or a browser that opted in. `id` is its peer id. */
export interface Candidate {
  readonly id: string;
  readonly kind: PeerKind;
  /**
   * The failure domain the deployment puts a seed in (its operator, provider or site): seeds that
   * may fail together. Copies go to distinct domains before any domain gets a second one. A
   * candidate without a domain shares it with nobody.
   */
  readonly domain?: string;
}

/** A peer that announced a copy, with what presence and audits say of it. Times are in ms. */
export interface Holder extends Candidate {
  /** Connected and announcing now. */
  readonly present: boolean;
  /** When it was last present (ignored while present). */
  readonly lastSeen: number;
  /** Failed or did not answer its latest audit of this file, or reported losing it. */
  readonly auditFailed?: boolean;
}

export type HolderState = 'live' | 'absent' | 'lost' | 'failed';

export interface ReplicationPolicy {
  /** Live copies to aim for. */
  readonly target: number;
  /** Below this many present copies, repair does not wait for the grace period. */
  readonly minimum: number;
  /** How long an absent holder keeps counting. */
  readonly graceMs: number;
  /** Seed copies tolerated above the target before releasing any. */
  readonly releaseSlack: number;
  /** Kinds whose copies count towards the target (and may be pushed to). */
  readonly counts: readonly PeerKind[];
}

/**
 * A policy with defaults filled in and every field checked. Throws RangeError for a target outside
 * 1..MAX_TARGET_COPIES, a minimum outside 1..target, a negative or non-finite grace, a negative
 * slack, or an empty or unknown list of counted kinds.
 */
export function replicationPolicy(options: Partial<ReplicationPolicy> = {}): ReplicationPolicy {
  const target = options.target ?? DEFAULT_TARGET_COPIES;
  if (!Number.isInteger(target) || target < 1 || target > MAX_TARGET_COPIES) {
    throw new RangeError(`target must be an integer from 1 to ${MAX_TARGET_COPIES}, got ${target}`);
  }
  const minimum = options.minimum ?? Math.max(1, target - DEFAULT_MINIMUM_MARGIN);
  if (!Number.isInteger(minimum) || minimum < 1 || minimum > target) {
    throw new RangeError(`minimum must be an integer from 1 to the target (${target}), got ${minimum}`);
  }
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  if (!Number.isFinite(graceMs) || graceMs < 0)
    throw new RangeError(`grace must be a finite duration ≥ 0, got ${graceMs}`);
  const releaseSlack = options.releaseSlack ?? RELEASE_SLACK;
  if (!Number.isInteger(releaseSlack) || releaseSlack < 0) {
    throw new RangeError(`release slack must be an integer ≥ 0, got ${releaseSlack}`);
  }
  const counts = options.counts ?? PEER_KINDS;
  if (counts.length === 0 || counts.some((k) => !PEER_KINDS.includes(k))) {
    throw new RangeError(`counted kinds must be a non-empty list of ${PEER_KINDS.join(', ')}`);
  }
  return { target, minimum, graceMs, releaseSlack, counts: PEER_KINDS.filter((k) => counts.includes(k)) };
}

export const DEFAULT_POLICY: ReplicationPolicy = replicationPolicy();

// ---------------------------------------------------------------------------------------------
// Placement

const utf8 = new TextEncoder();
/** Score input: 32-byte root key then the peer id; 22-character ids keep it to one SHA-256 block. */
let scoreInput = new Uint8Array(32 + 64);

function rootKey(root: string): Uint8Array {
  return sha256(utf8.encode(RENDEZVOUS_TAG + root));
}

function scoreWith(key: Uint8Array, peerId: string): number {
  const need = key.length + peerId.length * 3;
  if (scoreInput.length < need) scoreInput = new Uint8Array(need);
  scoreInput.set(key, 0);
  const { written } = utf8.encodeInto(peerId, scoreInput.subarray(key.length));
  const d = sha256(scoreInput.subarray(0, key.length + written));
  // The first 53 bits, as an exact integer: plenty to order a few thousand candidates.
  return (
    d[0]! * 2 ** 45 +
    d[1]! * 2 ** 37 +
    d[2]! * 2 ** 29 +
    d[3]! * 2 ** 21 +
    d[4]! * 2 ** 13 +
    d[5]! * 2 ** 5 +
    (d[6]! >> 3)
  );
}

/** The rendezvous score of `peerId` for `root`: an integer in [0, 2^53). Higher wins. */
export function rendezvousScore(root: string, peerId: string): number {
  return scoreWith(rootKey(root), peerId);
}

const classOf = (kind: PeerKind): number => PEER_KINDS.indexOf(kind);

/**
 * `candidates` in placement order for `root`: seeds, then persisted browsers, then other browsers,
 * each class by descending rendezvous score (ties by peer id). The order of the input does not
 * matter; a repeated id keeps its first entry. Returns a new array.
 */
export function rankHolders<T extends Candidate>(root: string, candidates: readonly T[]): T[] {
  const key = rootKey(root);
  const seen = new Set<string>();
  const scored: { c: T; cls: number; score: number }[] = [];
  for (const c of candidates) {
    if (seen.has(c.id)) continue;
    seen.add(c.id);
    scored.push({ c, cls: classOf(c.kind), score: scoreWith(key, c.id) });
  }
  scored.sort((a, b) => a.cls - b.cls || b.score - a.score || (a.c.id < b.c.id ? -1 : a.c.id > b.c.id ? 1 : 0));
  return scored.map((s) => s.c);
}

/**
 * `ranked` (in rendezvous order) reordered so that, within each class, candidates whose failure
 * domain is not in `used` come first; the rest follow at the end of their class, in rank order.
 * Lazy, and reads `used` as it goes, so a caller that adds each chosen domain spreads its picks.
 */
function* spreadOrder<T extends Candidate>(ranked: Iterable<T>, used: ReadonlySet<string>): Generator<T> {
  let deferred: T[] = [];
  let cls = -1;
  for (const c of ranked) {
    const k = classOf(c.kind);
    if (k !== cls) {
      yield* deferred;
      deferred = [];
      cls = k;
    }
    if (c.domain !== undefined && used.has(c.domain)) deferred.push(c);
    else yield c;
  }
  yield* deferred;
}

/**
 * The first `count` of `ranked` (already in rendezvous order, e.g. from rankHolders) as placement
 * chooses them: by class, spreading over failure domains, then by rank.
 */
export function pickFromRanked<T extends Candidate>(ranked: Iterable<T>, count: number): T[] {
  const out: T[] = [];
  const used = new Set<string>();
  if (count <= 0) return out;
  for (const c of spreadOrder(ranked, used)) {
    out.push(c);
    if (c.domain !== undefined) used.add(c.domain);
    if (out.length >= count) break;
  }
  return out;
}

/** The `target` candidates that should hold `root` (fewer if there are fewer candidates). */
export function placement<T extends Candidate>(root: string, candidates: readonly T[], target: number): T[] {
  return pickFromRanked(rankHolders(root, candidates), target);
}

// ---------------------------------------------------------------------------------------------
// Liveness

/**
 * What a holder's copy is worth at `now`: live (present), absent but within `graceMs` of when it
 * was last seen, lost (absent for `graceMs` or longer), or failed (an audit failed; overrides all).
 */
export function classifyHolder(
  holder: Pick<Holder, 'present' | 'lastSeen' | 'auditFailed'>,
  now: number,
  graceMs: number,
): HolderState {
  if (holder.auditFailed) return 'failed';
  if (holder.present) return 'live';
  // Compared as `now < lastSeen + grace`, the very sum recheckAt reports: at recheckAt the holder is
  // lost, whatever the rounding of the two numbers.
  return now < holder.lastSeen + graceMs ? 'absent' : 'lost';
}

export interface CopyCount {
  /** Holders present now, of every kind: what a person is shown. */
  readonly live: number;
  readonly liveByKind: Readonly<Record<PeerKind, number>>;
  /** Absent within grace, lost, failed: every kind. */
  readonly absent: number;
  readonly lost: number;
  readonly failed: number;
  /** Copies of counted kinds that are live or absent within grace: what repair compares with the target. */
  readonly counted: number;
  /** Copies of counted kinds present now: what repair compares with the minimum. */
  readonly present: number;
  /**
   * What a person should be warned of: fewer than the minimum present, or no copy (live or within
   * grace) on a seed or a persisted browser, so one browser clearing its storage could lose it.
   */
  readonly atRisk: boolean;
}

/** Counts a file's copies by state and kind (a repeated holder id counts once). */
export function liveCopies(holders: readonly Holder[], now: number, policy: ReplicationPolicy): CopyCount {
  const liveByKind: Record<PeerKind, number> = { seed: 0, 'persisted-browser': 0, browser: 0 };
  let live = 0,
    absent = 0,
    lost = 0,
    failed = 0,
    counted = 0,
    present = 0,
    durable = 0;
  const seen = new Set<string>();
  for (const h of holders) {
    if (seen.has(h.id)) continue;
    seen.add(h.id);
    const state = classifyHolder(h, now, policy.graceMs);
    const counts = policy.counts.includes(h.kind);
    if ((state === 'live' || state === 'absent') && h.kind !== 'browser') durable++;
    if (state === 'live') {
      live++;
      liveByKind[h.kind]++;
      if (counts) {
        counted++;
        present++;
      }
    } else if (state === 'absent') {
      absent++;
      if (counts) counted++;
    } else if (state === 'lost') lost++;
    else failed++;
  }
  return {
    live,
    liveByKind,
    absent,
    lost,
    failed,
    counted,
    present,
    atRisk: present < policy.minimum || durable === 0,
  };
}

// ---------------------------------------------------------------------------------------------
// Repair and release

export type PushReason = 'below-target' | 'below-minimum' | 'no-seed-copy';

export interface RepairPlan<H extends Holder, C extends Candidate> {
  /** Counted copies (live or within grace). */
  readonly counted: number;
  /** Counted copies present now. */
  readonly present: number;
  /** Copies the plan wants added (0 when none is missing). */
  readonly missing: number;
  /** Who pushes the file to whom; absent when nothing is missing or nobody can push or receive. */
  readonly push?: { readonly from: H; readonly to: readonly C[]; readonly reason: PushReason };
  /** Why copies are missing but no push is planned: no holder is present, or no candidate is free. */
  readonly stalled?: 'no-live-holder' | 'no-candidate';
  /** Seed holders that should drop their copy, lowest-ranked first. */
  readonly release: readonly H[];
  /** Earliest time an absent holder's grace ends: plan again then if nothing else happens. */
  readonly recheckAt?: number;
}

type Outcome<H extends Holder, C extends Candidate> = Pick<RepairPlan<H, C>, 'push' | 'stalled'> & {
  release?: readonly H[];
};

/**
 * Plans repair or release of `root` at `now`.
 *
 * `holders` are the peers that announced a copy (the caller bounds the list: each is hashed when
 * a pusher is chosen). `candidates` are the reachable peers that accept data, in rendezvous order
 * (from `rankHolders`); it may be lazy, and is read only as far as the plan needs. The caller runs at most one plan per root at a time: a push in flight must finish or
 * fail before the root is planned again, or the same copy would be pushed twice.
 */
export function planRepair<H extends Holder, C extends Candidate>(
  root: string,
  holders: readonly H[],
  candidates: Iterable<C>,
  now: number,
  policy: ReplicationPolicy,
): RepairPlan<H, C> {
  const countsSeeds = policy.counts.includes('seed');
  let counted = 0,
    present = 0,
    seedsCounted = 0;
  let recheckAt: number | undefined;
  const live: H[] = [];
  const seedsPresent: H[] = [];
  const holding = new IdSet(holders.length);
  const domains = new Set<string>();
  for (const h of holders) {
    if (!holding.add(h.id)) continue;
    const state = classifyHolder(h, now, policy.graceMs);
    if (state === 'live') live.push(h);
    if (!policy.counts.includes(h.kind)) continue;
    if (state === 'live' || state === 'absent') {
      counted++;
      if (h.kind === 'seed') seedsCounted++;
      if (h.domain !== undefined) domains.add(h.domain);
    }
    if (state === 'live') {
      present++;
      if (h.kind === 'seed') seedsPresent.push(h);
    } else if (state === 'absent') {
      const ends = h.lastSeen + policy.graceMs;
      if (recheckAt === undefined || ends < recheckAt) recheckAt = ends;
    }
  }
  const result = (missing: number, outcome: Outcome<H, C> = {}): RepairPlan<H, C> => ({
    counted,
    present,
    missing,
    release: outcome.release ?? [],
    push: outcome.push,
    stalled: outcome.stalled,
    recheckAt,
  });

  const belowTarget = policy.target - counted;
  const belowMinimum = policy.minimum - present;
  const missingAny = Math.max(0, belowTarget, belowMinimum);
  let seedsShort = countsSeeds ? Math.max(0, MIN_SEED_COPIES - seedsCounted) : 0;
  const missing = Math.max(missingAny, seedsShort);

  if (missing === 0) {
    if (!countsSeeds || seedsPresent.length <= policy.target + policy.releaseSlack) return result(missing);
    const ranked = rankHolders(root, seedsPresent);
    const keep = new Set(pickFromRanked(ranked, policy.target));
    return result(missing, { release: ranked.filter((h) => !keep.has(h)).reverse() });
  }

  if (live.length === 0) return result(missing, { stalled: 'no-live-holder' });

  const to: C[] = [];
  for (const c of spreadOrder(candidates, domains)) {
    if (holding.has(c.id) || !policy.counts.includes(c.kind)) continue;
    if (to.length < missingAny || (seedsShort > 0 && c.kind === 'seed')) {
      to.push(c);
      holding.add(c.id);
      if (c.domain !== undefined) domains.add(c.domain);
      if (c.kind === 'seed' && seedsShort > 0) seedsShort--;
      if (to.length >= missingAny && seedsShort === 0) break;
    }
  }
  if (to.length === 0) return result(missing, { stalled: 'no-candidate' });

  const reason: PushReason =
    belowMinimum > 0 && belowMinimum >= belowTarget
      ? 'below-minimum'
      : belowTarget > 0
        ? 'below-target'
        : 'no-seed-copy';
  const from = rankHolders(root, live)[0]!;
  return result(missing, { push: { from, to, reason } });
}

/** Up to this many ids, a linear scan beats hashing them into a Set. */
const SMALL_ID_SET = 16;

/** A set of peer ids: a plain array while small (a file's holders usually are), a Set beyond. */
class IdSet {
  private small: string[] | undefined = [];
  private large: Set<string> | undefined;
  constructor(expected: number) {
    if (expected > SMALL_ID_SET) {
      this.small = undefined;
      this.large = new Set();
    }
  }
  has(id: string): boolean {
    return this.small ? this.small.includes(id) : this.large!.has(id);
  }
  /** Adds `id`; false if it was there already. */
  add(id: string): boolean {
    if (this.has(id)) return false;
    if (this.small) this.small.push(id);
    else this.large!.add(id);
    return true;
  }
}
