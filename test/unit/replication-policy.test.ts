// The replication policy's rules, one behaviour per test: placement by rendezvous hashing, liveness,
// repair with its hysteresis, the seed floor and the release of surplus seed copies.
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_GRACE_MS,
  MINUTE_MS,
  classifyHolder,
  liveCopies,
  pickFromRanked,
  placement,
  planRepair,
  rankHolders,
  rendezvousScore,
  replicationPolicy,
  type Candidate,
  type Holder,
  type PeerKind,
} from '../../src/replication/policy.js';

const T0 = 1_700_000_000_000;
const GRACE = DEFAULT_GRACE_MS;
const policy = replicationPolicy({ target: 3, minimum: 2, graceMs: GRACE });
const root = 'ab'.repeat(32);
const roots = Array.from({ length: 4000 }, (_, i) => i.toString(16).padStart(64, '0'));

const peer = (id: string, kind: PeerKind = 'seed'): Candidate => ({ id, kind });
const seeds = (n: number): Candidate[] => Array.from({ length: n }, (_, i) => peer(`seed-${i}-xxxxxxxxxxxxxx`));
const live = (c: Candidate): Holder => ({ ...c, present: true, lastSeen: T0 });
const away = (c: Candidate, sinceMs: number): Holder => ({ ...c, present: false, lastSeen: T0 - sinceMs });
const failed = (c: Candidate): Holder => ({ ...live(c), auditFailed: true });

/** Reachable candidates in rendezvous order, as a seed or page would pass them. */
const ranked = (cs: Candidate[], r = root) => rankHolders(r, cs);

