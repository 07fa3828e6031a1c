// What every BlockLedger promises (sizes, recency, pins, quota, eviction planning), as one suite run
// against the in-memory Ledger and the LMDB one on a real disk. The last test runs the same long
// random sequence on the ledger under test and on the in-memory one and asks them the same things.

import { describe, expect, it } from 'vitest';
import { QuotaError } from '../../src/errors.js';
import type { BlockId } from '../../src/content/format.js';
import type { BlockLedger } from '../../src/store/block-ledger.js';
import { Ledger } from '../../src/store/ledger.js';

export interface LedgerUnderTest {
  ledger: BlockLedger;
  /** Closes the ledger and opens it again on the same data, if it persists. */
  reopen?: () => Promise<BlockLedger>;
}

export type LedgerFactory = (quota?: number) => Promise<LedgerUnderTest>;

/** A block id made from a number (64 hex digits). */
export function ledgerId(n: number): BlockId {
  return n.toString(16).padStart(64, '0');
}

/** A small deterministic generator, so a failing sequence can be replayed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

export function blockLedgerContract(name: string, open: LedgerFactory): void {
  describe(`${name} block ledger`, () => {
    it('counts what it holds, once each', async () => {
      const { ledger } = await open();
      ledger.add(ledgerId(1), 100);
      ledger.add(ledgerId(2), 50);
      ledger.add(ledgerId(1), 100);
      expect(ledger.has(ledgerId(1))).toBe(true);
      expect(ledger.sizeOf(ledgerId(2))).toBe(50);
      expect(ledger.sizeOf(ledgerId(3))).toBeUndefined();
      expect(ledger.usage()).toEqual({ bytes: 150, blocks: 2, pinnedBytes: 0, pinnedBlocks: 0, quota: Infinity });
      expect(ledger.remove(ledgerId(1))).toBe(true);
      expect(ledger.remove(ledgerId(1))).toBe(false);
      expect(ledger.has(ledgerId(1))).toBe(false);
      expect([...ledger.ids()]).toEqual([ledgerId(2)]);
      expect(ledger.usage()).toMatchObject({ bytes: 50, blocks: 1 });
    });

    it('plans no eviction while there is room, and none for a block it holds', async () => {
      const { ledger } = await open(300);
      ledger.add(ledgerId(1), 100);
      ledger.add(ledgerId(2), 100);
      expect(ledger.planPut(ledgerId(3), 100)).toEqual([]);
      ledger.add(ledgerId(3), 100);
      expect(ledger.planPut(ledgerId(2), 100)).toEqual([]);
    });

    it('evicts the least recently used first; a touch or a second add makes a block recent', async () => {
      const { ledger } = await open(400);
      for (let i = 1; i <= 4; i++) ledger.add(ledgerId(i), 100);
      ledger.touch(ledgerId(1));
      ledger.add(ledgerId(2), 100);
      expect(ledger.planPut(ledgerId(9), 100)).toEqual([ledgerId(3)]);
      expect(ledger.planPut(ledgerId(9), 250)).toEqual([ledgerId(3), ledgerId(4), ledgerId(1)]);
      ledger.touch(ledgerId(404)); // not held: nothing happens
      expect(ledger.has(ledgerId(404))).toBe(false);
    });

    it('counts a use while pinned once the block is unpinned', async () => {
      const { ledger } = await open(300);
      for (let i = 1; i <= 3; i++) ledger.add(ledgerId(i), 100);
      ledger.pin('p', [ledgerId(1)]);
      ledger.touch(ledgerId(1));
      ledger.unpin('p');
      expect(ledger.planPut(ledgerId(9), 300)).toEqual([ledgerId(2), ledgerId(3), ledgerId(1)]);
    });

    it('never plans to evict a pinned block, and refuses what pinned blocks leave no room for', async () => {
      const { ledger } = await open(300);
      for (let i = 1; i <= 3; i++) ledger.add(ledgerId(i), 100);
      ledger.pin('file-a', [ledgerId(1), ledgerId(2)]);
      expect(ledger.planPut(ledgerId(9), 100)).toEqual([ledgerId(3)]);
      expect(() => ledger.planPut(ledgerId(9), 101)).toThrow(QuotaError);
      ledger.unpin('file-a');
      expect(ledger.planPut(ledgerId(9), 200)).toEqual([ledgerId(1), ledgerId(2)]);
    });

    it('keeps pin sets with reference counts, for blocks held or not yet held', async () => {
      const { ledger } = await open();
      ledger.add(ledgerId(1), 10);
      expect(ledger.pin('a', [ledgerId(1), ledgerId(2), ledgerId(1)])).toEqual([ledgerId(1), ledgerId(2)]);
      expect(ledger.pin('a', [ledgerId(2), ledgerId(3)])).toEqual([ledgerId(3)]);
      expect(ledger.pin('b', [ledgerId(1)])).toEqual([ledgerId(1)]);
      expect(ledger.pin('empty', [])).toEqual([]);
      expect(ledger.usage()).toMatchObject({ pinnedBytes: 10, pinnedBlocks: 1 });
      ledger.add(ledgerId(2), 20);
      expect(ledger.usage()).toMatchObject({ pinnedBytes: 30, pinnedBlocks: 2 });
      expect(ledger.pinSet('a')).toEqual(new Set([ledgerId(1), ledgerId(2), ledgerId(3)]));
      expect(ledger.pinSet('empty')).toEqual(new Set());
      expect(ledger.pinSet('none')).toBeUndefined();
      expect(ledger.pinNames().sort()).toEqual(['a', 'b', 'empty']);
      expect(ledger.unpin('a')).toBe(true);
      expect(ledger.unpin('a')).toBe(false);
      expect(ledger.isPinned(ledgerId(1))).toBe(true); // still named by 'b'
      expect(ledger.isPinned(ledgerId(2))).toBe(false);
      expect(ledger.usage()).toMatchObject({ pinnedBytes: 10, pinnedBlocks: 1 });
      ledger.remove(ledgerId(1));
      expect(ledger.usage()).toMatchObject({ bytes: 20, blocks: 1, pinnedBytes: 0, pinnedBlocks: 0 });
    });

    it('takes any pin name, including an empty one and non-ASCII ones', async () => {
      const { ledger } = await open();
      for (const name of ['', 'upload:1', 'file:é☃', 'a\u0000b']) ledger.pin(name, [ledgerId(7)]);
      expect(ledger.pinNames().sort()).toEqual(['', 'a\u0000b', 'file:é☃', 'upload:1'].sort());
      expect(ledger.pinSet('a\u0000b')).toEqual(new Set([ledgerId(7)]));
    });

    it('answers like the in-memory ledger through a long random run', async () => {
      const quota = 40_000;
      const { ledger, reopen } = await open(quota);
      let subject = ledger;
      const model = new Ledger(quota);
      const random = prng(7);
      for (let step = 0; step < 3_000; step++) {
        const id = ledgerId(Math.floor(random() * 400));
        const roll = random();
        if (roll < 0.45) {
          const size = 100 + Math.floor(random() * 900);
          let planned: BlockId[] | Error;
          try {
            planned = model.planPut(id, size);
          } catch (error) {
            planned = error as Error;
          }
          if (planned instanceof Error) {
            expect(() => subject.planPut(id, size)).toThrow(QuotaError);
            continue;
          }
          expect(subject.planPut(id, size)).toEqual(planned);
          for (const victim of planned) {
            model.remove(victim);
            subject.remove(victim);
          }
          model.add(id, model.sizeOf(id) ?? size);
          subject.add(id, subject.sizeOf(id) ?? size);
        } else if (roll < 0.6) {
          model.touch(id);
          subject.touch(id);
        } else if (roll < 0.7) {
          expect(subject.remove(id)).toBe(model.remove(id));
        } else if (roll < 0.8) {
          const set = `set-${Math.floor(random() * 20)}`;
          const ids = [id, ledgerId(Math.floor(random() * 400))];
          expect(subject.pin(set, ids)).toEqual(model.pin(set, ids));
        } else if (roll < 0.85) {
          const set = `set-${Math.floor(random() * 20)}`;
          expect(subject.unpin(set)).toBe(model.unpin(set));
        } else if (roll < 0.851 && reopen) {
          subject = await reopen();
        } else {
          expect(subject.has(id)).toBe(model.has(id));
          expect(subject.isPinned(id)).toBe(model.isPinned(id));
        }
        if (step % 500 === 0) {
          expect(subject.usage()).toEqual(model.usage());
          expect(new Set(subject.ids())).toEqual(new Set(model.ids()));
        }
      }
      expect(subject.usage()).toEqual(model.usage());
      expect(subject.pinNames().sort()).toEqual(model.pinNames().sort());
      for (const set of model.pinNames()) expect(subject.pinSet(set)).toEqual(model.pinSet(set));
    });
  });
}

/** What a persistent ledger adds: everything above survives closing and opening again. */
export function persistentLedgerContract(name: string, open: LedgerFactory): void {
  describe(`${name} block ledger, reopened`, () => {
    it('keeps sizes, totals, pins and recency order across a reopen', async () => {
      const { ledger, reopen } = await open(500);
      for (let i = 1; i <= 5; i++) ledger.add(ledgerId(i), 100);
      ledger.touch(ledgerId(1));
      ledger.pin('keep', [ledgerId(2), ledgerId(77)]);
      ledger.remove(ledgerId(5));
      const again = await reopen!();
      expect(again.usage()).toEqual({ bytes: 400, blocks: 4, pinnedBytes: 100, pinnedBlocks: 1, quota: 500 });
      expect(new Set(again.ids())).toEqual(new Set([1, 2, 3, 4].map(ledgerId)));
      expect(again.pinSet('keep')).toEqual(new Set([ledgerId(2), ledgerId(77)]));
      expect(again.planPut(ledgerId(9), 400)).toEqual([ledgerId(3), ledgerId(4), ledgerId(1)]);
      // Stamps keep increasing after a reopen: a block used now is the most recent.
      again.touch(ledgerId(3));
      expect(again.planPut(ledgerId(9), 400)).toEqual([ledgerId(4), ledgerId(1), ledgerId(3)]);
    });

    it('keeps a use while pinned across a reopen', async () => {
      const { ledger, reopen } = await open(300);
      for (let i = 1; i <= 3; i++) ledger.add(ledgerId(i), 100);
      ledger.pin('p', [ledgerId(1)]);
      ledger.touch(ledgerId(1));
      const again = await reopen!();
      again.unpin('p');
      expect(again.planPut(ledgerId(9), 300)).toEqual([ledgerId(2), ledgerId(3), ledgerId(1)]);
    });
  });
}
