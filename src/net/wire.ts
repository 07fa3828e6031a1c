// The wire protocol spoken on a data channel between two peers.
//
// A frame is: version u8 | type u8 | request id u32 (big-endian) | body. Requests (want, store,
// commit, ping) carry an id the answer repeats; announcements (auth, have) use id 0.
//   auth       signature [64]                         first frame each way: see channel-auth.ts
//   want       block id [32]                          → block | not-found
//   block      bytes                                  the block asked for; must hash to its id
//   not-found  —
//   have       topic ids [32 × n], n ≤ MAX_HAVE_TOPICS files I now serve whole (see below)
//   store      upload id [16] | bytes                 keep this block → stored | refused
//   stored     —
//   refused    reason u8 | message (UTF-8, ≤ 200 B)
//   commit     upload id [16] | root [32] [| terms]   the upload is the file `root` → committed | refused;
//                                                     a root the peer already holds whole, under an
//                                                     upload id it never saw, renews the sender's hold
//              terms: copies u8 | expires u32         the live copies the owner wants (0: the holder's
//                                                     default) and when the file expires (Unix seconds,
//                                                     0: never); absent = both 0
//   committed  —
//   ping/pong  —                                      heartbeat
//   error      reason u8 | message                    sent once before closing on a violation
//   audit      block id [32] | nonce [32]             prove you hold this block → audited | not-found
//   audited    digest [32]                            SHA-256(tag ‖ nonce ‖ block) (replication/audit.ts)
//   replica-query  root [32]                          what do you know of this file's copies?
//                                                     → replica-report | not-found (no view of it)
//   replica-report JSON (UTF-8, ≤ 16 KiB)             see replica-report.ts; parsed with bounds
//   lost       former peer id [32] | roots [32 × n],  "the peer that was <former id> no longer holds
//              1 ≤ n ≤ MAX_LOST_ROOTS                 these files" → lost-noted (believed only for a
//                                                     holder absent now; rate-limited per peer)
//   lost-noted —
//   suspect    root [32] | holder peer id [32] |       "this holder failed my audit of this file" →
//              reason u8                              suspect-noted. Never believed: a seed holding the
//                                                     file audits the holder itself, at once, and only
//                                                     its own verdict counts (rate-limited per peer)
//   suspect-noted —
//
// `have` is never an unsolicited list of holdings: holders are found through signaling lookups,
// and a peer tells another only that it now holds files whose roots that peer wanted from it and
// was answered not-found. A receiver takes `have` topics at a bounded rate (session.ts); past it the
// sender is flooding and is dropped.
//
// Version 3 added the refusal reasons `incomplete` and `unavailable` and the renewing commit (a v2
// peer would take the new reasons for a broken frame). Later v3 peers add the commit's terms (a
// commit without them means what it always meant) and the durability frames (audit, replica-query,
// lost): an older v3 peer answers those with a protocol error and closes, which their senders take
// as no answer.
//
// Roles (seed, takes stores) are not declared on the wire: the deployment grants them (the
// signaling server's list of seeds), and the other side's id is believed only once its `auth`
// frame proved it on this very channel.
//
// A frame may be larger than one data-channel message, so frames travel as fragments: each message
// is a flag byte (1 = more fragments follow, 0 = last) and up to MAX_MESSAGE_BYTES - 1 (64 KiB +
// 255) of the frame. Frames are never interleaved (a link sends one whole frame at a time). Every
// length is bounded before memory is given to it; anything out of bounds throws ProtocolError.

import { ProtocolError, WIRE_ERROR_REASONS, type RefusalReason, type WireErrorReason } from '../errors.js';
import { toHex } from '../content/bytes.js';
import { BLOCK_ID_BYTES, MAX_BLOCK_BYTES, blockIdToBytes, type BlockId, unpackIds } from '../content/format.js';
import { MAX_MESSAGE_BYTES } from './limits.js';
import { MAX_TARGET_COPIES } from '../replication/policy.js';
import { AUDIT_DIGEST_BYTES, AUDIT_NONCE_BYTES } from '../replication/audit.js';

