// A seed's replication engine: for every file the seed holds, who else holds it (from signaling
// lookups), whether enough copies are alive, and what this seed must do about it — push the file
// to the next candidates when it is the plan's pusher, drop its own copy when the plan releases it.
// The rules are policy.ts's (planRepair, liveCopies); this module only feeds them and acts.
//
// Dev docs.
// - Presence: a holder is present while it is in the latest lookup of the root; `lastSeen` is the
//   time of the latest lookup that listed it. A signaling lookup never lists the asker, so the seed
//   adds itself. Kinds follow the shared rule (in the `seeds` lookup: seed; else in
//   `keepers-persisted`: persisted browser; else browser) and stick to a holder once it is gone, so
//   a seed that died still counts as a lost seed, not a browser.
// - Ticks: every `tickMs` (REPLICATION_TICKS_PER_GRACE per grace period, within bounds) the three
//   candidate topics are looked up, then the next roots in round-robin order, each looked up and
//   planned. A tick sends at most `rootsPerTick` lookup messages for roots (a bounded share of the
//   signaling server's per-socket message rate, REPLICATION_LOOKUPS_PER_SECOND); where the server
//   takes batched lookups each message names up to its batch (32) roots, so a seed visits 32 times
//   as many files per round (10,000 files: each every 90 s instead of 45 min at the defaults; 100,000: 14 min). A
//   seed with more files visits each one less often; it never sends more lookups. A batch lists a
//   small sample per root; a root whose sample is full (many holders) is looked up alone as well.
// - A file is first planned REPLICATION_SETTLE_TICKS rounds after the seed first looked it up:
//   the put that brought it is still placing the other copies.
// - Release: the plan lists surplus seed copies lowest-ranked first; only the first of them drops
//   its copy in a round, so seeds planning at the same moment never release more than one.
// - One plan per root in flight: a root whose push is running is looked up but not planned again.
// - Audits (dur-audit's auditor calls noteAuditVerdict) and lost reports only mark holders in views
//   of files the seed holds (a failed audit makes the view if no round has yet), so neither grows
//   memory with what a peer names. A lost report is believed only for a holder absent now, and
//   then only ends its grace; a global token bucket bounds the work all reports can cause together.

import type { BlockId } from '../content/format.js';
import type { Logger } from '../log.js';
import {
  DEFAULT_GRACE_MS,
  DEFAULT_TARGET_COPIES,
  liveCopies,
  planRepair,
  rankHolders,
  replicationPolicy,
  type Candidate,
  type Holder,
  type HolderState,
  type PeerKind,
  type ReplicationPolicy,
} from '../replication/policy.js';
import { classifyHolder } from '../replication/policy.js';
import type { ReplicaReport } from '../net/replica-report.js';
import { MAX_REPORTED_HOLDERS } from '../net/replica-report.js';
import { KEEPERS_TOPIC, PERSISTED_KEEPERS_TOPIC, SEEDS_TOPIC } from '../net/signal-messages.js';
import { TokenBucket } from '../net/token-bucket.js';
import {
  REPLICATION_LOOKUPS_PER_SECOND,
  REPLICATION_LOST_ROOTS_BURST,
  REPLICATION_LOST_ROOTS_PER_SECOND,
  REPLICATION_MAX_VIEW_HOLDERS,
  REPLICATION_TICKS_PER_GRACE,
  REPLICATION_SETTLE_TICKS,
  REPLICATION_TICK_MAX_MS,
  REPLICATION_TICK_MIN_MS,
} from '../net/limits.js';

/** The candidate topics looked up every tick. */
const CANDIDATE_TOPICS = [SEEDS_TOPIC, PERSISTED_KEEPERS_TOPIC, KEEPERS_TOPIC] as const;

/** How often the engine looks and plans, for a grace period: a few times per grace, within bounds. */
export function replicationTickMs(graceMs: number): number {
  return Math.min(REPLICATION_TICK_MAX_MS, Math.max(REPLICATION_TICK_MIN_MS, graceMs / REPLICATION_TICKS_PER_GRACE));
}

