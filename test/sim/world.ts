// Builds a simulated world from a model: peers (ids, kinds), files (roots, sizes, first holders) and
// a churn trace — every event that does not depend on the replication policy (sessions, flaps,
// departures, wipes, seed outages and losses, silent corruption, uploads, opens), sorted by time.
// The trace is built once and replayed under every policy setting, so settings are compared on
// exactly the same churn.
import { toBase64Url, toHex } from '../../src/content/bytes.js';
import { DAY, HOUR, MINUTE, type Model } from './model.js';
import { Rng } from './rng.js';

export const enum Ev {
  Online = 1,
  Offline = 2,
  /** Leaves for good: its copies are gone. */
  Death = 3,
  /** Storage wiped while offline: copies gone, reported at the next start. */
  Evict = 4,
  /** `arg` is the new file's index. */
  Upload = 5,
  /** `arg` is the opened file's index. */
  Open = 6,
  /** One of the peer's holdings goes bad; `arg` in [0, 1) picks which. */
  Corrupt = 7,
}

/** Kind index: 0 seed, 1 persisted browser, 2 browser (PEER_KINDS order). */
export type KindIndex = 0 | 1 | 2;

export interface Trace {
  readonly n: number;
  readonly time: Float64Array;
  readonly type: Uint8Array;
  readonly peer: Int32Array;
  readonly arg: Float64Array;
}

export interface World {
  readonly model: Model;
  readonly peerCount: number;
  readonly seedCount: number;
  /** Seeds are peers 0..seedCount-1. */
  readonly kind: Uint8Array;
  /** Each seed's hosting provider (its failure domain); undefined for browsers. */
  readonly provider: (string | undefined)[];
  readonly peerId: string[];
  readonly onlineAtStart: Uint8Array;
  readonly fileCount: number;
  readonly initialFiles: number;
  readonly root: string[];
  readonly size: Float64Array;
  /** Browsers holding each initial file at the start (uploader, readers). */
  readonly initialHolders: number[][];
  readonly trace: Trace;
  readonly measureFrom: number;
  readonly end: number;
  /** Seeds in rendezvous order per file, filled on first use (files × seeds; -1 = not yet). */
  readonly seedRank: Int32Array;
}

type Interval = [number, number];

class TraceBuilder {
  time: number[] = [];
  type: number[] = [];
  peer: number[] = [];
  arg: number[] = [];
  add(t: number, type: Ev, peer: number, arg = 0) {
    this.time.push(t);
    this.type.push(type);
    this.peer.push(peer);
    this.arg.push(arg);
  }
  build(): Trace {
    const n = this.time.length;
    const order = new Int32Array(n).map((_, i) => i);
    const t = this.time;
    order.sort((a, b) => t[a]! - t[b]! || a - b);
    const out = {
      n,
      time: new Float64Array(n),
      type: new Uint8Array(n),
      peer: new Int32Array(n),
      arg: new Float64Array(n),
    };
    for (let i = 0; i < n; i++) {
      const j = order[i]!;
      out.time[i] = t[j]!;
      out.type[i] = this.type[j]!;
      out.peer[i] = this.peer[j]!;
      out.arg[i] = this.arg[j]!;
    }
    return out;
  }
}

