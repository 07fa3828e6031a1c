// The auditor (src/replication/auditor.ts) with a fake clock, fake randomness and fake holders: when
// it audits, which kind of challenge it sends, what passes and what fails, and its bounds.
import { describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from '../../src/content/bytes.js';
import { TimeoutError } from '../../src/errors.js';
import {
  AUDIT_DEADLINE_MS,
  Auditor,
  ChallengeBook,
  type AuditClock,
  type AuditSession,
  type AuditVerdict,
  type AuditorOptions,
} from '../../src/replication/auditor.js';
import { auditDigest, challengeSeeds, prepareChallenge } from '../../src/replication/audit.js';

const INTERVAL = 60_000;
const ROOT = 'aa'.repeat(32);

const blocks = [1, 2, 3, 4].map((n) => new TextEncoder().encode(`block number ${n} of the file`));
const ids = blocks.map((b) => toHex(sha256(b)));
const byId = new Map(ids.map((id, i) => [id, blocks[i]!]));

/** Timers run only when the test advances time. */
class FakeClock implements AuditClock {
  time = 0;
  private timers = new Map<number, { at: number; task: () => void }>();
  private next = 1;
  now = () => this.time;
  setTimeout = (task: () => void, ms: number) => {
    const handle = this.next++;
    this.timers.set(handle, { at: this.time + ms, task });
    return handle;
  };
  clearTimeout = (handle: unknown) => {
    this.timers.delete(handle as number);
  };
  get pending(): number[] {
    return [...this.timers.values()].map((t) => t.at - this.time);
  }
  /** Runs every timer due within `ms`, in order, letting promises settle between them. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      await flush();
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].task();
    }
    this.time = end;
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/** An honest holder of every block, as a session would answer. */
function honest(): AuditSession & { audits: number; wants: number } {
  return {
    audits: 0,
    wants: 0,
    audit(block, nonce) {
      this.audits++;
      const bytes = byId.get(block);
      return Promise.resolve(bytes && auditDigest(nonce, bytes));
    },
    want(block) {
      this.wants++;
      return Promise.resolve(byId.get(block));
    },
  };
}

function setup(overrides: Partial<AuditorOptions> = {}) {
  const clock = new FakeClock();
  const verdicts: AuditVerdict[] = [];
  const sessions = new Map<string, AuditSession>();
  const auditor = new Auditor({
    intervalMs: INTERVAL,
    connect: (peer) => {
      const session = sessions.get(peer);
      return session ? Promise.resolve(session) : Promise.reject(new Error(`cannot reach ${peer}`));
    },
    blocksOf: () => Promise.resolve(ids),
    localBlock: (id) => Promise.resolve(byId.get(id)),
    onVerdict: (v) => verdicts.push(v),
    clock,
    random: () => 0.3,
    randomBytes: (n) => new Uint8Array(n).fill(5),
    ...overrides,
  });
  return { clock, verdicts, sessions, auditor };
}

describe('the auditor', () => {
  it('schedules every audit within [0.5, 1) × the interval', async () => {
    const draws = [0, 0.999999, 0.5];
    let i = 0;
    const { clock, auditor, sessions } = setup({ random: () => draws[i++ % draws.length]! });
    sessions.set('p1', honest());
    auditor.track(ROOT, 'p1');
    for (const _ of draws) {
      const [delay] = clock.pending;
      expect(delay).toBeGreaterThanOrEqual(0.5 * INTERVAL);
      expect(delay).toBeLessThan(INTERVAL);
      await clock.advance(delay!);
    }
  });

  it('challenges with a fresh nonce and a 32-byte digest when it holds the block, and passes an honest holder round after round', async () => {
    const { clock, auditor, sessions, verdicts } = setup();
    const holder = honest();
    sessions.set('p1', holder);
    auditor.track(ROOT, 'p1');
    await clock.advance(INTERVAL * 5);
    expect(verdicts.length).toBeGreaterThanOrEqual(5);
    expect(verdicts.every((v) => v.result === 'passed' && v.kind === 'digest')).toBe(true);
    expect(holder.wants).toBe(0);
  });

  it('fetches the block and checks it when it does not hold the block', async () => {
    const { auditor, sessions } = setup({ localBlock: () => Promise.resolve(undefined) });
    const holder = honest();
    sessions.set('p1', holder);
    const verdict = await auditor.audit(ROOT, 'p1');
    expect(verdict).toMatchObject({ result: 'passed', kind: 'block' });
    expect(holder.wants).toBe(1);
  });

  it('spends a precomputed challenge when the owner kept one, without the blocks', async () => {
    const secret = new Uint8Array(32).fill(1);
    const seeds = challengeSeeds(secret, ROOT, ids.length, 2);
    const kept = seeds.map((s) => prepareChallenge(s, blocks[s.blockIndex]!));
    const { auditor, sessions } = setup({
      localBlock: () => Promise.resolve(undefined),
      challenge: () => kept.shift(),
    });
    const holder = honest();
    sessions.set('p1', holder);
    expect(await auditor.audit(ROOT, 'p1')).toMatchObject({ result: 'passed', kind: 'precomputed' });
    expect(holder.wants).toBe(0);
    sessions.set('p2', { ...honest(), audit: () => Promise.resolve(new Uint8Array(32)) });
    expect(await auditor.audit(ROOT, 'p2')).toMatchObject({ result: 'failed', kind: 'precomputed' });
  });

  it('fails a holder that answers a digest it computed without the block', async () => {
    const { auditor, sessions } = setup();
    // Zeros, and the hash of the block id: what a holder without the bytes can compute.
    sessions.set('zeros', { ...honest(), audit: () => Promise.resolve(new Uint8Array(32)) });
    sessions.set('id-hash', {
      ...honest(),
      audit: (block) => Promise.resolve(sha256(new TextEncoder().encode(block))),
    });
    expect(await auditor.audit(ROOT, 'zeros')).toMatchObject({
      result: 'failed',
      reason: expect.stringMatching(/wrong digest/),
    });
    expect(await auditor.audit(ROOT, 'id-hash')).toMatchObject({ result: 'failed' });
  });

  it('fails a holder that says it does not hold the block', async () => {
    const { auditor, sessions } = setup();
    sessions.set('p1', { ...honest(), audit: () => Promise.resolve(undefined) });
    expect(await auditor.audit(ROOT, 'p1')).toMatchObject({
      result: 'failed',
      reason: expect.stringMatching(/not-found/),
    });
  });

  it('fails a connected holder that stalls, once the deadline passes', async () => {
    const { auditor, sessions, clock } = setup();
    sessions.set('p1', { ...honest(), audit: () => new Promise(() => undefined) });
    const verdict = auditor.audit(ROOT, 'p1');
    await clock.advance(AUDIT_DEADLINE_MS - 1);
    let settled = false;
    verdict.then(
      () => (settled = true),
      () => (settled = true),
    );
    await flush();
    expect(settled).toBe(false);
    await clock.advance(1);
    expect(await verdict).toMatchObject({ result: 'failed', reason: expect.stringMatching(/deadline/) });
  });

  it('counts a session timeout as no answer', async () => {
    const { auditor, sessions } = setup();
    sessions.set('p1', { ...honest(), audit: () => Promise.reject(new TimeoutError('request', 1)) });
    expect(await auditor.audit(ROOT, 'p1')).toMatchObject({ result: 'failed' });
  });

  it('calls a holder it cannot connect to unreachable, not failed, and asks again later', async () => {
    const { auditor, verdicts, clock } = setup();
    auditor.track(ROOT, 'absent');
    await clock.advance(INTERVAL);
    expect(verdicts).toHaveLength(1);
    expect(verdicts[0]).toMatchObject({ result: 'unreachable' });
    expect(auditor.has(ROOT, 'absent')).toBe(true);
    await clock.advance(INTERVAL);
    expect(verdicts.length).toBeGreaterThan(1);
    expect(verdicts.every((v) => v.result === 'unreachable')).toBe(true);
  });

  it('challenges the holder it audits, never another', async () => {
    const asked: string[] = [];
    const { auditor } = setup({
      connect: (peer) => {
        asked.push(peer);
        return Promise.resolve(honest());
      },
    });
    await auditor.audit(ROOT, 'p2');
    expect(asked).toEqual(['p2']);
  });

  it('keeps at most maxInFlight audits running, the others waiting in line', async () => {
    const { auditor, sessions, clock, verdicts } = setup({ maxInFlight: 2 });
    const releases: (() => void)[] = [];
    const slow: AuditSession = {
      ...honest(),
      audit: (block, nonce) =>
        new Promise((resolve) => releases.push(() => resolve(auditDigest(nonce, byId.get(block)!)))),
    };
    for (const p of ['a', 'b', 'c', 'd', 'e']) {
      sessions.set(p, slow);
      auditor.track(ROOT, p);
    }
    // random() is 0.3: every pair's turn comes at 0.65 × the interval.
    await clock.advance(INTERVAL * 0.65);
    expect(auditor.running).toBe(2);
    expect(verdicts).toHaveLength(0);
    releases.splice(0).forEach((r) => r());
    await clock.advance(0);
    expect(auditor.running).toBe(2);
    expect(verdicts).toHaveLength(2);
  });

  it('on several blocks, fails a holder missing one block of the file whichever block a single audit would pick', async () => {
    // What a seed does on a suspect report: a holder that healed the block the reporter found bad
    // (its read dropped it and it fetched it again) but lost another must still fail.
    const { auditor, sessions } = setup();
    const lost = ids[3]!;
    const asked: string[] = [];
    const holder = honest();
    sessions.set('p1', {
      ...holder,
      audit: (block, nonce, options) => {
        asked.push(block);
        return block === lost ? Promise.resolve(undefined) : holder.audit(block, nonce, options);
      },
    });
    // random() is 0.3: one audit picks the second block, which the holder has.
    expect(await auditor.audit(ROOT, 'p1')).toMatchObject({ result: 'passed' });
    asked.length = 0;
    expect(await auditor.auditBlocks(ROOT, 'p1', ids.length)).toMatchObject({
      result: 'failed',
      block: lost,
      reason: expect.stringMatching(/not-found/),
    });
    // Distinct blocks, stopping at the failure.
    expect(new Set(asked).size).toBe(asked.length);
    expect(asked.at(-1)).toBe(lost);
  });

  it('on several blocks, passes an honest holder after checking that many distinct blocks', async () => {
    const { auditor, sessions } = setup();
    const holder = honest();
    sessions.set('p1', holder);
    expect(await auditor.auditBlocks(ROOT, 'p1', 3)).toMatchObject({ result: 'passed', kind: 'digest' });
    expect(holder.audits).toBe(3);
    // More than the file has: each block once.
    expect(await auditor.auditBlocks(ROOT, 'p1', 10)).toMatchObject({ result: 'passed' });
    expect(holder.audits).toBe(3 + ids.length);
  });

  it('tracks at most maxPairs pairs, however many holders peers name', () => {
    const { auditor } = setup({ maxPairs: 3 });
    const tracked = ['a', 'b', 'c', 'd', 'e'].map((p) => auditor.track(ROOT, p));
    expect(tracked).toEqual([true, true, true, false, false]);
    expect(auditor.size).toBe(3);
    auditor.setHolders(ROOT, ['a']);
    expect(auditor.size).toBe(1);
  });
});

describe("an owner's book of precomputed challenges", () => {
  const secret = new Uint8Array(32).fill(3);

  it('lets an owner without the blocks audit a holder, each challenge spent once', async () => {
    const book = new ChallengeBook();
    await book.prepare(secret, ROOT, ids, (id) => Promise.resolve(byId.get(id)!), 3);
    const { auditor, sessions } = setup({
      localBlock: () => Promise.resolve(undefined),
      challenge: (root) => book.take(root),
    });
    const holder = honest();
    sessions.set('p1', holder);
    for (let i = 0; i < 3; i++)
      expect(await auditor.audit(ROOT, 'p1')).toMatchObject({ result: 'passed', kind: 'precomputed' });
    expect(book.left(ROOT)).toBe(0);
    expect(holder.wants).toBe(0);
    // Spent: the auditor falls back to fetching a block.
    expect(await auditor.audit(ROOT, 'p1')).toMatchObject({ result: 'passed', kind: 'block' });
  });

  it('keeps at most its bound, dropping the oldest file first', () => {
    const book = new ChallengeBook(4);
    const some = (n: number) =>
      Array.from({ length: n }, () => ({
        index: 0,
        blockIndex: 0,
        nonce: new Uint8Array(32),
        expected: new Uint8Array(32),
      }));
    book.put('01'.repeat(32), some(3));
    book.put('02'.repeat(32), some(3));
    expect(book.left('01'.repeat(32))).toBe(0);
    expect(book.left('02'.repeat(32))).toBe(3);
  });
});
