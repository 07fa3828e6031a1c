// The page's side of its audits (web/lib/page-audit.ts, web/lib/durability.ts): the interval knob
// tests and people turn, the reason a failed verdict is reported with, and how the Copies view marks
// a holder that failed the page's audit until the seeds' report agrees.
import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/content/bytes.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { ReplicaReport } from '../../src/net/replica-report.js';
import { SEEDS_TOPIC } from '../../src/net/signal-messages.js';
import type { Swarm } from '../../src/net/swarm.js';
import { Auditor, type AuditSession } from '../../src/replication/auditor.js';
import { countLiveCopies, failedAuditText, type AuditMarks } from '../../web/lib/durability.js';
import {
  AUDIT_EVERY_KEY,
  DEFAULT_PAGE_AUDIT_INTERVAL_MS,
  MIN_PAGE_AUDIT_INTERVAL_MS,
  pageAuditInterval,
  suspectReasonOf,
} from '../../web/lib/page-audit.js';

const ROOT = 'ab'.repeat(32);
const [S1, S2, V] = ['seed-one', 'seed-two', 'victim'];

describe('the interval of the page’s audits', () => {
  const storage = (value: string | null) => ({ getItem: (key: string) => (key === AUDIT_EVERY_KEY ? value : null) });

  it('is hours by default, and what the knob says when it says a sane number of ms', () => {
    expect(pageAuditInterval(undefined)).toBe(DEFAULT_PAGE_AUDIT_INTERVAL_MS);
    expect(DEFAULT_PAGE_AUDIT_INTERVAL_MS).toBeGreaterThanOrEqual(3_600_000);
    expect(pageAuditInterval(storage('2000'))).toBe(2000);
  });

  it('ignores a knob that is garbage or below the floor', () => {
    for (const bad of ['soon', '0', '-5', String(MIN_PAGE_AUDIT_INTERVAL_MS - 1), 'Infinity']) {
      expect(pageAuditInterval(storage(bad))).toBe(DEFAULT_PAGE_AUDIT_INTERVAL_MS);
    }
  });
});

describe('the reason a failed audit is reported with', () => {
  const block = new TextEncoder().encode('the one block');
  const id = toHex(sha256(block));
  const verdictWith = (session: AuditSession) =>
    new Auditor({
      intervalMs: 60_000,
      deadlineMs: 20,
      connect: () => Promise.resolve(session),
      blocksOf: () => Promise.resolve([id]),
      localBlock: () => Promise.resolve(block),
      onVerdict: () => undefined,
    }).audit(ROOT, V);

  it('follows what the auditor said', async () => {
    const none: AuditSession = { audit: () => Promise.resolve(undefined), want: () => Promise.resolve(undefined) };
    const liar: AuditSession = { ...none, audit: () => Promise.resolve(new Uint8Array(32)) };
    const staller: AuditSession = { ...none, audit: () => new Promise(() => undefined) };
    expect(suspectReasonOf(await verdictWith(none))).toBe('not-found');
    expect(suspectReasonOf(await verdictWith(liar))).toBe('wrong-digest');
    expect(suspectReasonOf(await verdictWith(staller))).toBe('deadline');
    expect(suspectReasonOf({ reason: 'error: the channel closed' })).toBe('other');
  });
});

describe('the Copies view’s mark of a holder that failed the page’s audit', () => {
  function swarmAnswering(state: 'live' | 'failed'): Swarm {
    const report: ReplicaReport = {
      v: 1,
      root: ROOT,
      target: 3,
      minimum: 2,
      graceMs: 1000,
      live: state === 'live' ? 3 : 2,
      counted: state === 'live' ? 3 : 2,
      atRisk: false,
      byKind: { seed: state === 'live' ? 3 : 2, 'persisted-browser': 0, browser: 0 },
      holders: [
        { peer: S1, kind: 'seed', state: 'live', lastSeen: 1 },
        { peer: S2, kind: 'seed', state: 'live', lastSeen: 1 },
        { peer: V, kind: 'seed', state, lastSeen: 1 },
      ],
      audits: { passed: 0, failed: state === 'failed' ? 1 : 0 },
    };
    return {
      // Every holder of the file is a seed.
      holders: (topic: string) => Promise.resolve(topic === SEEDS_TOPIC || topic === ROOT ? [S1, S2, V] : []),
      connect: () => Promise.resolve({ queryReplicas: () => Promise.resolve(report) }),
    } as unknown as Swarm;
  }
  function marks(): AuditMarks & { settled: string[]; suspects: Set<string> } {
    const suspects = new Set([V]);
    const settled: string[] = [];
    return {
      suspects,
      settled,
      suspectsOf: () => [...suspects].map((peer) => ({ peer })),
      settle: (_root, peer) => {
        settled.push(peer);
        suspects.delete(peer);
      },
    };
  }

  it('shows while the seeds still count the holder live', async () => {
    const audits = marks();
    const [copies] = await countLiveCopies(swarmAnswering('live'), [ROOT], () => undefined, audits);
    expect(copies!.failedAudit).toEqual([V]);
    expect(failedAuditText(copies!)).toBe('1 holder failed an audit (the seeds were told)');
    expect(audits.settled).toEqual([]);
  });

  it('goes once the seeds’ report agrees the copy does not count', async () => {
    const audits = marks();
    const [copies] = await countLiveCopies(swarmAnswering('failed'), [ROOT], () => undefined, audits);
    expect(copies!.failedAudit).toEqual([]);
    expect(failedAuditText(copies!)).toBe('');
    expect(audits.settled).toEqual([V]);
    expect(copies!.live).toBe(2);
  });
});