/** Roots looked up per tick: the lookup budget of a tick, less the candidate topics, at least one. */
export function rootsPerTick(tickMs: number): number {
  return Math.max(1, Math.floor((REPLICATION_LOOKUPS_PER_SECOND * tickMs) / 1000) - CANDIDATE_TOPICS.length);
}

/** What the engine needs from the seed it runs in. */
export interface ReplicationHost {
  /** This seed's peer id. */
  readonly self: string;
  /** Peers the signaling server says hold `topic` (never this seed). */
  lookup(topic: string): Promise<string[]>;
  /**
   * Topics one lookupMany may name now; 0 or absent: only single lookups (an older server). A
   * batch costs the server's state what its lookups would, but one message: it is what lets a seed
   * with many thousand files look each up several times per grace period.
   */
  lookupBatch?(): number;
  /** Peers holding each topic, in one message: at most `batchedSample` per topic (a sample). */
  lookupMany?(topics: readonly string[]): Promise<Map<string, string[]>>;
  /** The most peers a batched lookup lists per topic: a topic listed with this many may have more. */
  readonly batchedSample?: number;
  /** Roots this seed holds whole now. */
  heldRoots(): BlockId[];
  holds(root: BlockId): boolean;
  /** The copies the file's owner asked for, if it said. */
  copiesOf(root: BlockId): number | undefined;
  /** Pushes the file to `to` with `target` in the commit's terms; resolves with who proved a copy. */
  push(root: BlockId, to: readonly Candidate[], target: number): Promise<{ ok: string[]; failed: string[] }>;
  /** Drops this seed's copy (unpin, withdraw). */
  release(root: BlockId): Promise<void>;
  /** Audits of the file's holders (dur-audit's auditor), for the report. */
  auditCounts?(root: BlockId): { passed: number; failed: number };
}

export interface ReplicationOptions {
  readonly graceMs?: number;
  /** Copies for files whose owner did not say (the seed's --copies). */
  readonly defaultCopies?: number;
  readonly now?: () => number;
  readonly log?: Logger;
}

interface HolderView {
  kind: PeerKind;
  present: boolean;
  lastSeen: number;
  failed: boolean;
}

interface RootView {
  readonly holders: Map<string, HolderView>;
  lookedAt: number;
  /** When this seed first looked the file up: a file is planned only once its put has settled. */
  readonly since: number;
}

export interface ReplicationStats {
  readonly files: { below_target: number; at_target: number; above_target: number; at_risk: number };
  readonly repairs: { ok: number; failed: number };
  readonly releases: number;
  readonly lookups: number;
}

type FileState = 'below_target' | 'at_target' | 'above_target';

export class ReplicationEngine {
  readonly graceMs: number;
  readonly defaultCopies: number;
  readonly tickMs: number;
  readonly rootsPerTick: number;
  private readonly now: () => number;
  private readonly views = new Map<BlockId, RootView>();
  private readonly states = new Map<BlockId, { state: FileState; atRisk: boolean }>();
  private readonly inFlight = new Set<BlockId>();
  private readonly lostBucket: TokenBucket;
  private candidates: Candidate[] = [];
  private kinds = new Map<string, PeerKind>();
  private order: BlockId[] = [];
  private ticking: Promise<void> | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private counters = { ok: 0, failed: 0, releases: 0, lookups: 0 };

  constructor(
    private readonly host: ReplicationHost,
    options: ReplicationOptions = {},
  ) {
    this.graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
    this.defaultCopies = options.defaultCopies ?? DEFAULT_TARGET_COPIES;
    // Checked here, so a bad --copies or --grace stops the seed at start, not at its first plan.
    replicationPolicy({ target: this.defaultCopies, graceMs: this.graceMs });
    this.now = options.now ?? Date.now;
    this.tickMs = replicationTickMs(this.graceMs);
    this.rootsPerTick = rootsPerTick(this.tickMs);
    this.lostBucket = new TokenBucket(REPLICATION_LOST_ROOTS_BURST, REPLICATION_LOST_ROOTS_PER_SECOND, this.now);
    this.log = options.log;
  }

  private readonly log: Logger | undefined;

