// A seed's replica report: what it knows of one file's copies (the answer to a replica-query frame,
// and what `mycel status --json` prints). JSON on the wire, parsed with bounds on receipt: a report
// comes from another peer and is believed only as that peer's view, never as a proof.

import { ProtocolError } from '../errors.js';
import { MAX_TARGET_COPIES, PEER_KINDS, type HolderState, type PeerKind } from '../replication/policy.js';
import { PEER_ID_RE } from './identity.js';
import { array, boolean, integer, literal, object, oneOf, string, type Infer } from './schema.js';
import { MAX_REPLICA_REPORT_BYTES } from './wire.js';

/** Holders one report lists: a signaling lookup's sample size (MAX_HOLDERS). */
export const MAX_REPORTED_HOLDERS = 64;
const HOLDER_STATES: readonly HolderState[] = ['live', 'absent', 'lost', 'failed'];
/** Counts in a report: far above any real figure, low enough that arithmetic on them stays exact. */
const MAX_COUNT = 2 ** 31;
/** Times and durations, ms: up to the year 10 000, i.e. any real date and every grace period. */
const MAX_MS = 253_402_300_800_000;

const count = integer(0, MAX_COUNT);

export const replicaReportSchema = object({
  v: literal(1),
  root: string({ min: 64, max: 64, pattern: /^[0-9a-f]{64}$/ }),
  target: integer(1, MAX_TARGET_COPIES),
  minimum: integer(1, MAX_TARGET_COPIES),
  graceMs: integer(0, MAX_MS),
  live: count,
  counted: count,
  atRisk: boolean,
  byKind: object({ seed: count, 'persisted-browser': count, browser: count }),
  holders: array(
    object({
      peer: string({ min: 43, max: 43, pattern: PEER_ID_RE }),
      kind: oneOf<PeerKind>(PEER_KINDS),
      state: oneOf<HolderState>(HOLDER_STATES),
      lastSeen: integer(0, MAX_MS),
    }),
    { max: MAX_REPORTED_HOLDERS },
  ),
  audits: object({ passed: count, failed: count }),
});

export type ReplicaReport = Infer<typeof replicaReportSchema>;

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** A report as it goes on the wire. @throws RangeError if it does not fit a frame. */
export function encodeReplicaReport(report: ReplicaReport): Uint8Array {
  const bytes = utf8.encode(JSON.stringify(report));
  if (bytes.length > MAX_REPLICA_REPORT_BYTES) throw new RangeError('replica report does not fit in 16 KiB');
  return bytes;
}

/**
 * A report from the wire, checked field by field.
 * @throws ProtocolError (a SchemaError for a bad field) naming what was wrong.
 */
export function decodeReplicaReport(bytes: Uint8Array): ReplicaReport {
  if (bytes.length > MAX_REPLICA_REPORT_BYTES) throw new ProtocolError('bad-body', 'replica report is over 16 KiB');
  let value: unknown;
  try {
    value = JSON.parse(utf8Decoder.decode(bytes));
  } catch {
    throw new ProtocolError('bad-body', 'replica report is not UTF-8 JSON');
  }
  return replicaReportSchema.parse(value, 'report');
}