/** 4: messages grew past 64 KiB (limits.ts MAX_MESSAGE_BYTES), which a version 3 peer refuses. */
export const WIRE_VERSION = 4;
export const HEADER_BYTES = 6;
export const UPLOAD_ID_BYTES = 16;
export const MAX_HAVE_TOPICS = 256;
export const MAX_TEXT_BYTES = 200;
/** The largest frame: a store of the largest block. */
export const MAX_FRAME_BYTES = HEADER_BYTES + UPLOAD_ID_BYTES + MAX_BLOCK_BYTES;

export const enum FrameType {
  Auth = 1,
  Want = 2,
  Block = 3,
  NotFound = 4,
  Have = 5,
  Store = 6,
  Stored = 7,
  Refused = 8,
  Commit = 9,
  Committed = 10,
  Ping = 11,
  Pong = 12,
  Error = 13,
  Audit = 14,
  Audited = 15,
  ReplicaQuery = 16,
  ReplicaReport = 17,
  Lost = 18,
  LostNoted = 19,
  Suspect = 20,
  SuspectNoted = 21,
}

/** Why an auditor suspects a holder, by their code on the wire: append only. */
export const SUSPECT_REASONS = ['other', 'not-found', 'wrong-digest', 'deadline', 'bad-block'] as const;
export type SuspectReason = (typeof SUSPECT_REASONS)[number];

/** Largest replica report body (its JSON): 64 holders with their ids fit with room to spare. */
export const MAX_REPLICA_REPORT_BYTES = 16 * 1024;
/** Roots one lost report may name. */
export const MAX_LOST_ROOTS = 256;
/** A former peer id on the wire: its raw Ed25519 public key. */
export const LOST_PEER_BYTES = 32;
/** Body of a suspect frame: root, the holder's raw peer id (as a lost report's), a reason code. */
export const SUSPECT_BODY_BYTES = BLOCK_ID_BYTES + LOST_PEER_BYTES + 1;

/** A commit's optional terms: copies u8, expiry u32. */
export const COMMIT_TERMS_BYTES = 5;

/** What the owner of a file asks of those who keep it (a commit's terms). */
export interface CommitTerms {
  /** Live copies wanted, 1..MAX_TARGET_COPIES; absent: the holder's default. */
  readonly copies?: number;
  /** When the file may be dropped, in ms since the Unix epoch (whole seconds on the wire); absent: never. */
  readonly expiresAt?: number;
}

/** An Ed25519 signature, the body of an auth frame. */
export const AUTH_SIGNATURE_BYTES = 64;

/** Refusal reasons by their code on the wire: append only. */
const REFUSAL_CODES: RefusalReason[] = [
  'quota',
  'not-allowed',
  'bad-block',
  'busy',
  'unknown-upload',
  'incomplete',
  'unavailable',
];

export type Frame =
  | { type: FrameType.Auth; id: 0; signature: Uint8Array }
  | { type: FrameType.Want; id: number; block: BlockId }
  | { type: FrameType.Block; id: number; bytes: Uint8Array }
  | { type: FrameType.NotFound; id: number }
  | { type: FrameType.Have; id: 0; topics: BlockId[] }
  | { type: FrameType.Store; id: number; upload: Uint8Array; bytes: Uint8Array }
  | { type: FrameType.Stored; id: number }
  | { type: FrameType.Refused; id: number; reason: RefusalReason; message: string }
  | { type: FrameType.Commit; id: number; upload: Uint8Array; root: BlockId; terms?: CommitTerms }
  | { type: FrameType.Committed; id: number }
  | { type: FrameType.Ping; id: number }
  | { type: FrameType.Pong; id: number }
  | { type: FrameType.Error; id: number; reason: WireErrorReason; message: string }
  | { type: FrameType.Audit; id: number; block: BlockId; nonce: Uint8Array }
  | { type: FrameType.Audited; id: number; digest: Uint8Array }
  | { type: FrameType.ReplicaQuery; id: number; root: BlockId }
  | { type: FrameType.ReplicaReport; id: number; json: Uint8Array }
  | { type: FrameType.Lost; id: number; former: Uint8Array; roots: BlockId[] }
  | { type: FrameType.LostNoted; id: number }
  | { type: FrameType.Suspect; id: number; root: BlockId; holder: Uint8Array; reason: SuspectReason }
  | { type: FrameType.SuspectNoted; id: number };

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

