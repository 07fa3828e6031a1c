import { describe, expect, it } from 'vitest';
import {
  FrameType,
  MAX_FRAME_BYTES,
  Reassembler,
  UPLOAD_ID_BYTES,
  WIRE_VERSION,
  decodeFrame,
  encodeFrame,
  encodeFrameParts,
  fragments,
  type Frame,
} from '../../src/net/wire.js';
import { ProtocolError } from '../../src/errors.js';
import { DEFAULT_CHUNK_SIZE, MAX_BLOCK_BYTES } from '../../src/content/format.js';
import { GCM_TAG_BYTES } from '../../src/content/crypto.js';
import { MAX_MESSAGE_BYTES } from '../../src/net/limits.js';
import {
  MAX_BATCHED_HOLDERS,
  MAX_TOPICS_PER_LOOKUP,
  clientMessage,
  serverMessage,
} from '../../src/net/signal-messages.js';
import { ephemeralIdentity } from '../../src/net/identity.js';
import { SchemaError } from '../../src/net/schema.js';
import { pseudoRandomBytes, sameBytes } from '../helpers/data.js';

const id = 'cd'.repeat(32);
const upload = pseudoRandomBytes(UPLOAD_ID_BYTES, 2);

function reassemble(frame: Uint8Array): Uint8Array {
  const r = new Reassembler();
  let out: Uint8Array | undefined;
  for (const message of fragments(frame)) {
    expect(out).toBeUndefined();
    out = r.push(message);
  }
  return out!;
}

