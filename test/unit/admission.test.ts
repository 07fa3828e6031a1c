// The in-progress table that decides which offers a peer takes on (src/net/admission.ts). What the
// hostile side tries: fill every slot with dead offers from one address or from many, or offer and
// abandon at once to make the peer build connection after connection.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AdmissionTable } from '../../src/net/admission.js';

interface Attempt {
  name: string;
  open: boolean;
}

const limits = { maxTotal: 4, maxPerOrigin: 2, holdMs: 5_000 };
const notOpen = (a: Attempt) => !a.open;

function attempt(name: string, open = false): Attempt {
  return { name, open };
}

/** Admits (evicting as told) and adds; returns what was evicted, or the refusal. */
function offer(table: AdmissionTable<Attempt>, item: Attempt, origin: string): string | undefined {
  const decision = table.admit(origin, notOpen);
  if (!decision.admitted) return `refused: ${decision.reason}`;
  if (decision.evict) table.end(decision.evict, true);
  table.add(item, origin);
  return decision.evict ? `evicted ${decision.evict.name}` : undefined;
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('the in-progress table', () => {
  it('refuses an origin past its share, whatever room is left in all', () => {
    const table = new AdmissionTable<Attempt>(limits);
    expect(offer(table, attempt('a1'), 'A')).toBeUndefined();
    expect(offer(table, attempt('a2'), 'A')).toBeUndefined();
    expect(offer(table, attempt('a3'), 'A')).toBe('refused: origin-full');
    expect(table.size).toBe(2);
    expect(offer(table, attempt('b1'), 'B')).toBeUndefined();
  });

  it('makes room when full by dropping the oldest unopened attempt of the origin holding the most', () => {
    const table = new AdmissionTable<Attempt>({ ...limits, maxPerOrigin: 3 });
    offer(table, attempt('h1'), 'honest');
    offer(table, attempt('f1'), 'flood');
    offer(table, attempt('f2'), 'flood');
    offer(table, attempt('f3'), 'flood');
    // h1 is the oldest, but its origin holds one attempt and the flood's three.
    expect(offer(table, attempt('g1'), 'other')).toBe('evicted f1');
    expect(table.size).toBe(4);
    expect(table.count('honest')).toBe(1);
  });

  it('drops an attempt whose channel opened only when every attempt in the table has one', () => {
    const table = new AdmissionTable<Attempt>({ ...limits, maxPerOrigin: 4 });
    offer(table, attempt('a-open', true), 'A');
    offer(table, attempt('b-open', true), 'B');
    offer(table, attempt('a-new'), 'A');
    offer(table, attempt('b-new'), 'B');
    // A and B hold two each; the oldest not yet open goes, not the older ones already open.
    expect(offer(table, attempt('c1'), 'C')).toBe('evicted a-new');
    const full = new AdmissionTable<Attempt>({ ...limits, maxPerOrigin: 4 });
    for (const name of ['o1', 'o2', 'o3', 'o4']) offer(full, attempt(name, true), 'A');
    // Peers that finished the handshake and never prove their ids cannot keep everyone out.
    expect(offer(full, attempt('n1'), 'B')).toBe('evicted o1');
  });

  it('keeps an honest attempt through a flood of dead offers from several origins that fill the table', () => {
    const table = new AdmissionTable<Attempt>({ maxTotal: 8, maxPerOrigin: 4, holdMs: 5_000 });
    offer(table, attempt('honest'), 'H');
    const outcomes: (string | undefined)[] = [];
    // 120 dead offers from 6 addresses (24 slots' worth for a table of 8), as fast as they come.
    for (let i = 0; i < 120; i++) outcomes.push(offer(table, attempt(`dead${i}`), `F${i % 6}`));
    expect(outcomes.filter((o) => o?.startsWith('evicted'))).not.toEqual([]);
    expect(outcomes).not.toContain('evicted honest');
    expect(table.size).toBe(8);
    expect(table.count('H')).toBe(1);
    // A second honest peer from another address still gets in, at a flooder's expense.
    expect(offer(table, attempt('late'), 'L')).toMatch(/^evicted dead/);
  });

  it('holds the slot of an attempt abandoned before ICE until its deadline, so offering and abandoning gains nothing', () => {
    const table = new AdmissionTable<Attempt>(limits);
    const built: string[] = [];
    const abandonAtOnce = (name: string) => {
      const a = attempt(name);
      const refused = offer(table, a, 'A');
      if (refused) return refused;
      built.push(name);
      table.end(a, true);
      return undefined;
    };
    expect(abandonAtOnce('x1')).toBeUndefined();
    expect(abandonAtOnce('x2')).toBeUndefined();
    expect(abandonAtOnce('x3')).toBe('refused: origin-full');
    expect(built).toEqual(['x1', 'x2']);
    expect(table.size).toBe(0);
    vi.advanceTimersByTime(limits.holdMs);
    expect(table.count('A')).toBe(0);
    expect(abandonAtOnce('x4')).toBeUndefined();
  });

  it('frees the slot at once when an attempt got past ICE', () => {
    const table = new AdmissionTable<Attempt>(limits);
    const a = attempt('a');
    offer(table, a, 'A');
    table.end(a, false);
    expect(table.count('A')).toBe(0);
  });

  it('remembers the most attempts it held at once', () => {
    const table = new AdmissionTable<Attempt>(limits);
    const a = attempt('a');
    offer(table, a, 'A');
    offer(table, attempt('b'), 'B');
    table.end(a, false);
    expect(table.size).toBe(1);
    expect(table.peak).toBe(2);
  });
});
