// A seed's audits on suspect reports (src/node/seed-auditor.ts) with fake holders and a fake
// lookup: what a report makes the seed check, and what a report it could not act on leaves behind.
import { afterEach, describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from '../../src/content/bytes.js';
import { quietLog } from '../../src/log.js';
import { SUSPECT_AUDIT_BLOCKS } from '../../src/net/limits.js';
import type { Swarm } from '../../src/net/swarm.js';
import { SeedAuditor } from '../../src/node/seed-auditor.js';
import { auditDigest } from '../../src/replication/audit.js';
import type { AuditSession } from '../../src/replication/auditor.js';

const ROOT = 'aa'.repeat(32);
const blocks = Array.from({ length: SUSPECT_AUDIT_BLOCKS }, (_, n) => new TextEncoder().encode(`block ${n}`));
const ids = blocks.map((b) => toHex(sha256(b)));
const byId = new Map(ids.map((id, i) => [id, blocks[i]!]));

/** A holder answering digests for the blocks it has. */
function holderOf(has: (id: string) => boolean): AuditSession & { asked: string[] } {
  return {
    asked: [],
    audit(block, nonce) {
      this.asked.push(block);
      const bytes = has(block) ? byId.get(block) : undefined;
      return Promise.resolve(bytes && auditDigest(nonce, bytes));
    },
    want(block) {
      return Promise.resolve(has(block) ? byId.get(block) : undefined);
    },
  };
}

const open: SeedAuditor[] = [];
afterEach(() => {
  for (const auditor of open.splice(0)) auditor.close();
});

function seedAuditor(session: AuditSession, holders: { now: string[] }) {
  const verdicts: { peer: string; ok: boolean }[] = [];
  const auditor = new SeedAuditor({
    self: 'self',
    swarm: { connect: () => Promise.resolve(session) } as unknown as Swarm,
    log: quietLog,
    intervalMs: 3_600_000,
    heldRoots: () => [ROOT],
    blocksOf: (root) => (root === ROOT ? ids : undefined),
    localBlock: (id) => Promise.resolve(byId.get(id)),
    holdersOf: () => Promise.resolve(holders.now),
    onVerdict: (_root, peer, ok) => verdicts.push({ peer, ok }),
  });
  open.push(auditor);
  return { auditor, verdicts };
}

describe('a seed auditing a holder on a suspect report', () => {
  it('fails a holder that lacks any one block of the file, whichever block one audit would have picked', async () => {
    // The holder healed the block the reporter found bad, and others, but not the last one.
    const lost = ids.at(-1)!;
    const holder = holderOf((id) => id !== lost);
    const { auditor, verdicts } = seedAuditor(holder, { now: ['p1'] });
    expect(await auditor.auditOnReport('page', ROOT, 'p1')).toBe('audited');
    expect(verdicts).toEqual([{ peer: 'p1', ok: false }]);
    expect(holder.asked.at(-1)).toBe(lost);
    expect(auditor.reported).toMatchObject({ failed: 1, passed: 0 });
  });

  it('audits a holder its lookup missed a moment ago at the next report, not a cooldown later', async () => {
    const holders = { now: [] as string[] };
    const { auditor, verdicts } = seedAuditor(
      holderOf(() => false),
      holders,
    );
    const t = 1_000_000;
    // The holder had withdrawn the file for a moment (healing a block): the lookup did not name it.
    expect(await auditor.auditOnReport('page', ROOT, 'p1', t)).toBe('ignored');
    holders.now = ['p1'];
    expect(await auditor.auditOnReport('page', ROOT, 'p1', t + 2_000)).toBe('audited');
    expect(verdicts).toEqual([{ peer: 'p1', ok: false }]);
    // Once audited, the pair's cooldown holds.
    expect(await auditor.auditOnReport('page', ROOT, 'p1', t + 4_000)).toBe('recent');
  });
});