describe('wire frames', () => {
  const frames: Frame[] = [
    { type: FrameType.Auth, id: 0, signature: pseudoRandomBytes(64, 4) },
    { type: FrameType.Want, id: 7, block: id },
    { type: FrameType.Block, id: 8, bytes: pseudoRandomBytes(300_000, 1) },
    { type: FrameType.NotFound, id: 9 },
    { type: FrameType.Have, id: 0, topics: [id, 'ef'.repeat(32)] },
    { type: FrameType.Store, id: 10, upload, bytes: pseudoRandomBytes(MAX_BLOCK_BYTES, 3) },
    { type: FrameType.Stored, id: 11 },
    { type: FrameType.Refused, id: 12, reason: 'quota', message: 'full up' },
    { type: FrameType.Refused, id: 16, reason: 'incomplete', message: 'lacks 3 of 9 blocks' },
    { type: FrameType.Refused, id: 17, reason: 'unavailable', message: 'cannot store this now' },
    { type: FrameType.Commit, id: 13, upload, root: id },
    { type: FrameType.Commit, id: 18, upload, root: id, terms: { copies: 3, expiresAt: 1_900_000_000_000 } },
    { type: FrameType.Commit, id: 19, upload, root: id, terms: { copies: 16 } },
    { type: FrameType.Committed, id: 14 },
    { type: FrameType.Ping, id: 15 },
    { type: FrameType.Pong, id: 0xffffffff },
    { type: FrameType.Error, id: 0, reason: 'flood', message: 'too much' },
    { type: FrameType.Audit, id: 20, block: id, nonce: pseudoRandomBytes(32, 5) },
    { type: FrameType.Audited, id: 21, digest: pseudoRandomBytes(32, 6) },
  ];

  for (const frame of frames) {
    it(`round-trips type ${frame.type} through fragments`, () => {
      const decoded = decodeFrame(reassemble(encodeFrame(frame)));
      const norm = (f: Frame) =>
        JSON.parse(JSON.stringify(f, (_k, v) => (v instanceof Uint8Array ? Array.from(v.subarray(0, 64)) : v)));
      expect(norm(decoded)).toEqual(norm(frame));
      if ('bytes' in frame) expect(sameBytes((decoded as typeof frame).bytes, frame.bytes)).toBe(true);
    });
  }

  it('sends a frame given as parts in the same messages as the whole frame, for every type', () => {
    // Block and store frames go out as a header and the block's own bytes (no frame-sized copy).
    for (const frame of frames) {
      const whole = [...fragments(encodeFrame(frame))];
      const fromParts = [...fragments(encodeFrameParts(frame))];
      expect(fromParts.length).toBe(whole.length);
      fromParts.forEach((message, i) => expect(sameBytes(message, whole[i]!)).toBe(true));
    }
  });

  it('splits into the same messages when each is assembled in one reused buffer', () => {
    const scratch = new Uint8Array(MAX_MESSAGE_BYTES);
    for (const frame of frames) {
      const fresh = [...fragments(encodeFrameParts(frame))];
      // Each message is valid until the next is asked for: copied out as a sender's send() would.
      const reused = Array.from(fragments(encodeFrameParts(frame), scratch), (m) => m.slice());
      expect(reused.length).toBe(fresh.length);
      reused.forEach((message, i) => expect(sameBytes(message, fresh[i]!)).toBe(true));
    }
  });

  it('sends a block frame as parts that do not copy the block', () => {
    const bytes = pseudoRandomBytes(1000, 7);
    const parts = encodeFrameParts({ type: FrameType.Block, id: 3, bytes });
    expect(parts.at(-1)).toBe(bytes);
  });

  it('keeps every message within MAX_MESSAGE_BYTES', () => {
    for (const message of fragments(encodeFrame(frames[5]!)))
      expect(message.length).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
  });

  it('sends the block of a default chunk, served or pushed to a seed, in four messages', () => {
    // A fifth message of a few dozen bytes would cost as much to send and receive as a full one.
    const bytes = pseudoRandomBytes(DEFAULT_CHUNK_SIZE + GCM_TAG_BYTES, 8);
    expect([...fragments(encodeFrameParts({ type: FrameType.Block, id: 0xffffffff, bytes }))]).toHaveLength(4);
    expect([...fragments(encodeFrameParts({ type: FrameType.Store, id: 0xffffffff, upload, bytes }))]).toHaveLength(4);
  });

  const reasonOf = (bytes: Uint8Array) => {
    try {
      decodeFrame(bytes);
    } catch (error) {
      expect(error).toBeInstanceOf(ProtocolError);
      return (error as ProtocolError).reason;
    }
    return 'accepted';
  };

  it("carries a commit's terms, and refuses a commit that asks for too many copies", () => {
    const expiring = decodeFrame(
      encodeFrame({ type: FrameType.Commit, id: 1, upload, root: id, terms: { expiresAt: 1500 } }),
    );
    // Whole seconds on the wire, rounded up: a file never expires before the time asked.
    expect(expiring).toMatchObject({ terms: { expiresAt: 2000 } });
    expect(() => encodeFrame({ type: FrameType.Commit, id: 1, upload, root: id, terms: { copies: 17 } })).toThrow(
      RangeError,
    );
    const greedy = encodeFrame({ type: FrameType.Commit, id: 1, upload, root: id, terms: { copies: 3 } });
    greedy[greedy.length - 5] = 200;
    expect(reasonOf(greedy)).toBe('bad-body');
    const truncated = encodeFrame({ type: FrameType.Commit, id: 1, upload, root: id, terms: { copies: 3 } }).subarray(
      0,
      -1,
    );
    expect(reasonOf(truncated)).toBe('bad-body');
  });

  it('rejects what a hostile peer sends, naming why', () => {
    const V = WIRE_VERSION;
    expect(reasonOf(new Uint8Array([1, 2]))).toBe('short');
    expect(reasonOf(new Uint8Array([V, FrameType.Auth, 0, 0, 0, 0, ...new Uint8Array(63)]))).toBe('bad-body');
    expect(reasonOf(new Uint8Array([9, 2, 0, 0, 0, 1]))).toBe('version');
    expect(reasonOf(new Uint8Array([1, FrameType.Want, 0, 0, 0, 1, ...new Uint8Array(32)]))).toBe('version');
    expect(reasonOf(new Uint8Array([V, 200, 0, 0, 0, 1]))).toBe('unknown-type');
    expect(reasonOf(new Uint8Array([V, FrameType.Want, 0, 0, 0, 1, 1, 2, 3]))).toBe('bad-body');
    expect(reasonOf(new Uint8Array([V, FrameType.NotFound, 0, 0, 0, 1, 0]))).toBe('bad-body');
    expect(reasonOf(new Uint8Array([V, FrameType.Have, 0, 0, 0, 0, ...new Uint8Array(33)]))).toBe('bad-body');
    expect(reasonOf(new Uint8Array([V, FrameType.Refused, 0, 0, 0, 1, 99]))).toBe('bad-body');
    expect(reasonOf(new Uint8Array([V, FrameType.Store, 0, 0, 0, 1, ...upload]))).toBe('bad-body');
    expect(reasonOf(new Uint8Array(MAX_FRAME_BYTES + 1))).toBe('oversized');
    // An audit without its nonce, with a nonce too long, and an answer that is not one digest.
    expect(reasonOf(new Uint8Array([V, FrameType.Audit, 0, 0, 0, 1, ...new Uint8Array(32)]))).toBe('bad-body');
    expect(reasonOf(new Uint8Array([V, FrameType.Audit, 0, 0, 0, 1, ...new Uint8Array(65)]))).toBe('bad-body');
    expect(reasonOf(new Uint8Array([V, FrameType.Audited, 0, 0, 0, 1, ...new Uint8Array(31)]))).toBe('bad-body');
    expect(reasonOf(new Uint8Array([V, FrameType.Audited, 0, 0, 0, 1, ...new Uint8Array(33)]))).toBe('bad-body');
    const bigBlock = new Uint8Array(6 + MAX_BLOCK_BYTES + 1);
    bigBlock.set([V, FrameType.Block]);
    expect(reasonOf(bigBlock)).toBe('bad-body');
  });

  it('will not encode an audit with a nonce or digest of the wrong length', () => {
    expect(() => encodeFrame({ type: FrameType.Audit, id: 1, block: id, nonce: new Uint8Array(31) })).toThrow(
      RangeError,
    );
    expect(() => encodeFrame({ type: FrameType.Audited, id: 1, digest: new Uint8Array(33) })).toThrow(RangeError);
  });

  it('refuses fragments that would grow a frame past the limit, before buffering them', () => {
    const r = new Reassembler();
    const more = new Uint8Array(MAX_MESSAGE_BYTES);
    more[0] = 1;
    expect(() => {
      for (let i = 0; i < 20; i++) r.push(more);
    }).toThrow(/grew past/);
    expect(() => new Reassembler().push(new Uint8Array(0))).toThrow(ProtocolError);
    expect(() => new Reassembler().push(new Uint8Array(MAX_MESSAGE_BYTES + 1))).toThrow(ProtocolError);
    expect(() => new Reassembler().push(new Uint8Array([2, 1]))).toThrow(/fragment flag/);
  });
});