function text(message: string): Uint8Array {
  const bytes = utf8.encode(message);
  return bytes.length <= MAX_TEXT_BYTES ? bytes : bytes.subarray(0, MAX_TEXT_BYTES);
}

function frameOf(type: FrameType, id: number, bodyLength: number): { out: Uint8Array; view: DataView } {
  const out = new Uint8Array(HEADER_BYTES + bodyLength);
  const view = new DataView(out.buffer);
  out[0] = WIRE_VERSION;
  out[1] = type;
  view.setUint32(2, id);
  return { out, view };
}

export function encodeFrame(frame: Frame): Uint8Array {
  switch (frame.type) {
    case FrameType.Auth: {
      if (frame.signature.length !== AUTH_SIGNATURE_BYTES) throw new RangeError('an auth signature is 64 bytes');
      const { out } = frameOf(frame.type, 0, AUTH_SIGNATURE_BYTES);
      out.set(frame.signature, HEADER_BYTES);
      return out;
    }
    case FrameType.Want: {
      const { out } = frameOf(frame.type, frame.id, BLOCK_ID_BYTES);
      out.set(blockIdToBytes(frame.block), HEADER_BYTES);
      return out;
    }
    case FrameType.Block: {
      const { out } = frameOf(frame.type, frame.id, frame.bytes.length);
      out.set(frame.bytes, HEADER_BYTES);
      return out;
    }
    case FrameType.Have: {
      if (frame.topics.length > MAX_HAVE_TOPICS) throw new RangeError('too many topics in one have');
      const { out } = frameOf(frame.type, 0, frame.topics.length * BLOCK_ID_BYTES);
      frame.topics.forEach((t, i) => out.set(blockIdToBytes(t), HEADER_BYTES + i * BLOCK_ID_BYTES));
      return out;
    }
    case FrameType.Store: {
      const { out } = frameOf(frame.type, frame.id, UPLOAD_ID_BYTES + frame.bytes.length);
      out.set(frame.upload, HEADER_BYTES);
      out.set(frame.bytes, HEADER_BYTES + UPLOAD_ID_BYTES);
      return out;
    }
    case FrameType.Refused:
    case FrameType.Error: {
      const message = text(frame.message);
      const { out } = frameOf(frame.type, frame.id, 1 + message.length);
      out[HEADER_BYTES] =
        frame.type === FrameType.Refused
          ? REFUSAL_CODES.indexOf(frame.reason)
          : Math.max(0, WIRE_ERROR_REASONS.indexOf(frame.reason));
      out.set(message, HEADER_BYTES + 1);
      return out;
    }
    case FrameType.Commit: {
      const terms = frame.terms;
      const withTerms = terms?.copies !== undefined || terms?.expiresAt !== undefined;
      const { out, view } = frameOf(
        frame.type,
        frame.id,
        UPLOAD_ID_BYTES + BLOCK_ID_BYTES + (withTerms ? COMMIT_TERMS_BYTES : 0),
      );
      out.set(frame.upload, HEADER_BYTES);
      out.set(blockIdToBytes(frame.root), HEADER_BYTES + UPLOAD_ID_BYTES);
      if (withTerms) {
        const at = HEADER_BYTES + UPLOAD_ID_BYTES + BLOCK_ID_BYTES;
        const copies = terms?.copies ?? 0;
        if (!Number.isInteger(copies) || copies < 0 || copies > MAX_TARGET_COPIES) {
          throw new RangeError(`copies must be an integer from 1 to ${MAX_TARGET_COPIES}`);
        }
        const seconds = terms?.expiresAt === undefined ? 0 : Math.ceil(terms.expiresAt / 1000);
        if (!Number.isInteger(seconds) || seconds < 0 || seconds > 0xffff_ffff) {
          throw new RangeError('expiry must be a time between 1970 and 2106');
        }
        out[at] = copies;
        view.setUint32(at + 1, seconds);
      }
      return out;
    }
    case FrameType.Audit: {
      if (frame.nonce.length !== AUDIT_NONCE_BYTES)
        throw new RangeError(`an audit nonce is ${AUDIT_NONCE_BYTES} bytes`);
      const { out } = frameOf(frame.type, frame.id, BLOCK_ID_BYTES + AUDIT_NONCE_BYTES);
      out.set(blockIdToBytes(frame.block), HEADER_BYTES);
      out.set(frame.nonce, HEADER_BYTES + BLOCK_ID_BYTES);
      return out;
    }
    case FrameType.Audited: {
      if (frame.digest.length !== AUDIT_DIGEST_BYTES)
        throw new RangeError(`an audit digest is ${AUDIT_DIGEST_BYTES} bytes`);
      const { out } = frameOf(frame.type, frame.id, AUDIT_DIGEST_BYTES);
      out.set(frame.digest, HEADER_BYTES);
      return out;
    }
    case FrameType.ReplicaQuery: {
      const { out } = frameOf(frame.type, frame.id, BLOCK_ID_BYTES);
      out.set(blockIdToBytes(frame.root), HEADER_BYTES);
      return out;
    }
    case FrameType.ReplicaReport: {
      if (frame.json.length > MAX_REPLICA_REPORT_BYTES) throw new RangeError('a replica report is at most 16 KiB');
      const { out } = frameOf(frame.type, frame.id, frame.json.length);
      out.set(frame.json, HEADER_BYTES);
      return out;
    }
    case FrameType.Lost: {
      if (frame.former.length !== LOST_PEER_BYTES) throw new RangeError('a former peer id is 32 bytes');
      if (frame.roots.length < 1 || frame.roots.length > MAX_LOST_ROOTS) {
        throw new RangeError(`a lost report names 1 to ${MAX_LOST_ROOTS} roots`);
      }
      const { out } = frameOf(frame.type, frame.id, LOST_PEER_BYTES + frame.roots.length * BLOCK_ID_BYTES);
      out.set(frame.former, HEADER_BYTES);
      frame.roots.forEach((r, i) => out.set(blockIdToBytes(r), HEADER_BYTES + LOST_PEER_BYTES + i * BLOCK_ID_BYTES));
      return out;
    }
    case FrameType.Suspect: {
      if (frame.holder.length !== LOST_PEER_BYTES) throw new RangeError('a holder peer id is 32 bytes');
      const code = SUSPECT_REASONS.indexOf(frame.reason);
      if (code < 0) throw new RangeError(`unknown suspect reason ${String(frame.reason)}`);
      const { out } = frameOf(frame.type, frame.id, SUSPECT_BODY_BYTES);
      out.set(blockIdToBytes(frame.root), HEADER_BYTES);
      out.set(frame.holder, HEADER_BYTES + BLOCK_ID_BYTES);
      out[HEADER_BYTES + BLOCK_ID_BYTES + LOST_PEER_BYTES] = code;
      return out;
    }
    case FrameType.NotFound:
    case FrameType.Stored:
    case FrameType.Committed:
    case FrameType.Ping:
    case FrameType.Pong:
    case FrameType.LostNoted:
    case FrameType.SuspectNoted:
      return frameOf(frame.type, frame.id, 0).out;
  }
}

