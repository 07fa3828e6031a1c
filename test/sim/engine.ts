// The discrete-event replication simulation: replays a world's churn trace under one policy setting
// and measures what people would live with (files lost, unavailable, at risk) and what it costs
// (repair traffic, seed storage and its balance). Every repair and release decision is taken by the
// real policy (src/replication/policy.ts); audits are scheduled by the real audit helper. Simulated
// time only: no clock, no network, seeded randomness.
//
// What the engine tracks
// - The policy's view: per file the peers that announced a copy; per peer whether it is present and
//   since when it is away. Holders are re-planned on the events that can change a plan: a counted
//   holder leaving (the minimum rule) and its grace ending, a holder coming back (surplus, or a
//   stalled file finding a pusher), a candidate coming back (a stalled file finding a target), a
//   transfer ending, an audit failing, a wipe being reported, an upload.
// - The ground truth the policy cannot see: a departed peer's copies are gone, a wiped browser's too
//   until it starts again and says so, a corrupted copy is bad until an audit or a transfer reveals
//   it. A file is lost when no good copy remains anywhere: nothing can bring it back.
// - Transfers take time (size / the pusher's upload rate, queued per pusher) and fail if either end
//   leaves meanwhile; one plan per file at a time, as planRepair asks.
import {
  MIN_SEED_COPIES,
  PEER_KINDS,
  classifyHolder,
  liveCopies,
  pickFromRanked,
  planRepair,
  rankHolders,
  type Holder,
  type PushReason,
  type ReplicationPolicy,
} from '../../src/replication/policy.js';
import { nextAuditDelay } from '../../src/replication/audit.js';
import { DAY, HOUR, type Model } from './model.js';
import { Rng } from './rng.js';
import { Ev, type World } from './world.js';

export interface Setting {
  name: string;
  label: string;
  policy: ReplicationPolicy;
  auditIntervalMs: number;
  /** Seeds tell the policy their provider (failure domain). */
  domains?: boolean;
}

export interface RunOptions {
  /** Check invariants at every hourly sample (slow: meant for small worlds). */
  checkInvariants?: boolean;
  /** After the trace, bring every remaining peer online and let repair finish (up to this long). */
  settleMs?: number;
}

interface View extends Holder {
  readonly index: number;
  present: boolean;
  lastSeen: number;
}

interface Transfer {
  file: number;
  from: number;
  to: number;
  fromEpoch: number;
  toEpoch: number;
  placement: boolean;
}

const enum Hev {
  Grace = 1,
  Transfer = 2,
  Audit = 3,
  Sample = 4,
}

interface QueueEntry {
  t: number;
  /** Samples run after everything else at the same instant. */
  late: number;
  seq: number;
  kind: Hev;
  a: number;
  b: number;
}