  start(): void {
    if (this.timer) return;
    this.tick().catch(() => {
      // runTick reports its own failures; a round never rejects.
    });
    this.timer = setInterval(() => {
      this.tick().catch(() => {
        // runTick reports its own failures; a round never rejects.
      });
    }, this.tickMs);
    this.timer.unref?.();
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The policy a file is planned with: its owner's copies, else the seed's default. */
  policyOf(root: BlockId): ReplicationPolicy {
    return replicationPolicy({ target: this.host.copiesOf(root) ?? this.defaultCopies, graceMs: this.graceMs });
  }

  /** Whether the latest seeds lookup lists `peer`: a listed seed may push repairs here. */
  isListedSeed(peer: string): boolean {
    return this.kinds.get(peer) === 'seed';
  }

  /** One round: the candidate topics, then the next roots, each looked up and planned. Never overlaps. */
  tick(): Promise<void> {
    this.ticking ??= this.runTick().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async runTick(): Promise<void> {
    try {
      await this.refreshCandidates();
      const batch = this.host.lookupMany ? Math.max(1, this.host.lookupBatch?.() ?? 0) : 1;
      const roots = this.nextRoots(this.rootsPerTick * batch).filter((root) => {
        if (this.host.holds(root)) return true;
        this.forget(root);
        return false;
      });
      for (let i = 0; i < roots.length; i += batch) {
        const chunk = roots.slice(i, i + batch);
        const found = batch > 1 ? await this.batchedLookup(chunk) : new Map<BlockId, string[]>();
        for (const root of chunk) {
          const peers = found.get(root) ?? (await this.countedLookup(root).catch(() => undefined));
          // A failed lookup plans on what was seen last; the next round looks again.
          if (peers) this.noteHolders(root, peers);
          this.plan(root);
        }
      }
    } catch (error) {
      this.log?.warn('replication round failed', { error: (error as Error).message });
    }
  }

  /**
   * One batched lookup of `roots`. Roots whose sample came back full may have more holders than
   * it shows (seeds among them): they are left out, and looked up alone.
   */
  private async batchedLookup(roots: BlockId[]): Promise<Map<BlockId, string[]>> {
    this.counters.lookups++;
    let found: Map<string, string[]>;
    try {
      found = await this.host.lookupMany!(roots);
    } catch {
      return new Map(); // looked up alone instead: a failed batch is not everyone leaving
    }
    const full = this.host.batchedSample;
    for (const [root, peers] of found) if (full !== undefined && peers.length >= full) found.delete(root);
    return found;
  }

  private async refreshCandidates(): Promise<void> {
    const [seeds, persisted, keepers] = await Promise.all(
      CANDIDATE_TOPICS.map((topic) => this.countedLookup(topic).catch(() => undefined)),
    );
    // A failed lookup keeps what the last one said: a signaling blip is not everyone leaving.
    if (!seeds || !persisted || !keepers) return;
    const kinds = new Map<string, PeerKind>();
    for (const id of keepers) kinds.set(id, 'browser');
    for (const id of persisted) kinds.set(id, 'persisted-browser');
    for (const id of seeds) kinds.set(id, 'seed');
    kinds.set(this.host.self, 'seed');
    this.kinds = kinds;
    this.candidates = [...kinds].map(([id, kind]) => ({ id, kind }));
  }

  private countedLookup(topic: string): Promise<string[]> {
    this.counters.lookups++;
    return this.host.lookup(topic);
  }

  /** The next roots in round-robin order, at most `max`. */
  private nextRoots(max: number): BlockId[] {
    const out: BlockId[] = [];
    const seen = new Set<BlockId>();
    while (out.length < max) {
      if (this.order.length === 0) {
        this.order = [...this.host.heldRoots()];
        if (this.order.length === 0) break;
      }
      const root = this.order.shift()!;
      if (seen.has(root)) break; // fewer roots than a tick's budget: each once
      seen.add(root);
      out.push(root);
    }
    return out;
  }

  private viewOf(root: BlockId): RootView {
    let view = this.views.get(root);
    if (!view) {
      view = { holders: new Map(), lookedAt: 0, since: this.now() };
      this.views.set(root, view);
    }
    return view;
  }

  /** Takes `peers` (a lookup of `root` just now) into the root's view. */
  private noteHolders(root: BlockId, peers: readonly string[]): void {
    const now = this.now();
    const view = this.viewOf(root);
    view.lookedAt = now;
    const listed = new Set([...peers, this.host.self]);
    for (const [id, holder] of view.holders) {
      if (!listed.has(id)) holder.present = false;
    }
    for (const id of listed) {
      const known = view.holders.get(id);
      const kind = this.kinds.get(id) ?? known?.kind ?? 'browser';
      if (known) {
        known.present = true;
        known.lastSeen = now;
        known.kind = this.kinds.get(id) ?? known.kind;
      } else view.holders.set(id, { kind, present: true, lastSeen: now, failed: false });
    }
    this.trim(view);
  }

  /** Keeps a view within REPLICATION_MAX_VIEW_HOLDERS: the holders gone longest go first. */
  private trim(view: RootView): void {
    if (view.holders.size <= REPLICATION_MAX_VIEW_HOLDERS) return;
    const absent = [...view.holders].filter(([, h]) => !h.present).sort((a, b) => a[1].lastSeen - b[1].lastSeen);
    for (const [id] of absent) {
      if (view.holders.size <= REPLICATION_MAX_VIEW_HOLDERS) break;
      view.holders.delete(id);
    }
  }

  private holdersOf(root: BlockId): Holder[] {
    const view = this.views.get(root);
    const holders: Holder[] = [];
    for (const [id, h] of view?.holders ?? []) {
      holders.push({ id, kind: h.kind, present: h.present, lastSeen: h.lastSeen, auditFailed: h.failed });
    }
    if (!view?.holders.has(this.host.self)) {
      holders.push({ id: this.host.self, kind: 'seed', present: true, lastSeen: this.now() });
    }
    return holders;
  }

  /** Plans `root` on the current view and acts on this seed's part in the plan. */
  plan(root: BlockId): void {
    if (this.inFlight.has(root)) return;
    const policy = this.policyOf(root);
    const now = this.now();
    // A file just put is still arriving on its other seeds: planning it now would push it again.
    if (now - this.viewOf(root).since < this.tickMs * REPLICATION_SETTLE_TICKS) return;
    const holders = this.holdersOf(root);
    const count = liveCopies(holders, now, policy);
    const seedCopies = count.liveByKind.seed;
    this.states.set(root, {
      state:
        count.counted < policy.target
          ? 'below_target'
          : seedCopies > policy.target || count.counted > policy.target
            ? 'above_target'
            : 'at_target',
      atRisk: count.atRisk,
    });
    const plan = planRepair(root, holders, rankHolders(root, this.candidates), now, policy);
    if (plan.push && plan.push.from.id === this.host.self) {
      const to = plan.push.to;
      this.inFlight.add(root);
      this.log?.info('pushing a copy: too few live copies', {
        root,
        reason: plan.push.reason,
        to: to.map((c) => c.id),
        counted: plan.counted,
        target: policy.target,
      });
      void this.host
        .push(root, to, policy.target)
        .then(
          ({ ok, failed }) => {
            this.counters.ok += ok.length;
            this.counters.failed += failed.length;
            // Counted at once: the next lookup shows them too, and nobody pushes twice meanwhile.
            const view = this.viewOf(root);
            for (const id of ok) {
              view.holders.set(id, {
                kind: this.kinds.get(id) ?? 'browser',
                present: true,
                lastSeen: this.now(),
                failed: false,
              });
            }
          },
          (error: unknown) => {
            this.counters.failed += to.length;
            this.log?.warn('pushing a copy failed', { root, error: (error as Error).message });
          },
        )
        .finally(() => this.inFlight.delete(root));
      return;
    }
    // Only the lowest-ranked surplus copy goes in one round, and only its holder drops it: seeds
    // planning at once on the same view would otherwise all drop theirs, below the target.
    if (plan.release[0]?.id === this.host.self) {
      this.inFlight.add(root);
      this.log?.info('releasing a surplus copy', { root, seeds: seedCopies, target: policy.target });
      void this.host
        .release(root)
        .then(
          () => {
            this.counters.releases++;
            this.forget(root);
          },
          (error: unknown) => this.log?.warn('releasing a copy failed', { root, error: (error as Error).message }),
        )
        .finally(() => this.inFlight.delete(root));
    }
  }

  private forget(root: BlockId): void {
    this.views.delete(root);
    this.states.delete(root);
  }

  /** An audit of `peer`'s copy of `root` passed or failed (dur-audit's auditor). */
  noteAuditVerdict(root: BlockId, peer: string, ok: boolean): void {
    // A file held but not looked up yet (it came within a round) gets its view now: a failure
    // dropped here would never count, and a later pass cannot make up for it. Bounded by held files.
    const view = this.views.get(root) ?? (!ok && this.host.holds(root) ? this.viewOf(root) : undefined);
    const holder = view?.holders.get(peer);
    // A failure sticks (a later pass proves only that one block): the copy stays uncounted until
    // this seed forgets the view, and repair has made up for it meanwhile.
    if (holder) holder.failed ||= !ok;
    else if (view && !ok && view.holders.size < REPLICATION_MAX_VIEW_HOLDERS) {
      view.holders.set(peer, { kind: this.kinds.get(peer) ?? 'browser', present: false, lastSeen: 0, failed: true });
    }
  }

  /**
   * `from` says the peer that was `former` lost `roots`. Believed only for holders this seed knows
   * and sees absent now: their grace ends at once. Returns how many holders it changed.
   */
  noteLost(from: string, former: string, roots: readonly BlockId[]): number {
    let changed = 0;
    const now = this.now();
    for (const root of roots) {
      if (!this.lostBucket.take()) break;
      const holder = this.views.get(root)?.holders.get(former);
      if (!holder || holder.present || former === this.host.self) continue;
      if (holder.lastSeen > now - this.graceMs) {
        holder.lastSeen = now - this.graceMs;
        changed++;
      }
    }
    if (changed > 0) {
      this.log?.info('a lost report ended the grace of absent holders', { from, former, changed });
      // Planned now, not at the next round: the point of the report is that repair starts at once.
      for (const root of roots) if (this.views.get(root)?.holders.get(former)) this.plan(root);
    }
    return changed;
  }

  /** This seed's view of `root`'s copies, or undefined if it does not hold the file. */
  report(root: BlockId): ReplicaReport | undefined {
    if (!this.host.holds(root)) return undefined;
    const policy = this.policyOf(root);
    const now = this.now();
    const holders = this.holdersOf(root);
    const count = liveCopies(holders, now, policy);
    const listed = holders
      .map((h) => ({ h, state: classifyHolder(h, now, policy.graceMs) }))
      .sort((a, b) => stateRank(a.state) - stateRank(b.state) || b.h.lastSeen - a.h.lastSeen)
      .slice(0, MAX_REPORTED_HOLDERS);
    return {
      v: 1,
      root,
      target: policy.target,
      minimum: policy.minimum,
      graceMs: Math.round(policy.graceMs),
      live: count.live,
      counted: count.counted,
      atRisk: count.atRisk,
      byKind: { ...count.liveByKind },
      holders: listed.map(({ h, state }) => ({
        peer: h.id,
        kind: h.kind,
        state,
        lastSeen: Math.max(0, Math.round(h.present ? now : h.lastSeen)),
      })),
      audits: this.host.auditCounts?.(root) ?? { passed: 0, failed: 0 },
    };
  }

  stats(): ReplicationStats {
    const files = { below_target: 0, at_target: 0, above_target: 0, at_risk: 0 };
    for (const { state, atRisk } of this.states.values()) {
      files[state]++;
      if (atRisk) files.at_risk++;
    }
    return {
      files,
      repairs: { ok: this.counters.ok, failed: this.counters.failed },
      releases: this.counters.releases,
      lookups: this.counters.lookups,
    };
  }
}

function stateRank(state: HolderState): number {
  return state === 'live' ? 0 : state === 'absent' ? 1 : state === 'failed' ? 2 : 3;
}
