// The seed's replication engine (src/node/replication.ts) deciding with a fake clock and fake
// signaling lookups: how much it looks up per round, who pushes and who releases, one plan per file
// in flight, and what audits and lost reports (true or hostile) change.
import { describe, expect, it } from 'vitest';
import { ephemeralIdentity } from '../../src/net/identity.js';
import {
  REPLICATION_LOST_ROOTS_BURST,
  REPLICATION_SETTLE_TICKS,
  REPLICATION_TICK_MAX_MS,
  REPLICATION_TICK_MIN_MS,
} from '../../src/net/limits.js';
import {
  ReplicationEngine,
  replicationTickMs,
  rootsPerTick,
  type ReplicationHost,
} from '../../src/node/replication.js';
import { rankHolders, type Candidate } from '../../src/replication/policy.js';

const GRACE = 60_000;
const ROOT = 'ab'.repeat(32);
const BATCH = 32;
const SAMPLE = 16;
const ids = (n: number) => Array.from({ length: n }, () => ephemeralIdentity().id);

/** A seed's view of the network: who is listed as a seed, who holds what; the test moves them. */
class FakeNetwork {
  clock = 1_000_000;
  seeds: string[] = [];
  holders = new Map<string, string[]>();
  lookups: string[] = [];
  pushes: { root: string; to: string[]; target: number }[] = [];
  releases: string[] = [];
  /** Pushes wait for this before they settle (undefined: they succeed at once). */
  gate: Promise<void> | undefined;

  host(self: string, held: string[], copies?: number): ReplicationHost {
    return {
      self,
      lookup: (topic) => {
        this.lookups.push(topic);
        if (topic === 'seeds') return Promise.resolve(this.seeds.filter((s) => s !== self));
        if (topic.startsWith('keepers')) return Promise.resolve([]);
        return Promise.resolve((this.holders.get(topic) ?? []).filter((p) => p !== self));
      },
      heldRoots: () => [...held],
      holds: (root) => held.includes(root),
      copiesOf: () => copies,
      push: async (root, to: readonly Candidate[], target) => {
        this.pushes.push({ root, to: to.map((c) => c.id), target });
        await this.gate;
        return { ok: to.map((c) => c.id), failed: [] };
      },
      release: (root) => {
        this.releases.push(root);
        return Promise.resolve();
      },
    };
  }
}

function engineFor(net: FakeNetwork, self: string, held: string[], copies?: number) {
  return new ReplicationEngine(net.host(self, held, copies), { graceMs: GRACE, now: () => net.clock });
}

/** Rounds until a new file is planned (it settles first). */
async function settle(net: FakeNetwork, engine: ReplicationEngine): Promise<void> {
  for (let i = 0; i <= REPLICATION_SETTLE_TICKS; i++) {
    await engine.tick();
    net.clock += engine.tickMs;
  }
  await engine.tick();
}

