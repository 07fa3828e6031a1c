// The bookkeeping behind an open seed: per-peer and open-share limits, owners, expiry. The clock
// is injected; the seed's I/O is tested in test/integration/seed-squat.test.ts.
import { describe, expect, it } from 'vitest';
import { Holds } from '../../src/node/holds.js';
import { MAX_OWNERS_PER_FILE } from '../../src/net/limits.js';

const root = (n: number) => n.toString(16).padStart(64, '0');
const MiB = 2 ** 20;

function holds(policy: Partial<{ peerQuota: number; openBudget: number; ttlMs: number }> = {}) {
  let now = 1_000_000;
  const h = new Holds({ peerQuota: 10 * MiB, openBudget: 25 * MiB, ttlMs: 1000, ...policy }, () => now);
  return { h, advance: (ms: number) => (now += ms) };
}

describe('holds of an open seed', () => {
  it('refuses a peer past its own quota, naming that limit, counting uploads in progress', () => {
    const { h } = holds();
    h.hold(root(1), 6 * MiB, 'squatter', true);
    h.reserve('squatter', 3 * MiB, true);
    expect(h.usedBy('squatter')).toBe(9 * MiB);
    expect(h.refusal('squatter', { peer: 2 * MiB, open: 2 * MiB })).toMatch(
      /at most 10.0 MiB for each peer not on its allow list, and 9.00 MiB are held for this one/,
    );
    expect(h.refusal('honest', { peer: 2 * MiB, open: 2 * MiB })).toBeUndefined();
  });

  it('refuses everyone once strangers together use the open share, naming that limit', () => {
    const { h } = holds();
    for (let i = 0; i < 3; i++) h.hold(root(i), 8 * MiB, `sybil-${i}`, true);
    expect(h.openUsed).toBe(24 * MiB);
    expect(h.refusal('newcomer', { peer: 2 * MiB, open: 2 * MiB })).toMatch(
      /may keep 25.0 MiB on it together, and 24.0 MiB are in use/,
    );
  });

  it('charges each owner the whole file, but counts a shared file once toward the open share', () => {
    const { h } = holds();
    h.hold(root(1), 4 * MiB, 'a', true);
    expect(h.costOfHold('b', root(1), 4 * MiB, true)).toEqual({ peer: 4 * MiB, open: 0 });
    expect(h.costOfHold('a', root(1), 4 * MiB, true)).toEqual({ peer: 0, open: 0 });
    h.hold(root(1), 4 * MiB, 'b', true);
    expect([h.usedBy('a'), h.usedBy('b'), h.openUsed]).toEqual([4 * MiB, 4 * MiB, 4 * MiB]);
  });

  it('drops a file once every owner let its hold lapse, and frees what it counted', () => {
    const { h, advance } = holds({ ttlMs: 1000 });
    h.hold(root(1), 4 * MiB, 'a', true);
    h.hold(root(2), 4 * MiB, 'a', true);
    advance(600);
    h.hold(root(2), 4 * MiB, 'a', true); // renewed
    advance(600);
    const { changed, dropped } = h.expire();
    expect(dropped.map((f) => f.root)).toEqual([root(1)]);
    expect(changed).toEqual([]);
    expect([h.has(root(1)), h.has(root(2))]).toEqual([false, true]);
    expect([h.usedBy('a'), h.openUsed]).toEqual([4 * MiB, 4 * MiB]);
  });

  it('keeps a file while one owner still holds it, and for good for a listed owner or the operator', () => {
    const { h, advance } = holds({ ttlMs: 1000 });
    h.hold(root(1), MiB, 'stranger', true);
    h.hold(root(1), MiB, 'listed', false);
    h.keep(root(2), MiB);
    h.hold(root(2), MiB, 'stranger', true);
    advance(5000);
    const { changed, dropped } = h.expire();
    expect(dropped).toEqual([]);
    expect(changed.map((f) => [f.root, f.owners.map((o) => o.peer)])).toEqual([
      [root(1), ['listed']],
      [root(2), []],
    ]);
    expect([h.usedBy('stranger'), h.openUsed]).toEqual([0, 0]);
  });

  it('caps the owners of one file', () => {
    const { h } = holds({ peerQuota: Infinity, openBudget: Infinity });
    for (let i = 0; i < MAX_OWNERS_PER_FILE; i++) h.hold(root(1), 1, `p${i}`, true);
    expect(h.hasRoomForOwner('p0', root(1))).toBe(true);
    expect(h.hasRoomForOwner('one-more', root(1))).toBe(false);
  });

  it('rolls back to a previous record exactly', () => {
    const { h } = holds();
    h.hold(root(1), 2 * MiB, 'a', true);
    const before = h.get(root(1));
    h.hold(root(1), 2 * MiB, 'b', true);
    h.set(root(1), before);
    expect([h.usedBy('a'), h.usedBy('b'), h.openUsed]).toEqual([2 * MiB, 0, 2 * MiB]);
    h.set(root(1), undefined);
    expect([h.usedBy('a'), h.openUsed, h.size]).toEqual([0, 0, 0]);
  });
});

describe("a file's own expiry (the owner's terms)", () => {
  it('is kept by a renewal without one, moved later by a later one, never earlier', () => {
    const { h } = holds({ ttlMs: 10 ** 9 });
    h.hold(root(1), MiB, 'owner', true, 2_000_000);
    h.hold(root(1), MiB, 'owner', true);
    expect(h.get(root(1))?.expiresAt).toBe(2_000_000);
    h.hold(root(1), MiB, 'other', true, 1_500_000);
    expect(h.get(root(1))?.expiresAt).toBe(2_000_000);
    h.hold(root(1), MiB, 'owner', true, 3_000_000);
    expect(h.get(root(1))?.expiresAt).toBe(3_000_000);
  });

  it('is never put on a file that has none by a later commit (any link holder may commit)', () => {
    const { h } = holds({ ttlMs: 10 ** 9 });
    h.hold(root(1), MiB, 'owner', true);
    h.hold(root(1), MiB, 'stranger', true, 1_000_001);
    expect(h.get(root(1))?.expiresAt).toBeUndefined();
  });

  it('drops the file once passed, whatever its owners and even if lasting, and is the next expiry until then', () => {
    const { h, advance } = holds({ ttlMs: 10 ** 9 });
    h.hold(root(1), MiB, 'listed', false, 1_000_500);
    h.hold(root(2), MiB, 'listed', false);
    expect(h.nextExpiry()).toBe(1_000_500);
    advance(499);
    expect(h.expire().dropped).toEqual([]);
    advance(1);
    const { dropped } = h.expire();
    expect(dropped.map((f) => f.root)).toEqual([root(1)]);
    expect(h.has(root(2))).toBe(true);
    expect(h.nextExpiry()).toBeUndefined();
  });
});