describe('signaling message schemas', () => {
  it('accept the protocol and refuse anything else with the field at fault', () => {
    const peer = ephemeralIdentity().id;
    const sig = 'A'.repeat(86);
    expect(clientMessage.parse({ t: 'hello', v: 2, peer, sig })).toEqual({ t: 'hello', v: 2, peer, sig });
    expect(clientMessage.parse({ t: 'announce', topics: ['seeds', id] }).t).toBe('announce');
    expect(clientMessage.parse({ t: 'announce', topics: ['keepers', 'keepers-persisted'] }).t).toBe('announce');
    expect(() => clientMessage.parse({ t: 'announce', topics: ['keepers-everything'] })).toThrow(SchemaError);
    const bad: [unknown, RegExp][] = [
      [null, /unknown message type/],
      [{ t: 'hello', v: 1, peer, sig }, /v: must be 2/],
      [{ t: 'hello', v: 2, peer: 'abcdefgh', sig }, /peer: length/],
      // 43 characters, but not a canonical encoding of 32 bytes (the last one carries stray bits).
      [{ t: 'hello', v: 2, peer: peer.slice(0, 42) + 'B', sig }, /peer: has an invalid format/],
      [{ t: 'hello', v: 2, peer }, /sig: must be a string/],
      [{ t: 'hello', v: 2, peer, sig, admin: true }, /unknown field "admin"/],
      [{ t: 'announce', topics: [] }, /topics: must have 1\.\.100 items/],
      [{ t: 'announce', topics: Array(101).fill(id) }, /topics: must have/],
      [{ t: 'announce', topics: ['ZZ'.repeat(32)] }, /topics\[0\]: has an invalid format/],
      [{ t: 'lookup', id: -1, topic: id }, /id: must be an integer/],
      [{ t: 'signal', to: peer, data: [] }, /data: must be an object/],
      [{ t: '__proto__' }, /unknown message type/],
    ];
    for (const [input, message] of bad) {
      expect(() => clientMessage.parse(input)).toThrow(SchemaError);
      expect(() => clientMessage.parse(input)).toThrow(message);
    }
  });

  it('ignore fields a newer server adds to its messages, yet refuse them from peers', () => {
    const peer = ephemeralIdentity().id;
    const from = serverMessage.parse({ t: 'holders', id: 1, topic: id, peers: [peer], page: 2 });
    expect(from).toEqual({ t: 'holders', id: 1, topic: id, peers: [peer] });
    // Known fields keep their bounds.
    expect(() => serverMessage.parse({ t: 'holders', id: -1, topic: id, peers: [], page: 2 })).toThrow(/id: must be/);
    // A field named like an Object.prototype member is no known field either.
    expect(() => clientMessage.parse({ t: 'lookup', id: 1, topic: id, constructor: 1 })).toThrow(/unknown field/);
    expect(() => clientMessage.parse({ t: 'lookup', id: 1, topic: id, page: 2 })).toThrow(/unknown field "page"/);
  });

  it('bound a batched lookup and its answer: topics asked, topics answered, peers per topic', () => {
    const peer = ephemeralIdentity().id;
    const topics = Array.from({ length: MAX_TOPICS_PER_LOOKUP }, (_, i) => i.toString(16).padStart(64, '0'));
    expect(clientMessage.parse({ t: 'lookups', id: 1, topics }).t).toBe('lookups');
    expect(() => clientMessage.parse({ t: 'lookups', id: 1, topics: [...topics, id] })).toThrow(
      /topics: must have 1\.\.32/,
    );
    expect(() => clientMessage.parse({ t: 'lookups', id: 1, topics: [] })).toThrow(/topics: must have/);
    const answer = (n: number, peers: string[]) => ({
      t: 'found',
      id: 1,
      holders: Array.from({ length: n }, (_, i) => ({ topic: topics[i % topics.length], peers })),
    });
    expect(serverMessage.parse(answer(MAX_TOPICS_PER_LOOKUP, [peer])).t).toBe('found');
    expect(() => serverMessage.parse(answer(MAX_TOPICS_PER_LOOKUP + 1, [peer]))).toThrow(/holders: must have/);
    expect(() => serverMessage.parse(answer(1, Array(MAX_BATCHED_HOLDERS + 1).fill(peer)))).toThrow(/peers: must have/);
    // The welcome says how many topics a batch may name; a server without batches says nothing.
    const welcome = { t: 'welcome', v: 2, peer, maxTopics: 10 };
    expect(serverMessage.parse({ ...welcome, batch: 32 })).toMatchObject({ batch: 32 });
    expect(serverMessage.parse(welcome)).not.toHaveProperty('batch');
    expect(() => serverMessage.parse({ ...welcome, batch: 33 })).toThrow(/batch/);
  });

  it("take a relayed signal's origin tag only as 16 base64url characters", () => {
    const from = ephemeralIdentity().id;
    const data = { cid: 'abc', sig: { type: 'offer', sdp: 'v=0' } };
    expect(serverMessage.parse({ t: 'signal', from, data, origin: 'AbC-_0123456789x' })).toMatchObject({
      origin: 'AbC-_0123456789x',
    });
    // A server that tags nothing still relays: the field is optional.
    expect(serverMessage.parse({ t: 'signal', from, data })).not.toHaveProperty('origin');
    for (const origin of ['short', 'x'.repeat(17), '127.0.0.1:80/abc', 42]) {
      expect(() => serverMessage.parse({ t: 'signal', from, data, origin })).toThrow(/origin/);
    }
  });
});
