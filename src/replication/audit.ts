// Audits: when to challenge a holder, and the precomputed challenges that prove it still holds a
// file's blocks. Pure functions; the caller brings the randomness, the blocks and the network.
//
// Two kinds of audit exist. Anyone may fetch a random block from a holder and check that its
// SHA-256 equals its id: unlimited, but it costs a block's transfer. The cheap kind is precomputed
// by the owner after upload: for challenge i it derives a secret nonce and a block index from its
// audit secret (HKDF-SHA256 over root and i) and keeps SHA-256(tag ‖ nonce ‖ block). The holder,
// sent (block id, nonce), returns the same digest, which it can only compute from the block's bytes:
// 32 bytes on the wire instead of a block. Each nonce is spent once (once revealed, its answer could
// be passed around), so a file has AUDIT_CHALLENGES_PER_FILE of them; block audits take over after.
//
// What an audit proves: that the holder could produce the block's bytes before the deadline. Not
// that it stores them: it may fetch them from another holder at audit time, which a tight deadline
// makes costly but cannot rule out. Block indices are secret until asked, so a holder that keeps a
// fraction p of a file's blocks passes a random challenge with probability p only.

import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { HOUR_MS } from './policy.js';

/** Longest time between two audits of one holding (`--audit-every`). */
export const DEFAULT_AUDIT_INTERVAL_MS = 6 * HOUR_MS;
/**
 * Each delay is drawn uniformly from [this fraction, 1) × the interval: random enough that a holder
 * cannot predict the next audit, and never longer than the interval, so a bad copy is caught within
 * one interval.
 */
export const AUDIT_EARLIEST_FRACTION = 0.5;
/** Precomputed challenges an owner keeps per file: 16 × (4 + 32) bytes. */
export const AUDIT_CHALLENGES_PER_FILE = 16;
export const AUDIT_NONCE_BYTES = 32;
export const AUDIT_DIGEST_BYTES = 32;
/** Shortest audit secret accepted. */
export const AUDIT_SECRET_MIN_BYTES = 16;

const utf8 = new TextEncoder();
const AUDIT_TAG = utf8.encode('mycel/audit/v1');
const NONCE_INFO = 'mycel/audit-nonce/v1';
/** HKDF output per challenge: the nonce, then 6 bytes that pick the block. */
const DERIVED_BYTES = AUDIT_NONCE_BYTES + 6;

/**
 * Delay until the next audit of one holding: uniform in [AUDIT_EARLIEST_FRACTION, 1) × `intervalMs`.
 * `random` returns a number in [0, 1) (Math.random, or a seeded generator in a simulation).
 */
export function nextAuditDelay(random: () => number, intervalMs: number = DEFAULT_AUDIT_INTERVAL_MS): number {
  if (!Number.isFinite(intervalMs) || intervalMs <= 0)
    throw new RangeError(`audit interval must be > 0, got ${intervalMs}`);
  const u = random();
  if (!(u >= 0 && u < 1)) throw new RangeError(`random() must return a number in [0, 1), got ${u}`);
  return intervalMs * (AUDIT_EARLIEST_FRACTION + (1 - AUDIT_EARLIEST_FRACTION) * u);
}

/** A challenge before its answer is known: which block to ask for, and the nonce to send. */
export interface ChallengeSeed {
  readonly index: number;
  readonly blockIndex: number;
  readonly nonce: Uint8Array;
}

/** A challenge with the digest a holder of the block must return. */
export interface AuditChallenge extends ChallengeSeed {
  readonly expected: Uint8Array;
  /**
   * The id of the block `blockIndex` names, when the owner noted it at preparation: then the owner
   * needs neither the blocks nor their listing to spend the challenge.
   */
  readonly block?: string;
}

function derive(secret: Uint8Array, root: string, index: number): Uint8Array {
  if (!(secret instanceof Uint8Array) || secret.length < AUDIT_SECRET_MIN_BYTES) {
    throw new RangeError(`audit secret must be at least ${AUDIT_SECRET_MIN_BYTES} bytes`);
  }
  if (!Number.isInteger(index) || index < 0 || index > 0xffffffff)
    throw new RangeError(`challenge index out of range: ${index}`);
  const info = new Uint8Array(NONCE_INFO.length + 4);
  info.set(utf8.encode(NONCE_INFO));
  new DataView(info.buffer).setUint32(NONCE_INFO.length, index);
  return hkdf(sha256, secret, utf8.encode(root), info, DERIVED_BYTES);
}

/**
 * Challenge `index` of `root` for a file of `blockCount` blocks: its secret nonce and the block it
 * asks for (uniform up to a bias below blockCount / 2^48). Deterministic, so the owner can keep
 * only the digests. Throws RangeError for a short secret, a bad index or blockCount < 1.
 */
export function challengeSeed(secret: Uint8Array, root: string, index: number, blockCount: number): ChallengeSeed {
  if (!Number.isSafeInteger(blockCount) || blockCount < 1)
    throw new RangeError(`block count must be ≥ 1, got ${blockCount}`);
  const okm = derive(secret, root, index);
  let pick = 0;
  for (let i = AUDIT_NONCE_BYTES; i < DERIVED_BYTES; i++) pick = pick * 256 + okm[i]!;
  return { index, blockIndex: pick % blockCount, nonce: okm.slice(0, AUDIT_NONCE_BYTES) };
}

/** The first `count` challenge seeds of `root`. */
export function challengeSeeds(
  secret: Uint8Array,
  root: string,
  blockCount: number,
  count: number = AUDIT_CHALLENGES_PER_FILE,
): ChallengeSeed[] {
  const out: ChallengeSeed[] = [];
  for (let i = 0; i < count; i++) out.push(challengeSeed(secret, root, i, blockCount));
  return out;
}

/** SHA-256(tag ‖ nonce ‖ block): the holder's answer, and what the owner precomputes. */
export function auditDigest(nonce: Uint8Array, block: Uint8Array): Uint8Array {
  if (nonce.length !== AUDIT_NONCE_BYTES) throw new RangeError(`audit nonce must be ${AUDIT_NONCE_BYTES} bytes`);
  const h = sha256.create();
  h.update(AUDIT_TAG);
  h.update(nonce);
  h.update(block);
  return h.digest();
}

/** The owner's side: a seed completed with the digest of the block it names. */
export function prepareChallenge(seed: ChallengeSeed, block: Uint8Array): AuditChallenge {
  return { ...seed, expected: auditDigest(seed.nonce, block) };
}

/** The holder's side: its answer to a nonce, from the block it holds. */
export const answerChallenge: (nonce: Uint8Array, block: Uint8Array) => Uint8Array = auditDigest;

/**
 * Whether `answer` proves the holding. Any length other than a digest's fails; comparison takes
 * the same time wherever the bytes differ, so timing does not leak how much of a guess was right.
 */
export function checkAnswer(challenge: Pick<AuditChallenge, 'expected'>, answer: Uint8Array): boolean {
  const expected = challenge.expected;
  if (!(answer instanceof Uint8Array) || answer.length !== expected.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= expected[i]! ^ answer[i]!;
  return diff === 0;
}
