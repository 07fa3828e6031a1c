// The ledger (src/store/ledger.ts) on its own: which blocks a full store gives up for a new one, and
// what it never gives up. Every store backend (memory, IndexedDB, disk) follows these decisions, so
// here they are checked once without any backend.
import { describe, expect, it } from 'vitest';
import { QuotaError } from '../../src/errors.js';
import { Ledger } from '../../src/store/ledger.js';

const id = (n: number) => n.toString(16).padStart(64, '0');

/** A ledger holding blocks 1..n of `size` bytes, added in that order (1 is the least recently used). */
function filled(quota: number, n: number, size: number): Ledger {
  const ledger = new Ledger(quota);
  for (let i = 1; i <= n; i++) ledger.add(id(i), size);
  return ledger;
}

describe('the ledger', () => {
  it('evicts nothing while a new block fits the quota', () => {
    const ledger = filled(1000, 3, 100);
    expect(ledger.planPut(id(9), 700)).toEqual([]);
  });

  it('evicts the least recently used blocks first, and only as many as the new block needs', () => {
    const ledger = filled(1000, 10, 100);
    expect(ledger.planPut(id(99), 250)).toEqual([id(1), id(2), id(3)]);
  });

  it('counts a read as a use: a block just touched is evicted last', () => {
    const ledger = filled(1000, 10, 100);
    ledger.touch(id(1));
    expect(ledger.planPut(id(99), 200)).toEqual([id(2), id(3)]);
  });

  it('never evicts a pinned block, and skips over it to the next oldest', () => {
    const ledger = filled(1000, 10, 100);
    ledger.pin('file:a', [id(1), id(2)]);
    expect(ledger.planPut(id(99), 200)).toEqual([id(3), id(4)]);
  });

  it('refuses with QuotaError a block that would not fit even if every unpinned block went', () => {
    const ledger = filled(1000, 10, 100);
    ledger.pin('file:a', [1, 2, 3, 4, 5, 6, 7, 8].map(id));
    expect(() => ledger.planPut(id(99), 300)).toThrow(QuotaError);
    // What it could make room for, it still does.
    expect(ledger.planPut(id(99), 200)).toEqual([id(9), id(10)]);
  });

  it('needs no room for a block it already holds', () => {
    const ledger = filled(1000, 10, 100);
    expect(ledger.planPut(id(5), 100)).toEqual([]);
  });

  it('keeps a block named by two pin sets pinned until both are dropped', () => {
    const ledger = filled(1000, 3, 100);
    ledger.pin('file:a', [id(1), id(2)]);
    ledger.pin('file:b', [id(2), id(3)]);
    ledger.unpin('file:a');
    expect(ledger.isPinned(id(1))).toBe(false);
    expect(ledger.isPinned(id(2))).toBe(true);
    expect(ledger.usage()).toMatchObject({ pinnedBlocks: 2, pinnedBytes: 200 });
    ledger.unpin('file:b');
    expect(ledger.usage()).toMatchObject({ bytes: 300, blocks: 3, pinnedBlocks: 0, pinnedBytes: 0 });
  });

  it('counts a pinned block as pinned bytes only while it is held', () => {
    const ledger = new Ledger(1000);
    // Pins are set before the blocks arrive (an upload names its blocks as they come).
    ledger.pin('upload:x', [id(1), id(2)]);
    expect(ledger.usage().pinnedBytes).toBe(0);
    ledger.add(id(1), 100);
    expect(ledger.usage()).toMatchObject({ pinnedBlocks: 1, pinnedBytes: 100 });
    ledger.remove(id(1));
    expect(ledger.usage()).toMatchObject({ bytes: 0, pinnedBlocks: 0, pinnedBytes: 0 });
  });

  it('adds a block it already holds once, as a use', () => {
    const ledger = filled(1000, 3, 100);
    ledger.add(id(1), 100);
    expect(ledger.usage()).toMatchObject({ bytes: 300, blocks: 3 });
    expect(ledger.planPut(id(99), 900)).toEqual([id(2), id(3)]);
  });
});
