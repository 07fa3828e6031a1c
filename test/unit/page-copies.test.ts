// What the page says of a file's copies (web/lib/durability.ts) and the terms a person's choices at
// Add become (web/lib/add-terms.ts).
import { describe, expect, it } from 'vitest';
import { liveCopiesText, type LiveCopies } from '../../web/lib/durability.js';
import { termsOf } from '../../web/lib/add-terms.js';

const ROOT = 'ab'.repeat(32);
const copies = (seed: number, browser: number, target?: number, persisted = 0): LiveCopies => ({
  root: ROOT,
  live: seed + browser + persisted,
  byKind: { seed, 'persisted-browser': persisted, browser },
  target,
  atRisk: seed + persisted === 0,
  fromSeed: target !== undefined,
});

describe('the live copies the page shows', () => {
  it('counts seeds and browsers (persisted or not) as a person reads them', () => {
    expect(liveCopiesText(copies(2, 1, 3))).toBe('3 live copies: 2 seeds, 1 browser');
    expect(liveCopiesText(copies(1, 1, 2, 1))).toBe('3 live copies: 1 seed, 2 browsers');
  });

  it('names the target while copies are missing', () => {
    expect(liveCopiesText(copies(2, 0, 3))).toBe('2 live copies: 2 seeds (target 3)');
  });

  it('says the target is unknown when no seed answered', () => {
    expect(liveCopiesText(copies(0, 1))).toBe('1 live copy: 1 browser (no seed answered: target unknown)');
  });
});

describe('the terms of an add', () => {
  it('carry the copies chosen, and no expiry for a file kept until removed', () => {
    expect(termsOf({ copies: 5, expiry: 'never' })).toEqual({ copies: 5 });
  });

  it('carry an expiry in whole seconds a week from now', () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 0, 345);
    expect(termsOf({ copies: 3, expiry: 'week' }, now)).toEqual({
      copies: 3,
      expiresAt: Date.UTC(2026, 0, 8, 12, 0, 0),
    });
  });

  it('keep the copies within 1..16 whatever the page sent', () => {
    expect(termsOf({ copies: 40, expiry: 'never' }).copies).toBe(16);
    expect(termsOf({ copies: 0, expiry: 'never' }).copies).toBe(1);
  });
});