describe('the replication engine', () => {
  it('looks and plans a few times per grace, within bounds, and spends a bounded number of lookups per round', async () => {
    expect(replicationTickMs(2_000)).toBe(REPLICATION_TICK_MIN_MS);
    expect(replicationTickMs(30 * 60_000)).toBe(REPLICATION_TICK_MAX_MS);
    expect(replicationTickMs(40_000)).toBe(5_000);

    const net = new FakeNetwork();
    const [self] = ids(1) as [string];
    net.seeds = [self];
    const roots = Array.from({ length: 100 }, (_, i) => i.toString(16).padStart(64, '0'));
    const engine = engineFor(net, self, roots);
    const perTick = rootsPerTick(engine.tickMs);
    expect(perTick).toBeLessThan(roots.length);
    await engine.tick();
    // The three candidate topics, then a tick's share of the roots: never all 100 at once.
    expect(net.lookups.length).toBe(3 + perTick);
    // Round robin: every root is looked up once before any is looked up again.
    const rounds = Math.ceil(roots.length / perTick);
    for (let i = 1; i < rounds; i++) await engine.tick();
    const rootLookups = net.lookups.filter((t) => t.length === 64);
    expect(new Set(rootLookups.slice(0, roots.length)).size).toBe(roots.length);
  });

  it('visits a batch of roots per lookup message where the server takes batches, and looks up a full sample alone', async () => {
    const net = new FakeNetwork();
    const [self, other] = ids(2) as [string, string];
    net.seeds = [self, other];
    const roots = Array.from({ length: 2_000 }, (_, i) => i.toString(16).padStart(64, '0'));
    // One root has more holders than a batch lists: its batched sample comes back full.
    const crowded = roots[5]!;
    net.holders.set(crowded, ids(SAMPLE));
    net.holders.set(roots[6]!, [other]);
    const batches: string[][] = [];
    const host: ReplicationHost = {
      ...net.host(self, roots),
      lookupBatch: () => BATCH,
      batchedSample: SAMPLE,
      lookupMany: (topics) => {
        batches.push([...topics]);
        return Promise.resolve(new Map(topics.map((t) => [t, (net.holders.get(t) ?? []).slice(0, SAMPLE)])));
      },
    };
    const engine = new ReplicationEngine(host, { graceMs: GRACE, now: () => net.clock });
    await engine.tick();
    const perTick = rootsPerTick(engine.tickMs);
    // As many messages as a round of single lookups, each naming a batch of roots.
    expect(batches).toHaveLength(perTick);
    expect(batches.flat()).toEqual(roots.slice(0, perTick * BATCH));
    // Single lookups: the three candidate topics and the root whose sample was full, nothing else.
    expect(net.lookups.filter((t) => t.length === 64)).toEqual([crowded]);
    expect(engine.stats().lookups).toBe(3 + perTick + 1);
    // What the batch said is the view: the holder of roots[6] is listed in its report.
    expect(engine.report(roots[6]!)!.holders.map((h) => h.peer)).toContain(other);
  });

  it('looks up one root per message against a server that takes no batches', async () => {
    const net = new FakeNetwork();
    const [self] = ids(1) as [string];
    const roots = Array.from({ length: 200 }, (_, i) => i.toString(16).padStart(64, '0'));
    const many: string[][] = [];
    const host: ReplicationHost = {
      ...net.host(self, roots),
      lookupBatch: () => 0,
      lookupMany: (topics) => {
        many.push([...topics]);
        return Promise.resolve(new Map());
      },
    };
    const engine = new ReplicationEngine(host, { graceMs: GRACE, now: () => net.clock });
    await engine.tick();
    expect(many).toEqual([]);
    expect(net.lookups).toHaveLength(3 + rootsPerTick(engine.tickMs));
  });

  it('pushes only when this seed is the first live holder in rank, once while the push is in flight', async () => {
    const net = new FakeNetwork();
    net.seeds = ids(4);
    const ranked = rankHolders(
      ROOT,
      net.seeds.map((id) => ({ id, kind: 'seed' as const })),
    ).map((c) => c.id);
    // Two holders of three wanted: the first in rank pushes to the next free seed in rank.
    const [first, second, third] = ranked as [string, string, string];
    net.holders.set(ROOT, [first, second]);
    let open!: () => void;
    net.gate = new Promise((resolve) => (open = resolve));
    const pusher = engineFor(net, first, [ROOT], 3);
    const other = engineFor(net, second, [ROOT], 3);
    await settle(net, pusher);
    await settle(net, other);
    expect(net.pushes).toEqual([{ root: ROOT, to: [third], target: 3 }]);
    // Still in flight: more rounds push nothing more.
    await pusher.tick();
    pusher.plan(ROOT);
    expect(net.pushes).toHaveLength(1);
    open();
    await new Promise((resolve) => setImmediate(resolve));
    expect(pusher.stats().repairs).toEqual({ ok: 1, failed: 0 });
    // Counted at once: the next round has three copies and pushes nothing.
    await pusher.tick();
    expect(net.pushes).toHaveLength(1);
  });

  it('releases a surplus seed copy only on the lowest-ranked seed, and keeps one within the slack', async () => {
    const net = new FakeNetwork();
    net.seeds = ids(3);
    const ranked = rankHolders(
      ROOT,
      net.seeds.map((id) => ({ id, kind: 'seed' as const })),
    ).map((c) => c.id);
    net.holders.set(ROOT, [...net.seeds]);
    const engines = ranked.map((self) => engineFor(net, self, [ROOT], 1));
    for (const engine of engines) await settle(net, engine);
    // Target 1, slack 1: three copies are one too many; only the last in rank drops its copy.
    expect(net.releases).toEqual([ROOT]);
    expect(engines.map((e) => e.stats().releases)).toEqual([0, 0, 1]);
    net.holders.set(ROOT, ranked.slice(0, 2));
    for (const engine of engines.slice(0, 2)) await engine.tick();
    expect(net.releases).toEqual([ROOT]);
    expect(engines[0]!.stats().files).toMatchObject({ above_target: 1 });
  });

  it('waits out the grace of an absent holder, and repairs at once after a failed audit', async () => {
    const net = new FakeNetwork();
    net.seeds = ids(4);
    const ranked = rankHolders(
      ROOT,
      net.seeds.map((id) => ({ id, kind: 'seed' as const })),
    ).map((c) => c.id);
    const [first, second, third, fourth] = ranked as [string, string, string, string];
    net.holders.set(ROOT, [first, second, third]);
    const engine = engineFor(net, first, [ROOT], 3);
    await settle(net, engine);
    expect(engine.report(ROOT)).toMatchObject({ live: 3, counted: 3, target: 3 });

    net.holders.set(ROOT, [first, second]);
    await engine.tick();
    expect(engine.report(ROOT)?.holders.find((h) => h.peer === third)?.state).toBe('absent');
    expect(net.pushes).toEqual([]);
    net.clock += GRACE;
    await engine.tick();
    expect(net.pushes).toEqual([{ root: ROOT, to: [fourth], target: 3 }]);

    // Another file: a holder present but failing its audit stops counting, and repair starts.
    const net2 = new FakeNetwork();
    net2.seeds = net.seeds;
    net2.holders.set(ROOT, [first, second, third]);
    const audited = engineFor(net2, first, [ROOT], 3);
    await settle(net2, audited);
    audited.noteAuditVerdict(ROOT, second, false);
    audited.plan(ROOT);
    expect(net2.pushes).toEqual([{ root: ROOT, to: [fourth], target: 3 }]);
    expect(audited.report(ROOT)?.holders.find((h) => h.peer === second)?.state).toBe('failed');
  });

  it('counts a failed audit of a file it holds but has not looked up yet, and repairs once the file settles', async () => {
    const net = new FakeNetwork();
    net.seeds = ids(4);
    const ranked = rankHolders(
      ROOT,
      net.seeds.map((id) => ({ id, kind: 'seed' as const })),
    ).map((c) => c.id);
    const [first, second, third, fourth] = ranked as [string, string, string, string];
    net.holders.set(ROOT, [first, second, third]);
    const engine = engineFor(net, first, [ROOT], 3);
    // The file came after this round began: the audit's verdict is the first the engine hears of it.
    engine.noteAuditVerdict(ROOT, second, false);
    // A pass later proves one block only: the failure stays.
    engine.noteAuditVerdict(ROOT, second, true);
    await settle(net, engine);
    expect(engine.report(ROOT)?.holders.find((h) => h.peer === second)?.state).toBe('failed');
    expect(net.pushes).toEqual([{ root: ROOT, to: [fourth], target: 3 }]);
    // A file it does not hold gets no view from a verdict.
    const other = 'cd'.repeat(32);
    engine.noteAuditVerdict(other, second, false);
    expect(engine.report(other)).toBeUndefined();
  });

  it('believes a lost report only for an absent holder it knows, and bounds what reports can do', async () => {
    const net = new FakeNetwork();
    net.seeds = ids(4);
    const ranked = rankHolders(
      ROOT,
      net.seeds.map((id) => ({ id, kind: 'seed' as const })),
    ).map((c) => c.id);
    const [first, second, third, fourth] = ranked as [string, string, string, string];
    net.holders.set(ROOT, [first, second, third]);
    const engine = engineFor(net, first, [ROOT], 3);
    await settle(net, engine);
    const reporter = ephemeralIdentity().id;

    // Hostile: a present holder said lost, a peer never seen, a file this seed does not hold.
    expect(engine.noteLost(reporter, second, [ROOT])).toBe(0);
    expect(engine.noteLost(reporter, ephemeralIdentity().id, [ROOT])).toBe(0);
    expect(engine.noteLost(reporter, third, ['cd'.repeat(32)])).toBe(0);
    expect(engine.report(ROOT)).toMatchObject({ live: 3, counted: 3 });
    expect(net.pushes).toEqual([]);

    // The holder is gone and its grace not over: the report ends it and repair starts at once.
    net.holders.set(ROOT, [first, second]);
    await engine.tick();
    expect(net.pushes).toEqual([]);
    expect(engine.noteLost(reporter, third, [ROOT])).toBe(1);
    expect(net.pushes).toEqual([{ root: ROOT, to: [fourth], target: 3 }]);
    expect(engine.report(ROOT)?.holders.find((h) => h.peer === third)?.state).toBe('lost');

    // A crowd of reports (any names, from anyone) spends the engine's budget: past its burst even a
    // true report is not looked at until the budget refills.
    const other = engineFor(net, first, [ROOT], 3);
    net.holders.set(ROOT, [first, second, third]);
    await settle(net, other);
    net.holders.set(ROOT, [first, second]);
    await other.tick();
    const junk = Array.from({ length: REPLICATION_LOST_ROOTS_BURST }, (_, i) => i.toString(16).padStart(64, '0'));
    expect(other.noteLost(ephemeralIdentity().id, ephemeralIdentity().id, junk)).toBe(0);
    expect(other.noteLost(reporter, third, [ROOT])).toBe(0);
    net.clock += 1_000;
    expect(other.noteLost(reporter, third, [ROOT])).toBe(1);
  });
});
