// The durability frames a seed answers (replica-query, lost) and the session methods that send them,
// with what a hostile peer tries: an oversized or malformed report, a report of another file, a lost
// report naming too many roots, a flood of lost reports; and suspect reports (a bad reason, a flood).
import { describe, expect, it } from 'vitest';
import { ClosedError, ProtocolError } from '../../src/errors.js';
import { ephemeralIdentity } from '../../src/net/identity.js';
import { decodeReplicaReport, encodeReplicaReport, type ReplicaReport } from '../../src/net/replica-report.js';
import { LOST_ROOT_BURST, SUSPECT_REPORT_BURST } from '../../src/net/limits.js';
import {
  FrameType,
  LOST_PEER_BYTES,
  MAX_LOST_ROOTS,
  MAX_REPLICA_REPORT_BYTES,
  SUSPECT_REASONS,
  WIRE_VERSION,
  decodeFrame,
  encodeFrame,
} from '../../src/net/wire.js';
import { fromBase64Url } from '../../src/content/bytes.js';
import { openSession } from '../helpers/fake-link.js';

const ROOT = 'ab'.repeat(32);
const OTHER = 'cd'.repeat(32);

const HOLDER_IDS = [ephemeralIdentity().id, ephemeralIdentity().id, ephemeralIdentity().id];

function report(overrides: Partial<ReplicaReport> = {}): ReplicaReport {
  return {
    v: 1,
    root: ROOT,
    target: 3,
    minimum: 2,
    graceMs: 1_800_000,
    live: 2,
    counted: 3,
    atRisk: false,
    byKind: { seed: 2, 'persisted-browser': 0, browser: 0 },
    holders: [
      { peer: HOLDER_IDS[0]!, kind: 'seed', state: 'live', lastSeen: 1_700_000_000_000 },
      { peer: HOLDER_IDS[1]!, kind: 'seed', state: 'live', lastSeen: 1_700_000_000_000 },
      { peer: HOLDER_IDS[2]!, kind: 'browser', state: 'absent', lastSeen: 1_699_999_000_000 },
    ],
    audits: { passed: 4, failed: 0 },
    ...overrides,
  };
}