class EventQueue {
  private heap: QueueEntry[] = [];
  private seq = 0;
  get size() {
    return this.heap.length;
  }
  peekTime(): number {
    return this.heap.length ? this.heap[0]!.t : Infinity;
  }
  push(t: number, kind: Hev, a = 0, b = 0) {
    const e: QueueEntry = { t, late: kind === Hev.Sample ? 1 : 0, seq: this.seq++, kind, a, b };
    const h = this.heap;
    let i = h.length;
    h.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(e, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }
  pop(): QueueEntry {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && before(h[r]!, h[l]!) ? r : l;
        if (!before(h[c]!, last)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

function before(x: QueueEntry, y: QueueEntry): boolean {
  return x.t < y.t || (x.t === y.t && (x.late < y.late || (x.late === y.late && x.seq < y.seq)));
}

export interface Spread {
  mean: number;
  max: number;
}

export interface DayFigures {
  day: number;
  repairPushes: number;
  repairBytes: number;
  placementBytes: number;
  releases: number;
  maxBelowMinimum: number;
  maxUnavailable: number;
}

export interface Metrics {
  filesCreated: number;
  filesAtEnd: number;
  /** No good copy left anywhere, during the measured days / during warm-up too. */
  filesLost: number;
  filesLostAll: number;
  repairPushesPerDay: Spread;
  repairBytesPerDay: Spread;
  placementBytesPerDay: number;
  pushesBelowMinimum: number;
  pushesNoSeedCopy: number;
  failedTransfers: number;
  releasesPerDay: number;
  /** Hourly samples over the measured days. */
  belowTarget: Spread;
  belowMinimum: Spread;
  fewerThanTwoLive: Spread;
  unavailable: Spread;
  fileHoursUnavailable: number;
  opens: number;
  openFailures: number;
  corruptions: number;
  caughtByAudit: number;
  caughtByTransfer: number;
  detectHours: Spread;
  undetectedAtEnd: number;
  wipesReported: number;
  seedCopiesPerFile: number;
  seedTerabytes: number;
  seedsAlive: number;
  loadFiles: { maxMin: number; maxMean: number };
  loadBytes: { maxMin: number; maxMean: number };
  daily: DayFigures[];
  /** Files whose good, present, counted copies are fewer than the target after settling. */
  settledBelowTarget?: number;
  violations: number;
  violationSamples: string[];
  runSeconds: number;
}

const key = (file: number, peer: number, peers: number) => file * peers + peer;

export function simulate(world: World, setting: Setting, options: RunOptions = {}): Metrics {
  return new Simulation(world, setting, options).run();
}

class Simulation {
  private now = 0;
  private readonly P: number;
  private readonly S: number;
  private readonly policy: ReplicationPolicy;
  private readonly counts: boolean[];
  private readonly online: Uint8Array;
  private readonly epoch: Int32Array;
  private readonly dead: Uint8Array;
  private readonly wiped: Uint8Array;
  private readonly busy: Float64Array;
  private readonly holdings: Set<number>[];
  private readonly views: View[];
  private readonly holders: number[][];
  private readonly exists: Uint8Array;
  private readonly lostAt: Float64Array;
  private readonly pending: Int32Array;
  private readonly placed: Uint8Array;
  /**
   * Per file: counted copies present, and seed copies present. Only a change across the minimum or
   * past target + slack can make a holder's arrival or departure change a plan, so the engine
   * re-plans on those alone; the invariant check proves no due plan is missed.
   */
  private readonly presentCounted: Int32Array;
  private readonly seedsPresent: Int32Array;
  private readonly corrupt = new Map<number, number>();
  private readonly stalledNoHolder = new Set<number>();
  private readonly stalledNoCandidate = new Set<number>();
  private readonly transfers = new Map<number, Transfer>();
  private nextTransfer = 0;
  private readonly queue = new EventQueue();
  private readonly auditRng: Rng;
  private readonly model: Model;
  private readonly seedViews: View[];
  private readonly random: () => number;
  private filesCreated = 0;

  // Measurements.
  private readonly day: DayFigures[];
  private lost = 0;
  private lostAll = 0;
  private pushesBelowMinimum = 0;
  private pushesNoSeedCopy = 0;
  private failedTransfers = 0;
  private releases = 0;
  private samples = 0;
  private readonly sums = { belowTarget: 0, belowMinimum: 0, fewerThanTwo: 0, unavailable: 0 };
  private readonly maxima = { belowTarget: 0, belowMinimum: 0, fewerThanTwo: 0, unavailable: 0 };
  private opens = 0;
  private openFailures = 0;
  private corruptions = 0;
  private caughtByAudit = 0;
  private caughtByTransfer = 0;
  private detectSum = 0;
  private detectMax = 0;
  private wipesReported = 0;
  private violations = 0;
  private readonly violationSamples: string[] = [];

  constructor(
    private readonly world: World,
    private readonly setting: Setting,
    private readonly options: RunOptions,
  ) {
    this.model = world.model;
    this.P = world.peerCount;
    this.S = world.seedCount;
    this.policy = setting.policy;
    this.counts = PEER_KINDS.map((k) => setting.policy.counts.includes(k));
    this.online = world.onlineAtStart.slice();
    this.epoch = new Int32Array(this.P);
    this.dead = new Uint8Array(this.P);
    this.wiped = new Uint8Array(this.P);
    this.busy = new Float64Array(this.P);
    this.holdings = Array.from({ length: this.P }, () => new Set<number>());
    this.views = Array.from({ length: this.P }, (_, p) => ({
      id: world.peerId[p]!,
      kind: PEER_KINDS[world.kind[p]!]!,
      ...(setting.domains && world.provider[p] !== undefined ? { domain: world.provider[p] } : {}),
      index: p,
      present: this.online[p] === 1,
      lastSeen: 0,
    }));
    this.seedViews = this.views.slice(0, this.S);
    this.holders = Array.from({ length: world.fileCount }, () => []);
    this.exists = new Uint8Array(world.fileCount);
    this.lostAt = new Float64Array(world.fileCount).fill(-1);
    this.pending = new Int32Array(world.fileCount);
    this.placed = new Uint8Array(world.fileCount);
    this.presentCounted = new Int32Array(world.fileCount);
    this.seedsPresent = new Int32Array(world.fileCount);
    this.auditRng = new Rng(`${world.model.seed}/audits/${setting.name}`);
    this.random = () => this.auditRng.next();
    this.day = Array.from({ length: world.model.days }, (_, day) => ({
      day,
      repairPushes: 0,
      repairBytes: 0,
      placementBytes: 0,
      releases: 0,
      maxBelowMinimum: 0,
      maxUnavailable: 0,
    }));
  }

  run(): Metrics {
    const started = performance.now();
    this.bootstrap();
    this.queue.push(this.world.measureFrom, Hev.Sample);
    const tr = this.world.trace;
    const end = this.world.end;
    let i = 0;
    for (;;) {
      const tt = i < tr.n ? tr.time[i]! : Infinity;
      const qt = this.queue.peekTime();
      const t = Math.min(tt, qt);
      if (t > end) break;
      this.now = t;
      if (tt <= qt) {
        this.onTrace(tr.type[i]!, tr.peer[i]!, tr.arg[i]!);
        i++;
      } else this.onQueue(this.queue.pop());
    }
    this.now = end;
    let settledBelowTarget: number | undefined;
    if (this.options.settleMs !== undefined) settledBelowTarget = this.settle(end + this.options.settleMs);
    return this.metrics(settledBelowTarget, (performance.now() - started) / 1000);
  }

  // --- the state before the first event ---------------------------------------------------------

  /**
   * The initial files as the policy would have left them with everyone online: their browser
   * copies, plus the top-ranked seeds for what the counted browser copies do not cover.
   */
  private bootstrap() {
    const w = this.world;
    for (let f = 0; f < w.initialFiles; f++) {
      this.exists[f] = 1;
      this.filesCreated++;
      let counted = 0;
      for (const p of w.initialHolders[f]!) {
        this.addHolding(f, p);
        if (this.counts[w.kind[p]!]) counted++;
      }
      const seedCopies = this.counts[0] ? Math.max(this.policy.target - counted, MIN_SEED_COPIES) : 0;
      const ranked = Array.from(this.seedRank(f), (p) => this.views[p]!);
      for (const v of pickFromRanked(ranked, seedCopies)) this.addHolding(f, v.index);
      this.placed[f] = 1;
    }
    // Everyone offline at the start was last seen at t = 0: their grace runs from there.
    for (let p = 0; p < this.P; p++) {
      if (!this.online[p] && this.counts[w.kind[p]!]) this.queue.push(this.policy.graceMs, Hev.Grace, p, this.epoch[p]);
    }
  }

  private seedRank(f: number): Int32Array {
    const w = this.world;
    const r = w.seedRank.subarray(f * this.S, (f + 1) * this.S);
    if (this.S > 0 && r[0] === -1) rankHolders(w.root[f]!, this.seedViews).forEach((v, i) => (r[i] = v.index));
    return r;
  }

  // --- events ------------------------------------------------------------------------------------

  private onTrace(type: Ev, p: number, arg: number) {
    switch (type) {
      case Ev.Online:
        return this.onOnline(p);
      case Ev.Offline:
        return this.onOffline(p);
      case Ev.Death:
        return this.onDeath(p);
      case Ev.Evict:
        return this.onEvict(p);
      case Ev.Upload:
        return this.onUpload(p, arg);
      case Ev.Open:
        return this.onOpen(p, arg);
      case Ev.Corrupt:
        return this.onCorrupt(p, arg);
    }
  }

  private onQueue(e: QueueEntry) {
    switch (e.kind) {
      case Hev.Grace:
        if (this.epoch[e.a] === e.b && !this.online[e.a]) for (const f of [...this.holdings[e.a]!]) this.plan(f);
        return;
      case Hev.Transfer:
        return this.onTransferEnd(e.a);
      case Hev.Audit:
        return this.onAudit(e.a, e.b);
      case Hev.Sample:
        this.sample();
        if (this.now + HOUR < this.world.end) this.queue.push(this.now + HOUR, Hev.Sample);
        return;
    }
  }

  private onOnline(p: number) {
    if (this.dead[p] || this.online[p]) return;
    const mine = [...this.holdings[p]!];
    if (this.wiped[p]) {
      // The canary tells the browser its storage was wiped: it reports every holding lost.
      this.wiped[p] = 0;
      this.wipesReported++;
      for (const f of mine) this.removeHolding(f, p);
    }
    this.online[p] = 1;
    this.epoch[p]!++;
    this.views[p]!.present = true;
    const kind = this.world.kind[p]!;
    const counted = this.counts[kind];
    const surplus = this.policy.target + this.policy.releaseSlack;
    for (const f of this.holdings[p]!) {
      if (counted) this.presentCounted[f]!++;
      if (kind === 0 && counted) this.seedsPresent[f]!++;
    }
    // Re-plan what this return can change: a reported wipe, a file waiting for a live holder, seed
    // copies past target + slack; and, as a new candidate, files waiting for one.
    for (const f of mine) {
      if (this.stalledNoHolder.has(f) || !this.holders[f]!.includes(p) || this.seedsPresent[f]! > surplus) this.plan(f);
    }
    if (counted) for (const f of [...this.stalledNoCandidate]) this.plan(f);
  }

  private onOffline(p: number) {
    if (!this.online[p]) return;
    this.online[p] = 0;
    this.epoch[p]!++;
    const v = this.views[p]!;
    v.present = false;
    v.lastSeen = this.now;
    this.busy[p] = this.now;
    const kind = this.world.kind[p]!;
    if (!this.counts[kind]) return;
    const due: number[] = [];
    for (const f of this.holdings[p]!) {
      if (kind === 0) this.seedsPresent[f]!--;
      if (--this.presentCounted[f]! < this.policy.minimum) due.push(f);
    }
    for (const f of due) this.plan(f);
    this.queue.push(this.now + this.policy.graceMs, Hev.Grace, p, this.epoch[p]);
  }

  private onDeath(p: number) {
    this.onOffline(p);
    this.dead[p] = 1;
    for (const f of this.holdings[p]!) this.checkLoss(f);
  }

  private onEvict(p: number) {
    if (this.dead[p] || this.online[p]) return;
    this.wiped[p] = 1;
    for (const f of this.holdings[p]!) this.checkLoss(f);
  }

  private onUpload(p: number, f: number) {
    if (this.dead[p] || !this.online[p] || this.wiped[p]) return;
    this.exists[f] = 1;
    this.filesCreated++;
    this.addHolding(f, p);
    this.plan(f);
  }

  private onOpen(p: number, f: number) {
    if (this.dead[p] || !this.online[p] || !this.exists[f] || this.now < this.world.measureFrom) return;
    if (this.holders[f]!.includes(p)) return;
    this.opens++;
    const source = this.holders[f]!.some((h) => this.online[h] && !this.corrupt.has(key(f, h, this.P)));
    if (!source) {
      this.openFailures++;
      return;
    }
    this.addHolding(f, p);
  }

  private onCorrupt(p: number, u: number) {
    const mine = this.holdings[p]!;
    if (this.dead[p] || mine.size === 0) return;
    let k = Math.floor(u * mine.size);
    let f = -1;
    for (const x of mine)
      if (k-- === 0) {
        f = x;
        break;
      }
    const kf = key(f, p, this.P);
    if (this.corrupt.has(kf)) return;
    this.corrupt.set(kf, this.now);
    this.corruptions++;
    this.checkLoss(f);
    this.queue.push(this.now + nextAuditDelay(this.random, this.setting.auditIntervalMs), Hev.Audit, f, p);
  }

  private onAudit(f: number, p: number) {
    const kf = key(f, p, this.P);
    const since = this.corrupt.get(kf);
    if (since === undefined || !this.holders[f]!.includes(p)) return;
    if (!this.online[p]) {
      // Unanswered: the holder is away, which grace already accounts for. Ask again later.
      this.queue.push(this.now + nextAuditDelay(this.random, this.setting.auditIntervalMs), Hev.Audit, f, p);
      return;
    }
    this.caughtByAudit++;
    this.detectSum += this.now - since;
    this.detectMax = Math.max(this.detectMax, this.now - since);
    this.plan(f, p);
    this.removeHolding(f, p);
  }

  // --- planning and transfers --------------------------------------------------------------------

  private *candidates(f: number): Generator<View> {
    const rank = this.seedRank(f);
    for (let i = 0; i < this.S; i++) {
      const p = rank[i]!;
      if (this.online[p]) yield this.views[p]!;
    }
    if (!this.counts[1] && !this.counts[2]) return;
    const browsers: View[] = [];
    for (let p = this.S; p < this.P; p++)
      if (this.online[p] && this.counts[this.world.kind[p]!]) browsers.push(this.views[p]!);
    yield* rankHolders(this.world.root[f]!, browsers);
  }

  private holderViews(f: number, failed: number): Holder[] {
    return this.holders[f]!.map((p) => (p === failed ? { ...this.views[p]!, auditFailed: true } : this.views[p]!));
  }

  /** Runs the policy for file f and carries out its plan. `failed` is a holder that just failed an audit. */
  private plan(f: number, failed = -1) {
    if (!this.exists[f] || this.lostAt[f]! >= 0 || this.pending[f]! > 0) return;
    const plan = planRepair(
      this.world.root[f]!,
      this.holderViews(f, failed),
      this.candidates(f),
      this.now,
      this.policy,
    );
    if (plan.counted >= this.policy.target) this.placed[f] = 1;
    this.stalledNoHolder.delete(f);
    this.stalledNoCandidate.delete(f);
    if (plan.stalled === 'no-live-holder') this.stalledNoHolder.add(f);
    if (plan.stalled === 'no-candidate') this.stalledNoCandidate.add(f);
    if (plan.push) {
      const from = (plan.push.from as View).index;
      for (const to of plan.push.to) this.startTransfer(f, from, to.index, plan.push.reason);
    }
    for (const r of plan.release) {
      this.removeHolding(f, (r as View).index);
      if (this.now >= this.world.measureFrom) {
        this.releases++;
        this.dayOf()!.releases++;
      }
    }
  }

  private startTransfer(f: number, from: number, to: number, reason: PushReason) {
    const bw = this.world.kind[from] === 0 ? this.model.bandwidth.seed : this.model.bandwidth.browser;
    const start = Math.max(this.now, this.busy[from]!);
    const done = start + this.model.bandwidth.setupMs + (this.world.size[f]! / bw) * 1000;
    this.busy[from] = done;
    this.pending[f]!++;
    const id = this.nextTransfer++;
    this.transfers.set(id, {
      file: f,
      from,
      to,
      fromEpoch: this.epoch[from]!,
      toEpoch: this.epoch[to]!,
      placement: !this.placed[f],
    });
    if (this.now >= this.world.measureFrom && this.placed[f]) {
      if (reason === 'below-minimum') this.pushesBelowMinimum++;
      if (reason === 'no-seed-copy') this.pushesNoSeedCopy++;
    }
    this.queue.push(done, Hev.Transfer, id);
  }

  private onTransferEnd(id: number) {
    const t = this.transfers.get(id)!;
    this.transfers.delete(id);
    const f = t.file;
    this.pending[f]!--;
    const sourceHolds =
      this.epoch[t.from] === t.fromEpoch &&
      !this.dead[t.from] &&
      !this.wiped[t.from] &&
      this.holders[f]!.includes(t.from);
    const measured = this.now >= this.world.measureFrom;
    if (sourceHolds && this.corrupt.has(key(f, t.from, this.P))) {
      // The receiver checks every block against its id: a bad copy shows itself on the first push.
      this.caughtByTransfer++;
      const since = this.corrupt.get(key(f, t.from, this.P))!;
      this.detectSum += this.now - since;
      this.detectMax = Math.max(this.detectMax, this.now - since);
      this.removeHolding(f, t.from);
      this.failedTransfers++;
    } else if (sourceHolds && this.epoch[t.to] === t.toEpoch && !this.dead[t.to] && !this.holders[f]!.includes(t.to)) {
      this.addHolding(f, t.to);
      if (measured) {
        const d = this.dayOf()!;
        if (t.placement) d.placementBytes += this.world.size[f]!;
        else {
          d.repairPushes++;
          d.repairBytes += this.world.size[f]!;
        }
      }
    } else if (measured) this.failedTransfers++;
    if (this.pending[f] === 0) this.plan(f);
  }

  private addHolding(f: number, p: number) {
    this.holders[f]!.push(p);
    this.holdings[p]!.add(f);
    if (this.online[p] && this.counts[this.world.kind[p]!]) {
      this.presentCounted[f]!++;
      if (this.world.kind[p] === 0) this.seedsPresent[f]!++;
    }
  }

  private removeHolding(f: number, p: number) {
    const hs = this.holders[f]!;
    const i = hs.indexOf(p);
    if (i < 0) return;
    hs.splice(i, 1);
    this.holdings[p]!.delete(f);
    if (this.online[p] && this.counts[this.world.kind[p]!]) {
      this.presentCounted[f]!--;
      if (this.world.kind[p] === 0) this.seedsPresent[f]!--;
    }
    this.corrupt.delete(key(f, p, this.P));
  }

  private goodCopy(f: number, p: number): boolean {
    return !this.dead[p] && !this.wiped[p] && !this.corrupt.has(key(f, p, this.P));
  }

  private checkLoss(f: number) {
    if (!this.exists[f] || this.lostAt[f]! >= 0) return;
    if (this.holders[f]!.some((p) => this.goodCopy(f, p))) return;
    this.lostAt[f] = this.now;
    this.lostAll++;
    if (this.now >= this.world.measureFrom) this.lost++;
  }

  private dayOf(): DayFigures | undefined {
    return this.day[Math.min(this.day.length - 1, Math.floor((this.now - this.world.measureFrom) / DAY))];
  }

  // --- measuring ---------------------------------------------------------------------------------

  private sample() {
    const grace = this.policy.graceMs;
    let belowTarget = 0,
      belowMinimum = 0,
      fewerThanTwo = 0,
      unavailable = 0;
    for (let f = 0; f < this.world.fileCount; f++) {
      if (!this.exists[f] || this.lostAt[f]! >= 0) continue;
      let any = 0,
        counted = 0,
        present = 0;
      // classifyHolder, inlined: this loop runs over every holding every simulated hour.
      for (const p of this.holders[f]!) {
        const live = this.online[p] === 1;
        if (live) any++;
        if (!this.counts[this.world.kind[p]!]) continue;
        if (live) present++;
        if (live || this.now < this.views[p]!.lastSeen + grace) counted++;
      }
      if (counted < this.policy.target) belowTarget++;
      if (present < this.policy.minimum) belowMinimum++;
      if (any < 2) fewerThanTwo++;
      if (any === 0) unavailable++;
    }
    this.samples++;
    const s = this.sums,
      m = this.maxima;
    s.belowTarget += belowTarget;
    s.belowMinimum += belowMinimum;
    s.fewerThanTwo += fewerThanTwo;
    s.unavailable += unavailable;
    m.belowTarget = Math.max(m.belowTarget, belowTarget);
    m.belowMinimum = Math.max(m.belowMinimum, belowMinimum);
    m.fewerThanTwo = Math.max(m.fewerThanTwo, fewerThanTwo);
    m.unavailable = Math.max(m.unavailable, unavailable);
    const d = this.dayOf()!;
    d.maxBelowMinimum = Math.max(d.maxBelowMinimum, belowMinimum);
    d.maxUnavailable = Math.max(d.maxUnavailable, unavailable);
    if (this.options.checkInvariants) this.checkInvariants();
  }

  private violation(message: string) {
    this.violations++;
    if (this.violationSamples.length < 20) this.violationSamples.push(`t=${(this.now / HOUR).toFixed(2)}h ${message}`);
  }

  /**
   * What must hold whatever the numbers: the view and the ground truth agree where they must (no
   * departed or absent peer counted live), tables agree with each other, and no file the policy
   * would act on was left without a plan (every event that can change a plan triggered one).
   */
  private checkInvariants() {
    for (let f = 0; f < this.world.fileCount; f++) {
      if (!this.exists[f]) continue;
      const hs = this.holders[f]!;
      if (new Set(hs).size !== hs.length) this.violation(`file ${f} lists a holder twice`);
      let trulyPresent = 0,
        presentCounted = 0,
        seedsPresent = 0;
      for (const p of hs) {
        if (this.online[p] && this.counts[this.world.kind[p]!]) {
          presentCounted++;
          if (this.world.kind[p] === 0) seedsPresent++;
        }
        if (!this.holdings[p]!.has(f)) this.violation(`file ${f} lists ${p}, whose holdings lack it`);
        const state = classifyHolder(this.views[p]!, this.now, this.policy.graceMs);
        if (state === 'live' && (!this.online[p] || this.dead[p]))
          this.violation(`file ${f}: ${p} counted live but away or gone`);
        if (this.online[p] && this.dead[p]) this.violation(`peer ${p} online after leaving for good`);
        if (this.online[p]) trulyPresent++;
      }
      if (liveCopies(this.holderViews(f, -1), this.now, this.policy).live !== trulyPresent) {
        this.violation(`file ${f}: live count differs from the peers online`);
      }
      if (presentCounted !== this.presentCounted[f] || seedsPresent !== this.seedsPresent[f]) {
        this.violation(`file ${f}: present counters out of step`);
      }
      if (this.pending[f]! < 0) this.violation(`file ${f}: negative transfers in flight`);
      if (this.lostAt[f]! >= 0 || this.pending[f]! > 0) continue;
      const plan = planRepair(this.world.root[f]!, this.holderViews(f, -1), this.candidates(f), this.now, this.policy);
      if (plan.push || plan.release.length > 0) this.violation(`file ${f}: a plan was due but never made`);
    }
  }

  /** Brings every peer still around online and lets repair run to the end; counts files short of the target. */
  private settle(until: number): number {
    for (let p = 0; p < this.P; p++) if (!this.dead[p] && !this.online[p]) this.onOnline(p);
    while (this.queue.size > 0 && this.queue.peekTime() <= until) {
      const e = this.queue.pop();
      this.now = e.t;
      if (e.kind !== Hev.Sample) this.onQueue(e);
    }
    let short = 0;
    for (let f = 0; f < this.world.fileCount; f++) {
      if (!this.exists[f] || this.lostAt[f]! >= 0) continue;
      let good = 0;
      for (const p of this.holders[f]!)
        if (this.online[p] && this.counts[this.world.kind[p]!] && this.goodCopy(f, p)) good++;
      if (good < this.policy.target) short++;
    }
    return short;
  }

  private metrics(settledBelowTarget: number | undefined, runSeconds: number): Metrics {
    const days = this.day;
    const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
    const spread = (xs: number[]): Spread => ({ mean: mean(xs), max: Math.max(0, ...xs) });
    const perSample = (k: keyof typeof this.sums): Spread => ({
      mean: this.samples ? this.sums[k] / this.samples : 0,
      max: this.maxima[k],
    });
    const seeds = [];
    for (let s = 0; s < this.S; s++) {
      if (this.dead[s]) continue;
      let bytes = 0;
      for (const f of this.holdings[s]!) bytes += this.world.size[f]!;
      seeds.push({ files: this.holdings[s]!.size, bytes });
    }
    const balance = (xs: number[]) => {
      const max = Math.max(...xs),
        min = Math.min(...xs),
        avg = mean(xs);
      return { maxMin: min > 0 ? max / min : Infinity, maxMean: avg > 0 ? max / avg : 0 };
    };
    let filesAtEnd = 0;
    for (let f = 0; f < this.world.fileCount; f++) if (this.exists[f] && this.lostAt[f]! < 0) filesAtEnd++;
    const seedCopies = seeds.reduce((a, s) => a + s.files, 0);
    const caught = this.caughtByAudit + this.caughtByTransfer;
    return {
      filesCreated: this.filesCreated,
      filesAtEnd,
      filesLost: this.lost,
      filesLostAll: this.lostAll,
      repairPushesPerDay: spread(days.map((d) => d.repairPushes)),
      repairBytesPerDay: spread(days.map((d) => d.repairBytes)),
      placementBytesPerDay: mean(days.map((d) => d.placementBytes)),
      pushesBelowMinimum: this.pushesBelowMinimum,
      pushesNoSeedCopy: this.pushesNoSeedCopy,
      failedTransfers: this.failedTransfers,
      releasesPerDay: this.releases / Math.max(1, days.length),
      belowTarget: perSample('belowTarget'),
      belowMinimum: perSample('belowMinimum'),
      fewerThanTwoLive: perSample('fewerThanTwo'),
      unavailable: perSample('unavailable'),
      fileHoursUnavailable: this.sums.unavailable,
      opens: this.opens,
      openFailures: this.openFailures,
      corruptions: this.corruptions,
      caughtByAudit: this.caughtByAudit,
      caughtByTransfer: this.caughtByTransfer,
      detectHours: { mean: caught ? this.detectSum / caught / HOUR : 0, max: this.detectMax / HOUR },
      undetectedAtEnd: this.corrupt.size,
      wipesReported: this.wipesReported,
      seedCopiesPerFile: filesAtEnd ? seedCopies / filesAtEnd : 0,
      seedTerabytes: seeds.reduce((a, s) => a + s.bytes, 0) / 1e12,
      seedsAlive: seeds.length,
      loadFiles: balance(seeds.map((s) => s.files)),
      loadBytes: balance(seeds.map((s) => s.bytes)),
      daily: days,
      ...(settledBelowTarget === undefined ? {} : { settledBelowTarget }),
      violations: this.violations,
      violationSamples: this.violationSamples,
      runSeconds,
    };
  }
}