describe('placement by rendezvous hashing', () => {
  it('ranks the same way whatever order the candidates come in', () => {
    const cs = seeds(12);
    const once = rankHolders(root, cs).map((c) => c.id);
    expect(rankHolders(root, [...cs].reverse()).map((c) => c.id)).toEqual(once);
    expect(rankHolders(root, [...cs.slice(5), ...cs.slice(0, 5)]).map((c) => c.id)).toEqual(once);
  });

  it('orders by rendezvous score within a class', () => {
    const order = rankHolders(root, seeds(12));
    const scores = order.map((c) => rendezvousScore(root, c.id));
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
  });

  it('puts seeds first, then persisted browsers, then other browsers', () => {
    const cs = [
      peer('b-1-yyyyyyyyyyyyyyyyy', 'browser'),
      peer('p-1-yyyyyyyyyyyyyyyyy', 'persisted-browser'),
      ...seeds(2),
    ];
    for (const r of roots.slice(0, 50)) {
      expect(rankHolders(r, cs).map((c) => c.kind)).toEqual(['seed', 'seed', 'persisted-browser', 'browser']);
    }
  });

  it('spreads first places evenly over seeds (each within 20% of its share over 4,000 files)', () => {
    const cs = seeds(10);
    const firsts = new Map<string, number>();
    for (const r of roots) {
      const id = rankHolders(r, cs)[0]!.id;
      firsts.set(id, (firsts.get(id) ?? 0) + 1);
    }
    expect(firsts.size).toBe(10);
    for (const n of firsts.values()) expect(Math.abs(n - 400)).toBeLessThan(80);
  });

  it('with several seeds, puts each file on target of them, not all, and spreads storage', () => {
    const cs = seeds(8);
    const stored = new Map<string, number>();
    for (const r of roots) {
      const chosen = placement(r, cs, 3);
      expect(chosen).toHaveLength(3);
      expect(new Set(chosen.map((c) => c.id)).size).toBe(3);
      for (const c of chosen) stored.set(c.id, (stored.get(c.id) ?? 0) + 1);
    }
    const total = [...stored.values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(3 * roots.length);
    for (const n of stored.values()) expect(Math.abs(n - total / 8)).toBeLessThan(0.1 * (total / 8));
  });

  it('moves only the files a removed seed held', () => {
    const cs = seeds(8);
    const gone = cs[3]!;
    for (const r of roots.slice(0, 500)) {
      const before = placement(r, cs, 3).map((c) => c.id);
      const after = placement(
        r,
        cs.filter((c) => c !== gone),
        3,
      ).map((c) => c.id);
      const kept = before.filter((id) => id !== gone.id);
      expect(after.slice(0, kept.length)).toEqual(kept);
      if (!before.includes(gone.id)) expect(after).toEqual(before);
    }
  });

  it('counts a repeated candidate once', () => {
    const cs = seeds(3);
    expect(rankHolders(root, [...cs, ...cs])).toHaveLength(3);
  });
});

describe('failure domains', () => {
  // Six seeds, two providers: each file's copies should not all sit with one provider.
  const inDomains = seeds(6).map((c, i) => ({ ...c, domain: i < 3 ? 'provider-a' : 'provider-b' }));
  const domainsOf = (cs: Candidate[]) => cs.map((c) => c.domain);

  it('places copies in distinct domains first', () => {
    for (const r of roots.slice(0, 300)) {
      expect(new Set(domainsOf(placement(r, inDomains, 2))).size).toBe(2);
      const three = placement(r, inDomains, 3);
      expect(new Set(domainsOf(three)).size).toBe(2);
      expect(three).toHaveLength(3);
    }
  });

  it('within a domain, keeps rendezvous order', () => {
    const ranked = rankHolders(root, inDomains);
    const chosen = pickFromRanked(ranked, 2);
    expect(chosen[0]).toBe(ranked[0]);
    expect(chosen[1]).toBe(ranked.find((c) => c.domain !== ranked[0]!.domain));
  });

  it('repairs into a domain that holds no counted copy, past better-ranked seeds in used domains', () => {
    const ranked = rankHolders(root, inDomains);
    const [a1, a2] = ranked.filter((c) => c.domain === 'provider-a') as [Candidate, Candidate];
    const [b1, b2] = ranked.filter((c) => c.domain === 'provider-b') as [Candidate, Candidate];
    const plan = planRepair(root, [live(a1), live(a2), away(b1, GRACE)], ranked, T0, policy);
    expect(plan.push?.to).toEqual([b2]);
  });

  it('never prefers a browser to a seed for the sake of a new domain', () => {
    const allA = seeds(4).map((c) => ({ ...c, domain: 'provider-a' }));
    const ranked = rankHolders(root, [...allA, peer('persist-br-yyyyyyyyyyy', 'persisted-browser')]);
    const [x, y, z, w] = ranked as [Candidate, Candidate, Candidate, Candidate];
    const plan = planRepair(
      root,
      [live(x), live(y), away(z, GRACE)],
      ranked.filter((c) => c !== z),
      T0,
      policy,
    );
    expect(plan.push?.to).toEqual([w]);
  });

  it('releases so that the copies kept stay spread', () => {
    const ranked = rankHolders(root, inDomains);
    const onA = ranked.filter((c) => c.domain === 'provider-a');
    const onB = ranked.filter((c) => c.domain === 'provider-b');
    const holders = [...onA, onB[0]!, onB[1]!].map(live);
    const plan = planRepair(root, holders, ranked, T0, policy);
    const kept = holders.filter((h) => !plan.release.includes(h));
    expect(kept).toHaveLength(3);
    expect(new Set(kept.map((h) => h.domain)).size).toBe(2);
  });
});

describe('liveness', () => {
  const s = peer('seed-a-zzzzzzzzzzzzzz');
  it('calls a present holder live', () => expect(classifyHolder(live(s), T0, GRACE)).toBe('live'));
  it('keeps an absent holder within grace', () => expect(classifyHolder(away(s, GRACE - 1), T0, GRACE)).toBe('absent'));
  it('calls a holder absent for the whole grace period lost', () =>
    expect(classifyHolder(away(s, GRACE), T0, GRACE)).toBe('lost'));
  it('calls a holder lost at the very time a plan said to check again', () => {
    const s2 = { ...s, present: false, lastSeen: 66_411_790.9471894 };
    const grace = 30 * MINUTE_MS;
    const plan = planRepair(root, [s2], [], 0, replicationPolicy({ graceMs: grace }));
    expect(classifyHolder(s2, plan.recheckAt!, grace)).toBe('lost');
    expect(classifyHolder(s2, plan.recheckAt! - 0.001, grace)).toBe('absent');
  });
  it('calls a present holder that failed an audit failed', () =>
    expect(classifyHolder(failed(s), T0, GRACE)).toBe('failed'));

  it('counts live copies by kind, and what repair counts', () => {
    const [a, b, c] = seeds(3);
    const holders = [
      live(a!),
      live(b!),
      away(c!, GRACE + 1),
      live(peer('br-1-yyyyyyyyyyyyyyyyy', 'browser')),
      away(peer('pb-1-yyyyyyyyyyyyyyyyy', 'persisted-browser'), MINUTE_MS),
    ];
    const n = liveCopies(holders, T0, policy);
    expect(n.live).toBe(3);
    expect(n.liveByKind).toEqual({ seed: 2, 'persisted-browser': 0, browser: 1 });
    expect(n).toMatchObject({ absent: 1, lost: 1, failed: 0, counted: 4, present: 3 });
    expect(liveCopies(holders, T0, replicationPolicy({ counts: ['seed'] }))).toMatchObject({ counted: 2, present: 2 });
    expect(n.atRisk).toBe(false);
  });

  it('calls a file at risk below the minimum, or when only browsers without persisted storage hold it', () => {
    const [a, b] = seeds(2);
    const browsers = ['b1', 'b2', 'b3'].map((x) => live(peer(`${x}-yyyyyyyyyyyyyyyyyy`, 'browser')));
    expect(liveCopies([live(a!), away(b!, MINUTE_MS)], T0, policy).atRisk).toBe(true);
    expect(liveCopies(browsers, T0, policy).atRisk).toBe(true);
    expect(liveCopies([...browsers, away(a!, MINUTE_MS)], T0, policy).atRisk).toBe(false);
    expect(
      liveCopies([...browsers, live(peer('pb-yyyyyyyyyyyyyyyyyyy', 'persisted-browser'))], T0, policy).atRisk,
    ).toBe(false);
  });
});

describe('repair', () => {
  const cs = seeds(6);
  const order = ranked(cs);
  const [first, second, third, fourth, fifth] = order as [Candidate, Candidate, Candidate, Candidate, Candidate];

  it('does nothing at the target', () => {
    const plan = planRepair(root, [live(first), live(second), live(third)], order, T0, policy);
    expect(plan).toMatchObject({ counted: 3, present: 3, missing: 0, release: [] });
    expect(plan.push).toBeUndefined();
  });

  it('moves nothing while one holder of three is absent within grace (a flap or a restart)', () => {
    const plan = planRepair(root, [live(first), away(second, GRACE - MINUTE_MS), live(third)], order, T0, policy);
    expect(plan.push).toBeUndefined();
    expect(plan.missing).toBe(0);
    expect(plan.recheckAt).toBe(T0 + MINUTE_MS);
  });

  it('after the grace period, the first live holder pushes to the next candidate not holding', () => {
    const plan = planRepair(root, [away(first, GRACE), live(second), live(third)], order, T0, policy);
    expect(plan.push).toEqual({ from: live(second), to: [fourth], reason: 'below-target' });
  });

  it('replaces a failed audit at once', () => {
    const plan = planRepair(root, [live(first), failed(second), live(third)], order, T0, policy);
    expect(plan.push?.to).toEqual([fourth]);
    expect(plan.push?.from).toEqual(live(first));
  });

  it('skips candidates that hold a copy in any state', () => {
    const plan = planRepair(
      root,
      [live(first), away(second, GRACE), live(third), away(fourth, 2 * GRACE)],
      order,
      T0,
      policy,
    );
    expect(plan.push?.to).toEqual([fifth]);
  });

  it('between minimum and target present copies, waits for grace; below the minimum, repairs at once', () => {
    const dip = planRepair(root, [live(first), live(second), away(third, MINUTE_MS)], order, T0, policy);
    expect(dip.push).toBeUndefined();
    const deep = planRepair(root, [live(first), away(second, MINUTE_MS), away(third, MINUTE_MS)], order, T0, policy);
    expect(deep.push).toMatchObject({ from: live(first), to: [fourth], reason: 'below-minimum' });
  });

  it('a flapping browser among the holders causes no push', () => {
    const browser = peer('browser-1-yyyyyyyyyyyy', 'browser');
    const holders = [live(first), live(second), away(browser, 10_000)];
    expect(planRepair(root, holders, order, T0, policy).push).toBeUndefined();
  });

  it('three seeds and two browsers: a seed gone past grace is replaced on a browser, persisted first', () => {
    const three = seeds(3);
    const browsers = [peer('plain-br-yyyyyyyyyyyyy', 'browser'), peer('persist-br-yyyyyyyyyyy', 'persisted-browser')];
    const all = ranked([...three, ...browsers]);
    const [s0, s1, s2] = all as [Candidate, Candidate, Candidate];
    const plan = planRepair(
      root,
      [away(s0, GRACE), live(s1), live(s2)],
      all.filter((c) => c !== s0),
      T0,
      policy,
    );
    expect(plan.push?.to).toEqual([browsers[1]]);
  });

  it('pushes only to counted kinds', () => {
    const seedsOnly = replicationPolicy({ counts: ['seed'] });
    const withBrowsers = ranked([first, second, peer('persist-br-yyyyyyyyyyy', 'persisted-browser')]);
    const plan = planRepair(root, [live(first), away(second, GRACE)], withBrowsers, T0, seedsOnly);
    expect(plan.push).toBeUndefined();
    expect(plan.stalled).toBe('no-candidate');
  });

  it('lets a cache copy push when no counted holder is present', () => {
    const seedsOnly = replicationPolicy({ counts: ['seed'] });
    const cache = peer('reader-br-yyyyyyyyyyyy', 'browser');
    const plan = planRepair(root, [away(first, GRACE), live(cache)], order, T0, seedsOnly);
    expect(plan.push).toMatchObject({ from: live(cache), to: [second, third, fourth] });
  });

  it('gives a file held only by browsers a seed copy', () => {
    const browsers = ['b1', 'b2', 'b3'].map((b) => live(peer(`${b}-yyyyyyyyyyyyyyyyyy`, 'browser')));
    const plan = planRepair(root, browsers, order, T0, policy);
    expect(plan.push).toMatchObject({ to: [first], reason: 'no-seed-copy' });
  });

  it('stalls when nobody who holds the file is present', () => {
    const plan = planRepair(root, [away(first, GRACE), away(second, 2 * GRACE)], order, T0, policy);
    expect(plan).toMatchObject({ stalled: 'no-live-holder', missing: 3 });
    expect(plan.push).toBeUndefined();
  });

  it('plans the same whatever order the holders are listed in', () => {
    const holders = [away(first, GRACE), live(second), live(third)];
    expect(planRepair(root, [...holders].reverse(), order, T0, policy)).toEqual(
      planRepair(root, holders, order, T0, policy),
    );
  });

  it('reads no more candidates than it needs', () => {
    let read = 0;
    function* lazy() {
      for (const c of order) {
        read++;
        yield c;
      }
    }
    planRepair(root, [live(first), away(second, GRACE), live(third)], lazy(), T0, policy);
    expect(read).toBe(4);
  });
});

describe('release of surplus seed copies', () => {
  const order = ranked(seeds(8));

  it('keeps up to target + slack seed copies', () => {
    const plan = planRepair(root, order.slice(0, 4).map(live), order, T0, policy);
    expect(plan.release).toEqual([]);
  });

  it('releases the lowest-ranked seed copies down to the target', () => {
    const holders = order.slice(0, 6).map(live);
    const plan = planRepair(root, [...holders].reverse(), order, T0, policy);
    expect(plan.release).toEqual([holders[5], holders[4], holders[3]]);
  });

  it('never releases because browsers hold copies', () => {
    const browsers = ['b1', 'b2', 'b3', 'b4'].map((b) => live(peer(`${b}-yyyyyyyyyyyyyyyyyy`, 'browser')));
    const plan = planRepair(root, [...order.slice(0, 3).map(live), ...browsers], order, T0, policy);
    expect(plan.release).toEqual([]);
  });

  it('with no slack, releases down to the target and never below', () => {
    const tight = replicationPolicy({ releaseSlack: 0 });
    const holders = order.slice(0, 4).map(live);
    expect(planRepair(root, holders, order, T0, tight).release).toEqual([holders[3]]);
    expect(planRepair(root, holders.slice(0, 3), order, T0, tight).release).toEqual([]);
  });
});

describe('policy settings', () => {
  it('fills in defaults: target 3, minimum 2, every kind counted', () => {
    expect(replicationPolicy()).toMatchObject({ target: 3, minimum: 2, graceMs: DEFAULT_GRACE_MS, releaseSlack: 1 });
    expect(replicationPolicy({ target: 1 }).minimum).toBe(1);
  });

  it.each([
    [{ target: 0 }],
    [{ target: 17 }],
    [{ target: 2.5 }],
    [{ target: 3, minimum: 4 }],
    [{ minimum: 0 }],
    [{ graceMs: -1 }],
    [{ graceMs: Infinity }],
    [{ releaseSlack: -1 }],
    [{ counts: [] }],
    [{ counts: ['server' as PeerKind] }],
  ])('refuses %j', (options) => {
    expect(() => replicationPolicy(options)).toThrow(RangeError);
  });
});