const reasonOf = (bytes: Uint8Array) => {
  try {
    decodeFrame(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return (error as ProtocolError).reason;
  }
  return 'accepted';
};

describe('replica and lost frames', () => {
  it('round-trip a query, a report, a lost report and its answer', () => {
    const former = fromBase64Url(ephemeralIdentity().id)!;
    const json = encodeReplicaReport(report());
    expect(decodeFrame(encodeFrame({ type: FrameType.ReplicaQuery, id: 3, root: ROOT }))).toEqual({
      type: FrameType.ReplicaQuery,
      id: 3,
      root: ROOT,
    });
    const decoded = decodeFrame(encodeFrame({ type: FrameType.ReplicaReport, id: 4, json }));
    expect(decoded.type === FrameType.ReplicaReport && decodeReplicaReport(decoded.json)).toEqual(report());
    const lost = decodeFrame(encodeFrame({ type: FrameType.Lost, id: 5, former, roots: [ROOT, OTHER] }));
    expect(lost).toMatchObject({ type: FrameType.Lost, id: 5, roots: [ROOT, OTHER] });
    expect(decodeFrame(encodeFrame({ type: FrameType.LostNoted, id: 5 }))).toEqual({
      type: FrameType.LostNoted,
      id: 5,
    });
  });

  it('refuses frames out of bounds: a report over 16 KiB, a lost report with no root or too many', () => {
    const V = WIRE_VERSION;
    const header = (type: number) => [V, type, 0, 0, 0, 1];
    expect(reasonOf(new Uint8Array([...header(FrameType.ReplicaQuery), ...new Uint8Array(31)]))).toBe('bad-body');
    expect(
      reasonOf(new Uint8Array([...header(FrameType.ReplicaReport), ...new Uint8Array(MAX_REPLICA_REPORT_BYTES + 1)])),
    ).toBe('bad-body');
    expect(reasonOf(new Uint8Array([...header(FrameType.Lost), ...new Uint8Array(LOST_PEER_BYTES)]))).toBe('bad-body');
    expect(reasonOf(new Uint8Array([...header(FrameType.Lost), ...new Uint8Array(LOST_PEER_BYTES + 33)]))).toBe(
      'bad-body',
    );
    expect(
      reasonOf(
        new Uint8Array([...header(FrameType.Lost), ...new Uint8Array(LOST_PEER_BYTES + 32 * (MAX_LOST_ROOTS + 1))]),
      ),
    ).toBe('bad-body');
    expect(reasonOf(new Uint8Array([...header(FrameType.LostNoted), 0]))).toBe('bad-body');
    const roots = Array.from({ length: MAX_LOST_ROOTS + 1 }, () => ROOT);
    expect(() => encodeFrame({ type: FrameType.Lost, id: 1, former: new Uint8Array(32), roots })).toThrow(RangeError);
  });

  it('parses a report only within its schema, naming the field at fault', () => {
    const bad = (value: unknown) => () => decodeReplicaReport(new TextEncoder().encode(JSON.stringify(value)));
    expect(bad({ ...report(), target: 17 })).toThrow(/target/);
    expect(bad({ ...report(), atRisk: 'no' })).toThrow(/atRisk/);
    expect(bad({ ...report(), extra: 1 })).toThrow(/unknown field/);
    expect(bad({ ...report(), holders: [{ ...report().holders[0], kind: 'server' }] })).toThrow(/kind/);
    expect(bad({ ...report(), holders: [{ ...report().holders[0], peer: 'nobody' }] })).toThrow(/peer/);
    const many = Array.from({ length: 65 }, () => report().holders[0]);
    expect(bad({ ...report(), holders: many })).toThrow(/holders/);
    expect(() => decodeReplicaReport(new Uint8Array([0xff, 0xfe]))).toThrow(ProtocolError);
  });
});

describe('a session asking for replica reports and sending lost reports', () => {
  it("returns the peer's report, or undefined when it keeps no view of the file", async () => {
    const { session, link } = await openSession();
    const asked = session.queryReplicas(ROOT);
    await expect.poll(() => link.sent.filter((f) => f.type === FrameType.ReplicaQuery).length).toBe(1);
    link.deliver({ type: FrameType.ReplicaReport, id: link.sent.at(-1)!.id, json: encodeReplicaReport(report()) });
    expect(await asked).toEqual(report());
    const unknown = session.queryReplicas(OTHER);
    await expect.poll(() => link.sent.filter((f) => f.type === FrameType.ReplicaQuery).length).toBe(2);
    link.deliver({ type: FrameType.NotFound, id: link.sent.at(-1)!.id });
    expect(await unknown).toBeUndefined();
    session.close();
  });

  it('drops a peer that answers with a report of another file or a malformed one', async () => {
    const { session, link } = await openSession();
    const asked = session.queryReplicas(OTHER);
    await expect.poll(() => link.sent.length).toBe(2);
    link.deliver({ type: FrameType.ReplicaReport, id: link.sent.at(-1)!.id, json: encodeReplicaReport(report()) });
    await expect(asked).rejects.toMatchObject({ reason: 'bad-answer' });
    expect(session.closed).toBe(true);

    const second = await openSession();
    const garbled = second.session.queryReplicas(ROOT);
    await expect.poll(() => second.link.sent.length).toBe(2);
    second.link.deliver({ type: FrameType.ReplicaReport, id: second.link.sent.at(-1)!.id, json: new Uint8Array([1]) });
    await expect(garbled).rejects.toBeInstanceOf(ProtocolError);
    expect(second.session.closed).toBe(true);
  });

  it("answers a query from the host's view, and not-found without one", async () => {
    const asked: string[] = [];
    const { session, link, peer } = await openSession({
      replicaReport: (from, root) => {
        asked.push(from);
        return root === ROOT ? report() : undefined;
      },
    });
    link.deliver({ type: FrameType.ReplicaQuery, id: 7, root: ROOT });
    link.deliver({ type: FrameType.ReplicaQuery, id: 8, root: OTHER });
    await expect.poll(() => link.sent.length).toBe(3);
    const answers = link.sent.slice(1);
    const reportFrame = answers.find((f) => f.id === 7);
    expect(reportFrame?.type === FrameType.ReplicaReport && decodeReplicaReport(reportFrame.json)).toEqual(report());
    expect(answers.find((f) => f.id === 8)?.type).toBe(FrameType.NotFound);
    expect(asked).toEqual([peer.id, peer.id]);
    session.close();
  });

  it('passes a lost report to the host with the former id, and notes it even with no host hook', async () => {
    const former = ephemeralIdentity().id;
    const heard: unknown[] = [];
    const { session, link, peer } = await openSession({
      receiveLost: (from, id, roots) => heard.push({ from, id, roots }),
    });
    const sent = session.reportLost(former, [ROOT]);
    await expect.poll(() => link.sent.length).toBe(2);
    const lost = link.sent[1]!;
    expect(lost).toMatchObject({ type: FrameType.Lost, roots: [ROOT] });
    link.deliver({ type: FrameType.LostNoted, id: lost.id });
    await sent;

    link.deliver({ type: FrameType.Lost, id: 9, former: fromBase64Url(former)!, roots: [ROOT, OTHER] });
    await expect.poll(() => link.sent.length).toBe(3);
    expect(link.sent[2]).toEqual({ type: FrameType.LostNoted, id: 9 });
    expect(heard).toEqual([{ from: peer.id, id: former, roots: [ROOT, OTHER] }]);
    session.close();

    const bare = await openSession();
    bare.link.deliver({ type: FrameType.Lost, id: 2, former: fromBase64Url(former)!, roots: [ROOT] });
    await expect.poll(() => bare.link.sent.length).toBe(2);
    expect(bare.link.sent[1]).toEqual({ type: FrameType.LostNoted, id: 2 });
    bare.session.close();
  });

  it('drops a peer that floods lost reports past the rate limit, passing on no more than the burst', async () => {
    let heard = 0;
    const { session, link } = await openSession({ receiveLost: (_from, _id, roots) => (heard += roots.length) });
    const former = fromBase64Url(ephemeralIdentity().id)!;
    const roots = Array.from({ length: MAX_LOST_ROOTS }, (_, i) => i.toString(16).padStart(64, '0'));
    const frames = Math.ceil(LOST_ROOT_BURST / MAX_LOST_ROOTS) + 4;
    for (let i = 0; i < frames && !session.closed; i++)
      link.deliver({ type: FrameType.Lost, id: i + 1, former, roots });
    expect(session.closed).toBe(true);
    expect(link.sent.some((f) => f.type === FrameType.Error && f.reason === 'flood')).toBe(true);
    await expect.poll(() => heard).toBeLessThanOrEqual(LOST_ROOT_BURST);
    await expect(session.queryReplicas(ROOT)).rejects.toBeInstanceOf(ClosedError);
  });
});

describe('suspect reports (a page whose audit failed a holder tells a seed)', () => {
  it('round-trip, and refuse a wrong length or an unknown reason', () => {
    const holder = fromBase64Url(ephemeralIdentity().id)!;
    const frame = { type: FrameType.Suspect, id: 3, root: ROOT, holder, reason: 'wrong-digest' } as const;
    expect(decodeFrame(encodeFrame(frame))).toEqual(frame);
    expect(decodeFrame(encodeFrame({ type: FrameType.SuspectNoted, id: 3 }))).toEqual({
      type: FrameType.SuspectNoted,
      id: 3,
    });
    const bytes = encodeFrame(frame);
    expect(() => decodeFrame(bytes.subarray(0, bytes.length - 1))).toThrow(ProtocolError);
    const unknown = bytes.slice();
    unknown[unknown.length - 1] = SUSPECT_REASONS.length;
    expect(() => decodeFrame(unknown)).toThrow(/unknown suspect reason/);
  });

  it('pass a report to the host as a claim only, and note it even with no host hook', async () => {
    const suspect = ephemeralIdentity().id;
    const heard: unknown[] = [];
    const { session, link, peer } = await openSession({
      receiveSuspect: (from, root, holder, reason) => heard.push({ from, root, holder, reason }),
    });
    const sent = session.reportSuspect(ROOT, suspect, 'not-found');
    await expect.poll(() => link.sent.length).toBe(2);
    const out = link.sent[1]!;
    expect(out).toMatchObject({ type: FrameType.Suspect, root: ROOT, reason: 'not-found' });
    link.deliver({ type: FrameType.SuspectNoted, id: out.id });
    await sent;

    link.deliver({ type: FrameType.Suspect, id: 9, root: OTHER, holder: fromBase64Url(suspect)!, reason: 'deadline' });
    await expect.poll(() => link.sent.length).toBe(3);
    expect(link.sent[2]).toEqual({ type: FrameType.SuspectNoted, id: 9 });
    expect(heard).toEqual([{ from: peer.id, root: OTHER, holder: suspect, reason: 'deadline' }]);
    session.close();
  });

  it('drop a peer that floods suspect reports past the rate limit, passing on no more than the burst', async () => {
    let heard = 0;
    const { session, link } = await openSession({ receiveSuspect: () => heard++ });
    const holder = fromBase64Url(ephemeralIdentity().id)!;
    for (let i = 0; i < SUSPECT_REPORT_BURST + 8 && !session.closed; i++)
      link.deliver({ type: FrameType.Suspect, id: i + 1, root: ROOT, holder, reason: 'other' });
    expect(session.closed).toBe(true);
    expect(link.sent.some((f) => f.type === FrameType.Error && f.reason === 'flood')).toBe(true);
    await expect.poll(() => heard).toBeLessThanOrEqual(SUSPECT_REPORT_BURST);
  });
});
