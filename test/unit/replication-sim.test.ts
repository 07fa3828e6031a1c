// A small run of the replication simulation (200 peers, 1,000 files, 2 days after a day of warm-up)
// and what must hold whatever its numbers: the view never counts a departed or long-absent holder
// as live, every due plan is made, nothing moves without churn, repair restores the target once the
// churn stops, and the same seed gives the same results.
import { describe, expect, it } from 'vitest';
import { MINUTE_MS, PEER_KINDS, replicationPolicy } from '../../src/replication/policy.js';
import { DEFAULT_AUDIT_INTERVAL_MS } from '../../src/replication/audit.js';
import { simulate, type Metrics, type Setting } from '../sim/engine.js';
import { DAY, scaledModel } from '../sim/model.js';
import { buildWorld } from '../sim/world.js';

const small = (seed = 'unit-sim', zeroChurn = false) =>
  scaledModel({
    seed,
    seeds: 8,
    browsers: 192,
    files: 1_000,
    days: 2,
    warmupDays: 1,
    zeroChurn,
    permanentFailures: 1,
    lostTogether: 1,
  });

const setting = (name: string, counts: Setting['policy']['counts']): Setting => ({
  name,
  label: name,
  policy: replicationPolicy({ target: 3, minimum: 2, graceMs: 30 * MINUTE_MS, counts }),
  auditIntervalMs: DEFAULT_AUDIT_INTERVAL_MS,
});
const seedsOnly = setting('seeds-count', ['seed']);
const allCount = setting('all-count', PEER_KINDS);

const withoutTiming = ({ runSeconds: _, ...rest }: Metrics) => rest;

describe('replication simulation, small', () => {
  for (const s of [seedsOnly, allCount]) {
    it(`keeps its invariants through churn (${s.name})`, () => {
      const m = simulate(buildWorld(small()), s, { checkInvariants: true });
      expect(m.violationSamples).toEqual([]);
      expect(m.violations).toBe(0);
      // The run did see churn and repair, or the invariants above prove little.
      expect(m.repairPushesPerDay.mean).toBeGreaterThan(0);
      expect(m.wipesReported).toBeGreaterThan(0);
      expect(m.caughtByAudit).toBeGreaterThan(0);
    });

    it(`with the target's worth of seeds alive, ends with every surviving file at the target (${s.name})`, () => {
      const m = simulate(buildWorld(small()), s, { checkInvariants: true, settleMs: DAY });
      expect(m.seedsAlive).toBeGreaterThanOrEqual(s.policy.target);
      expect(m.filesAtEnd).toBeGreaterThan(900);
      expect(m.settledBelowTarget).toBe(0);
      expect(m.violations).toBe(0);
    });
  }

  it('moves nothing when nothing churns', () => {
    for (const s of [seedsOnly, allCount]) {
      const m = simulate(buildWorld(small('unit-sim', true)), s, { checkInvariants: true });
      expect(m.violations).toBe(0);
      expect(m.repairPushesPerDay.max).toBe(0);
      expect(m.placementBytesPerDay).toBe(0);
      expect(m.releasesPerDay).toBe(0);
      expect(m.failedTransfers).toBe(0);
      expect(m.belowTarget.max).toBe(0);
      expect(m.filesLost).toBe(0);
    }
  });

  it('gives the same results for the same seed, and others for another', () => {
    const a = withoutTiming(simulate(buildWorld(small('seed-a')), seedsOnly));
    const again = withoutTiming(simulate(buildWorld(small('seed-a')), seedsOnly));
    const b = withoutTiming(simulate(buildWorld(small('seed-b')), seedsOnly));
    expect(again).toEqual(a);
    expect(b).not.toEqual(a);
  });

  it('replays one world under several settings without one run changing the next', () => {
    const world = buildWorld(small());
    const first = withoutTiming(simulate(world, seedsOnly));
    simulate(world, allCount);
    expect(withoutTiming(simulate(world, seedsOnly))).toEqual(first);
  });
});