/**
 * Decodes one whole frame.
 * @throws ProtocolError (`reason`: version, unknown-type, short, oversized, bad-body).
 */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.length < HEADER_BYTES)
    throw new ProtocolError('short', `frame of ${bytes.length} bytes is shorter than a header`);
  if (bytes.length > MAX_FRAME_BYTES)
    throw new ProtocolError('oversized', `frame of ${bytes.length} bytes is over the limit`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] !== WIRE_VERSION) throw new ProtocolError('version', `unsupported wire version ${bytes[0]}`);
  const type = bytes[1]!;
  const id = view.getUint32(2);
  const body = bytes.subarray(HEADER_BYTES);
  const expect = (ok: boolean, what: string) => {
    if (!ok) throw new ProtocolError('bad-body', `${what} (frame type ${type}, ${body.length}-byte body)`);
  };
  switch (type) {
    case FrameType.Auth:
      expect(body.length === AUTH_SIGNATURE_BYTES, 'auth carries one 64-byte signature');
      return { type, id: 0, signature: body };
    case FrameType.Want:
      expect(body.length === BLOCK_ID_BYTES, 'want carries one block id');
      return { type, id, block: toHex(body) };
    case FrameType.Block:
      expect(body.length <= MAX_BLOCK_BYTES, 'block is larger than any block');
      return { type, id, bytes: body };
    case FrameType.Have: {
      expect(body.length % BLOCK_ID_BYTES === 0, 'have carries whole ids');
      expect(body.length / BLOCK_ID_BYTES <= MAX_HAVE_TOPICS, 'have carries too many topics');
      const topics: BlockId[] = [];
      topics.push(...unpackIds(body));
      return { type, id: 0, topics };
    }
    case FrameType.Store:
      expect(body.length > UPLOAD_ID_BYTES, 'store carries an upload id and a block');
      expect(body.length - UPLOAD_ID_BYTES <= MAX_BLOCK_BYTES, 'stored block is larger than any block');
      return { type, id, upload: body.subarray(0, UPLOAD_ID_BYTES), bytes: body.subarray(UPLOAD_ID_BYTES) };
    case FrameType.Refused:
    case FrameType.Error: {
      expect(body.length >= 1 && body.length <= 1 + MAX_TEXT_BYTES, 'reason and message out of bounds');
      const message = utf8Decoder.decode(body.subarray(1));
      if (type === FrameType.Error) return { type, id, reason: WIRE_ERROR_REASONS[body[0]!] ?? 'protocol', message };
      const reason = REFUSAL_CODES[body[0]!];
      expect(reason !== undefined, 'unknown refusal reason');
      return { type, id, reason: reason!, message };
    }
    case FrameType.Commit: {
      const bare = UPLOAD_ID_BYTES + BLOCK_ID_BYTES;
      expect(
        body.length === bare || body.length === bare + COMMIT_TERMS_BYTES,
        'commit carries an upload id, a root and optional terms',
      );
      const upload = body.subarray(0, UPLOAD_ID_BYTES);
      const root = toHex(body.subarray(UPLOAD_ID_BYTES, bare));
      if (body.length === bare) return { type, id, upload, root };
      const copies = body[bare]!;
      const seconds = view.getUint32(HEADER_BYTES + bare + 1);
      expect(copies <= MAX_TARGET_COPIES, `commit asks for more than ${MAX_TARGET_COPIES} copies`);
      const terms: CommitTerms = {
        ...(copies > 0 ? { copies } : {}),
        ...(seconds > 0 ? { expiresAt: seconds * 1000 } : {}),
      };
      return { type, id, upload, root, terms };
    }
    case FrameType.Audit:
      expect(body.length === BLOCK_ID_BYTES + AUDIT_NONCE_BYTES, 'audit carries a block id and a nonce');
      return { type, id, block: toHex(body.subarray(0, BLOCK_ID_BYTES)), nonce: body.subarray(BLOCK_ID_BYTES) };
    case FrameType.Audited:
      expect(body.length === AUDIT_DIGEST_BYTES, 'audited carries one digest');
      return { type, id, digest: body };
    case FrameType.ReplicaQuery:
      expect(body.length === BLOCK_ID_BYTES, 'replica-query carries one root');
      return { type, id, root: toHex(body) };
    case FrameType.ReplicaReport:
      expect(body.length <= MAX_REPLICA_REPORT_BYTES, 'replica report is over 16 KiB');
      return { type, id, json: body };
    case FrameType.Lost: {
      const ids = body.length - LOST_PEER_BYTES;
      expect(ids > 0 && ids % BLOCK_ID_BYTES === 0, 'lost carries a peer id and whole roots');
      expect(ids / BLOCK_ID_BYTES <= MAX_LOST_ROOTS, `lost names more than ${MAX_LOST_ROOTS} roots`);
      return {
        type,
        id,
        former: body.subarray(0, LOST_PEER_BYTES),
        roots: [...unpackIds(body.subarray(LOST_PEER_BYTES))],
      };
    }
    case FrameType.Suspect: {
      expect(body.length === SUSPECT_BODY_BYTES, 'suspect carries a root, a peer id and a reason');
      const reason = SUSPECT_REASONS[body[BLOCK_ID_BYTES + LOST_PEER_BYTES]!];
      expect(reason !== undefined, 'unknown suspect reason');
      return {
        type,
        id,
        root: toHex(body.subarray(0, BLOCK_ID_BYTES)),
        holder: body.subarray(BLOCK_ID_BYTES, BLOCK_ID_BYTES + LOST_PEER_BYTES),
        reason: reason!,
      };
    }
    case FrameType.NotFound:
    case FrameType.Stored:
    case FrameType.Committed:
    case FrameType.Ping:
    case FrameType.Pong:
    case FrameType.LostNoted:
    case FrameType.SuspectNoted:
      expect(body.length === 0, 'frame has no body');
      return { type, id };
    default:
      throw new ProtocolError('unknown-type', `unknown frame type ${type}`);
  }
}