function mergeIntervals(list: Interval[], from: number, to: number): Interval[] {
  const clipped = list
    .map(([s, e]): Interval => [Math.max(s, from), Math.min(e, to)])
    .filter(([s, e]) => e > s)
    .sort((a, b) => a[0] - b[0]);
  const out: Interval[] = [];
  for (const iv of clipped) {
    const last = out[out.length - 1];
    if (last && iv[0] <= last[1]) last[1] = Math.max(last[1], iv[1]);
    else out.push([iv[0], iv[1]]);
  }
  return out;
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

function pickTimezone(rng: Rng, model: Model): number {
  let u = rng.next();
  for (const tz of model.timezones) {
    if ((u -= tz.weight) < 0) return tz.offset;
  }
  return model.timezones[model.timezones.length - 1]!.offset;
}

/** Online intervals of one browser over [from, to], before flaps. */
function browserSessions(rng: Rng, model: Model, habit: number, tz: number, from: number, to: number): Interval[] {
  const out: Interval[] = [];
  const firstDay = Math.floor(from / DAY) - 1;
  const lastDay = Math.ceil(to / DAY);
  if (habit === 0) {
    const o = model.occasional;
    for (let d = firstDay; d <= lastDay; d++) {
      if (!rng.chance(o.activeDay)) continue;
      const n = 1 + rng.poisson(o.extraSessions);
      for (let i = 0; i < n; i++) {
        const hour = rng.chance(0.4) ? rng.normal(13, 3) : rng.normal(20.5, 2);
        const start = d * DAY + (hour - tz) * HOUR;
        out.push([start, start + clamp(rng.lognormal(o.medianMin * MINUTE, o.sigma), MINUTE, 12 * HOUR)]);
      }
    }
  } else if (habit === 1) {
    const w = model.daily;
    for (let d = firstDay; d <= lastDay; d++) {
      if (rng.chance(w.activeDay)) {
        const start = d * DAY + (rng.normal(w.startHour, 1) - tz) * HOUR;
        out.push([start, start + clamp(rng.lognormal(w.medianHours * HOUR, w.sigma), 10 * MINUTE, 14 * HOUR)]);
      }
      if (rng.chance(w.evening)) {
        const start = d * DAY + (rng.normal(20.5, 1.5) - tz) * HOUR;
        out.push([start, start + clamp(rng.lognormal(w.eveningMedianMin * MINUTE, 0.8), MINUTE, 6 * HOUR)]);
      }
    }
  } else {
    const a = model.alwaysOn;
    let t = from - rng.next() * 3 * DAY;
    while (t < to) {
      const on = clamp(rng.lognormal(a.onMedianHours * HOUR, a.onSigma), HOUR, 30 * DAY);
      out.push([t, t + on]);
      t += on + clamp(rng.lognormal(a.offMedianMin * MINUTE, a.offSigma), 10_000, 2 * DAY);
    }
  }
  return mergeIntervals(out, from, to);
}

/** Splits sessions by short disconnects. */
function withFlaps(rng: Rng, model: Model, sessions: Interval[]): Interval[] {
  const f = model.flap;
  const out: Interval[] = [];
  for (const [s0, e] of sessions) {
    let s = s0;
    let x = s + rng.exponential(HOUR / f.perHour);
    while (x < e) {
      out.push([s, x]);
      s = x + clamp(rng.lognormal(f.medianSec * 1000, f.sigma), 1000, HOUR);
      x = s + rng.exponential(HOUR / f.perHour);
    }
    if (s < e) out.push([s, e]);
  }
  return out;
}

/** Poisson arrival times at `perDay` over [from, to]. */
function arrivals(rng: Rng, perDay: number, from: number, to: number): number[] {
  if (perDay <= 0 || to <= from) return [];
  const n = rng.poisson((perDay * (to - from)) / DAY);
  return Array.from({ length: n }, () => from + rng.next() * (to - from)).sort((a, b) => a - b);
}

/** Generates the world of `model`. Deterministic in model.seed. */
export function buildWorld(model: Model): World {
  const rng = new Rng(model.seed);
  const ids = rng.fork('ids');
  const end = (model.warmupDays + model.days) * DAY;
  const measureFrom = model.warmupDays * DAY;
  const tb = new TraceBuilder();
  const zero = model.zeroChurn === true;

  // Peers: seeds, the initial browsers, then newcomers replacing departures.
  const kinds: number[] = [];
  const joinAt: number[] = [];
  for (let i = 0; i < model.seeds; i++) {
    kinds.push(0);
    joinAt.push(0);
  }
  const kindRng = rng.fork('kinds');
  for (let i = 0; i < model.browsers; i++) {
    kinds.push(kindRng.chance(model.persistedFraction) ? 1 : 2);
    joinAt.push(0);
  }
  if (!zero) {
    for (const t of arrivals(rng.fork('joins'), model.departPerDay * model.browsers, 0, end)) {
      kinds.push(kindRng.chance(model.persistedFraction) ? 1 : 2);
      joinAt.push(t);
    }
  }
  const peerCount = kinds.length;
  const kind = Uint8Array.from(kinds);
  const peerId = Array.from({ length: peerCount }, () => toBase64Url(ids.bytes(16)));
  const onlineAtStart = new Uint8Array(peerCount);

  // Browser sessions, departures, wipes; and where uploads and opens may happen.
  const online: { peer: number; iv: Interval }[] = [];
  let onlineTotal = 0;
  for (let p = model.seeds; p < peerCount; p++) {
    const r = rng.fork(`browser-${p}`);
    if (zero) {
      onlineAtStart[p] = 1;
      continue;
    }
    const u = r.next();
    const habit = u < model.mix.occasional ? 0 : u < model.mix.occasional + model.mix.daily ? 1 : 2;
    const tz = pickTimezone(r, model);
    const from = joinAt[p]!;
    const departs = from + r.exponential(DAY / model.departPerDay);
    const to = Math.min(end, departs);
    const sessions = withFlaps(r, model, browserSessions(r, model, habit, tz, from, to));
    for (const [s, e] of sessions) {
      if (s <= 0) onlineAtStart[p] = 1;
      else tb.add(s, Ev.Online, p);
      if (e < to) tb.add(e, Ev.Offline, p);
      online.push({ peer: p, iv: [s, e] });
      onlineTotal += e - s;
    }
    if (departs < end) tb.add(departs, Ev.Death, p);
    const rate = kind[p] === 1 ? model.evictPerDay.persisted : model.evictPerDay.plain;
    for (let t of arrivals(r, rate, from, to)) {
      const during = sessions.find(([s, e]) => s <= t && t < e);
      if (during) t = during[1];
      if (t < to) tb.add(t, Ev.Evict, p);
    }
  }

  // Seeds: outages and restarts, permanent losses, silent corruption.
  const sc = model.seedChurn;
  const deathRng = rng.fork('seed-deaths');
  const dying = new Map<number, number>();
  const outage = new Map<number, Interval>();
  const providers = Math.max(1, Math.min(sc.providers, model.seeds));
  if (!zero && model.seeds > 0) {
    const pick = (from: number[]): number | undefined => {
      const free = from.filter((s) => !dying.has(s));
      return free.length ? free[deathRng.int(free.length)] : undefined;
    };
    const all = Array.from({ length: model.seeds }, (_, s) => s);
    const within = (provider: number) => all.filter((s) => s % providers === provider);
    for (let i = 0; i < sc.permanentFailures; i++) {
      const s = pick(all);
      if (s !== undefined) dying.set(s, measureFrom + deathRng.next() * (end - measureFrom));
    }
    const together = measureFrom + deathRng.next() * (end - measureFrom);
    const unlucky = within(deathRng.int(providers));
    for (let i = 0; i < sc.lostTogether; i++) {
      const s = pick(unlucky);
      if (s !== undefined) dying.set(s, together);
    }
    const at = measureFrom + deathRng.next() * (end - measureFrom);
    for (const s of within(deathRng.int(providers))) outage.set(s, [at, at + sc.providerOutageHours * HOUR]);
  }
  for (let s = 0; s < model.seeds; s++) {
    onlineAtStart[s] = 1;
    if (zero) continue;
    const r = rng.fork(`seed-${s}`);
    const dies = dying.get(s) ?? Infinity;
    const down: Interval[] = [];
    for (const t of arrivals(r, sc.outagePerDay, 0, end)) {
      down.push([t, t + clamp(r.lognormal(sc.outageMedianHours * HOUR, sc.outageSigma), 2 * MINUTE, 2 * DAY)]);
    }
    for (const t of arrivals(r, sc.restartPerDay, 0, end)) {
      down.push([t, t + clamp(r.lognormal(sc.restartMedianMin * MINUTE, 0.5), 10_000, HOUR)]);
    }
    const shared = outage.get(s);
    if (shared) down.push(shared);
    for (const [a, b] of mergeIntervals(down, 0, Math.min(end, dies))) {
      tb.add(a, Ev.Offline, s);
      if (b < Math.min(end, dies)) tb.add(b, Ev.Online, s);
    }
    if (dies < end) tb.add(dies, Ev.Death, s);
    const rate = sc.corruptPerDay + (s < sc.faulty ? sc.faultyCorruptPerDay : 0);
    for (const t of arrivals(r, rate, 0, Math.min(end, dies))) tb.add(t, Ev.Corrupt, s, r.next());
  }

  // Files: the initial ones, then uploads during sessions (index in time order), then opens.
  const fr = rng.fork('files');
  const f = model.files;
  const uploads: { t: number; peer: number }[] = [];
  const opens: { t: number; peer: number }[] = [];
  if (!zero && onlineTotal > 0) {
    const ur = rng.fork('uploads');
    const uploadRate = (f.uploadsPerDay * (end / DAY)) / onlineTotal;
    const openRate = (f.opensPerDay * (end / DAY)) / onlineTotal;
    for (const { peer, iv } of online) {
      const len = iv[1] - iv[0];
      for (let k = ur.poisson(uploadRate * len); k > 0; k--) uploads.push({ t: iv[0] + ur.next() * len, peer });
      for (let k = ur.poisson(openRate * len); k > 0; k--) opens.push({ t: iv[0] + ur.next() * len, peer });
    }
    uploads.sort((a, b) => a.t - b.t);
  }
  const fileCount = f.initial + uploads.length;
  const root = Array.from({ length: fileCount }, () => toHex(fr.bytes(32)));
  const size = new Float64Array(fileCount).map(() =>
    Math.round(clamp(fr.lognormal(f.sizeMedianBytes, f.sizeSigma), f.minBytes, f.maxBytes)),
  );
  const initialHolders: number[][] = [];
  const hr = rng.fork('initial-holders');
  for (let i = 0; i < f.initial; i++) {
    const hs = new Set<number>();
    if (model.browsers > 0) {
      if (hr.chance(f.uploaderKeeps)) hs.add(model.seeds + hr.int(model.browsers));
      for (let k = hr.poisson(f.initialReaders); k > 0; k--) hs.add(model.seeds + hr.int(model.browsers));
    }
    initialHolders.push([...hs]);
  }
  uploads.forEach((u, i) => tb.add(u.t, Ev.Upload, u.peer, f.initial + i));
  const uploadTimes = uploads.map((u) => u.t);
  const or = rng.fork('opens');
  for (const o of opens) {
    let lo = 0,
      hi = uploadTimes.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (uploadTimes[mid]! < o.t) lo = mid + 1;
      else hi = mid;
    }
    tb.add(o.t, Ev.Open, o.peer, or.int(f.initial + lo));
  }

  return {
    model,
    peerCount,
    seedCount: model.seeds,
    kind,
    peerId,
    provider: Array.from({ length: peerCount }, (_, p) => (p < model.seeds ? `provider-${p % providers}` : undefined)),
    onlineAtStart,
    fileCount,
    initialFiles: f.initial,
    root,
    size,
    initialHolders,
    trace: tb.build(),
    measureFrom,
    end,
    seedRank: new Int32Array(fileCount * model.seeds).fill(-1),
  };
}
