// Audit scheduling and precomputed challenges: a holder with the block answers right; a holder that
// lost, altered or never had it, or that replays another answer, does not.
import { describe, expect, it } from 'vitest';
import {
  AUDIT_EARLIEST_FRACTION,
  AUDIT_NONCE_BYTES,
  answerChallenge,
  challengeSeed,
  challengeSeeds,
  checkAnswer,
  nextAuditDelay,
  prepareChallenge,
} from '../../src/replication/audit.js';
import { HOUR_MS } from '../../src/replication/policy.js';
import { pseudoRandomBytes } from '../helpers/data.js';

const secret = pseudoRandomBytes(32, 1);
const root = 'cd'.repeat(32);
const blocks = Array.from({ length: 40 }, (_, i) => pseudoRandomBytes(1024, 100 + i));

describe('audit scheduling', () => {
  it('draws delays between the earliest fraction and the whole interval', () => {
    expect(nextAuditDelay(() => 0, HOUR_MS)).toBe(AUDIT_EARLIEST_FRACTION * HOUR_MS);
    expect(nextAuditDelay(() => 0.999999, HOUR_MS)).toBeLessThan(HOUR_MS);
    let x = 7;
    const lcg = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const delays = Array.from({ length: 1000 }, () => nextAuditDelay(lcg, HOUR_MS));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(AUDIT_EARLIEST_FRACTION * HOUR_MS);
    expect(Math.max(...delays)).toBeLessThan(HOUR_MS);
    expect(new Set(delays).size).toBeGreaterThan(900);
  });

  it('refuses a random source outside [0, 1) and a non-positive interval', () => {
    expect(() => nextAuditDelay(() => 1, HOUR_MS)).toThrow(RangeError);
    expect(() => nextAuditDelay(() => Number.NaN, HOUR_MS)).toThrow(RangeError);
    expect(() => nextAuditDelay(() => 0.5, 0)).toThrow(RangeError);
  });
});

describe('precomputed challenges', () => {
  const seeds = challengeSeeds(secret, root, blocks.length);
  const challenges = seeds.map((s) => prepareChallenge(s, blocks[s.blockIndex]!));

  it('derives the same nonces and blocks again from the secret, so the owner keeps only digests', () => {
    expect(challengeSeeds(secret, root, blocks.length)).toEqual(seeds);
  });

  it('gives every challenge its own nonce, and other files and secrets other nonces', () => {
    const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
    const nonces = new Set(seeds.map((s) => hex(s.nonce)));
    expect(nonces.size).toBe(seeds.length);
    expect(seeds.every((s) => s.nonce.length === AUDIT_NONCE_BYTES)).toBe(true);
    expect(nonces.has(hex(challengeSeed(secret, 'ef'.repeat(32), 0, blocks.length).nonce))).toBe(false);
    expect(nonces.has(hex(challengeSeed(pseudoRandomBytes(32, 2), root, 0, blocks.length).nonce))).toBe(false);
  });

  it('asks for blocks spread over the file', () => {
    const many = challengeSeeds(secret, root, blocks.length, 200);
    expect(many.every((s) => s.blockIndex >= 0 && s.blockIndex < blocks.length)).toBe(true);
    expect(new Set(many.map((s) => s.blockIndex)).size).toBeGreaterThan(blocks.length * 0.8);
  });

  it('passes a holder that has the block', () => {
    for (const c of challenges) expect(checkAnswer(c, answerChallenge(c.nonce, blocks[c.blockIndex]!))).toBe(true);
  });

  it('fails a holder whose block was altered by one bit', () => {
    const c = challenges[0]!;
    const bad = blocks[c.blockIndex]!.slice();
    bad[bad.length - 1]! ^= 1;
    expect(checkAnswer(c, answerChallenge(c.nonce, bad))).toBe(false);
  });

  it('fails a holder that answers with another block of the file', () => {
    const c = challenges[0]!;
    const other = blocks[(c.blockIndex + 1) % blocks.length]!;
    expect(checkAnswer(c, answerChallenge(c.nonce, other))).toBe(false);
  });

  it("fails a holder that replays another challenge's answer or the block's bare hash", () => {
    const [a, b] = challenges as [(typeof challenges)[0], (typeof challenges)[0]];
    expect(checkAnswer(b, answerChallenge(a.nonce, blocks[a.blockIndex]!))).toBe(false);
    expect(checkAnswer(a, a.nonce)).toBe(false);
  });

  it('fails an answer of the wrong length', () => {
    const c = challenges[0]!;
    expect(checkAnswer(c, c.expected.subarray(0, 31))).toBe(false);
    expect(checkAnswer(c, new Uint8Array(0))).toBe(false);
  });

  it('refuses a short secret, a bad index and an empty file', () => {
    expect(() => challengeSeed(new Uint8Array(8), root, 0, 4)).toThrow(RangeError);
    expect(() => challengeSeed(secret, root, -1, 4)).toThrow(RangeError);
    expect(() => challengeSeed(secret, root, 0, 0)).toThrow(RangeError);
  });
});