const MORE = 1;
const LAST = 0;
const FRAGMENT_PAYLOAD = MAX_MESSAGE_BYTES - 1;

/**
 * An encoded frame as parts to send one after the other: a block's bytes (in `block` and `store`
 * frames) stay where they are, behind a small header, rather than being copied into a frame buffer
 * only to be copied again into data-channel messages. Joined, the parts are encodeFrame(frame).
 */
export function encodeFrameParts(frame: Frame): Uint8Array[] {
  switch (frame.type) {
    case FrameType.Block:
      return [frameOf(frame.type, frame.id, 0).out, frame.bytes];
    case FrameType.Store: {
      const { out } = frameOf(frame.type, frame.id, UPLOAD_ID_BYTES);
      out.set(frame.upload, HEADER_BYTES);
      return [out, frame.bytes];
    }
    default:
      return [encodeFrame(frame)];
  }
}

/**
 * Splits an encoded frame (whole, or as parts: encodeFrameParts) into data-channel messages. With
 * `scratch` (MAX_MESSAGE_BYTES long) every message is a view into it, valid only until the next one
 * is asked for: for a sender whose send() copies at once (RTCDataChannel.send does), so a block
 * costs no fresh buffer per message.
 */
export function* fragments(frame: Uint8Array | readonly Uint8Array[], scratch?: Uint8Array): Generator<Uint8Array> {
  const parts = frame instanceof Uint8Array ? [frame] : frame;
  let total = 0;
  for (const part of parts) total += part.length;
  let part = 0;
  let at = 0;
  let sent = 0;
  do {
    const n = Math.min(FRAGMENT_PAYLOAD, total - sent);
    const message = scratch ? scratch.subarray(0, 1 + n) : new Uint8Array(1 + n);
    message[0] = sent + n < total ? MORE : LAST;
    for (let filled = 0; filled < n;) {
      const bytes = parts[part]!;
      const take = Math.min(n - filled, bytes.length - at);
      message.set(bytes.subarray(at, at + take), 1 + filled);
      filled += take;
      at += take;
      if (at === bytes.length) {
        part++;
        at = 0;
      }
    }
    sent += n;
    yield message;
  } while (sent < total);
}

/** Joins fragments back into frames, refusing anything that could grow past MAX_FRAME_BYTES. */
export class Reassembler {
  private parts: Uint8Array[] = [];
  private length = 0;

  /** Returns a whole frame when `message` completes one. */
  push(message: Uint8Array): Uint8Array | undefined {
    if (message.length === 0 || message.length > MAX_MESSAGE_BYTES) {
      throw new ProtocolError('bad-fragment', `a ${message.length}-byte message is not a fragment`);
    }
    const flag = message[0];
    if (flag !== MORE && flag !== LAST) throw new ProtocolError('bad-fragment', `unknown fragment flag ${flag}`);
    this.length += message.length - 1;
    if (this.length > MAX_FRAME_BYTES) {
      throw new ProtocolError('oversized', `frame grew past ${MAX_FRAME_BYTES} bytes`);
    }
    this.parts.push(message.subarray(1));
    if (flag === MORE) return undefined;
    const parts = this.parts;
    const frame = parts.length === 1 ? parts[0]! : new Uint8Array(this.length);
    if (parts.length > 1) {
      let o = 0;
      for (const part of parts) {
        frame.set(part, o);
        o += part.length;
      }
    }
    this.parts = [];
    this.length = 0;
    return frame;
  }
}
