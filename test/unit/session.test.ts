// A session's requests and the abort convention (src/net/session.ts), over a fake link that records
// every frame: the other end is played by the test, which proves its id the way a real peer does.
import { describe, expect, it } from 'vitest';
import { AbortError, ProtocolError } from '../../src/errors.js';
import { toHex } from '../../src/content/bytes.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { auditDigest, checkAnswer } from '../../src/replication/audit.js';
import { MAX_QUEUED_REQUESTS } from '../../src/net/limits.js';
import type { BlockStore } from '../../src/store/block-store.js';
import { FrameType, type Frame } from '../../src/net/wire.js';
import { createMemoryBlockStore } from '../../src/store/memory.js';
import { openSession, type FakeLink } from '../helpers/fake-link.js';

const BLOCK = 'cd'.repeat(32);

const wants = (link: FakeLink) => link.sent.filter((f) => f.type === FrameType.Want);

describe('a session request and its AbortSignal', () => {
  it('is never sent when its signal is already aborted, and rejects with AbortError', async () => {
    const { session, link } = await openSession();
    const controller = new AbortController();
    controller.abort(new Error('the reader went away'));
    const asked = session.want(BLOCK, { signal: controller.signal, timeoutMs: 500 });
    await expect(asked).rejects.toBeInstanceOf(AbortError);
    await expect(asked).rejects.toMatchObject({ cause: controller.signal.reason });
    expect(wants(link)).toEqual([]);
    session.close();
  });

  it('rejects with AbortError (the reason as its cause) when aborted while waiting for the answer', async () => {
    const { session, link } = await openSession();
    const controller = new AbortController();
    const asked = session.want(BLOCK, { signal: controller.signal });
    await expect.poll(() => wants(link).length).toBe(1);
    const reason = new Error('the reader went away');
    controller.abort(reason);
    await expect(asked).rejects.toBeInstanceOf(AbortError);
    await expect(asked).rejects.toMatchObject({ cause: reason });
    session.close();
  });

  it('resolves with undefined when the peer answers not-found', async () => {
    const { session, link } = await openSession();
    const asked = session.want(BLOCK);
    await expect.poll(() => wants(link).length).toBe(1);
    link.deliver({ type: FrameType.NotFound, id: wants(link)[0]!.id });
    expect(await asked).toBeUndefined();
    session.close();
  });
});

describe('audits', () => {
  const nonce = new Uint8Array(32).fill(7);

  it('are answered from the store with the digest of the nonce and the block, or not-found', async () => {
    const store = createMemoryBlockStore();
    const bytes = new TextEncoder().encode('a block the peer asks us to prove we hold');
    const id = toHex(sha256(bytes));
    await store.put(id, bytes);
    const { session, link } = await openSession({ store });
    link.deliver({ type: FrameType.Audit, id: 5, block: id, nonce });
    link.deliver({ type: FrameType.Audit, id: 6, block: BLOCK, nonce });
    await expect.poll(() => link.sent.filter((f) => f.id === 5 || f.id === 6).length).toBe(2);
    const audited = link.sent.find((f) => f.id === 5);
    expect(audited?.type).toBe(FrameType.Audited);
    const digest = (audited as Extract<Frame, { type: FrameType.Audited }>).digest;
    expect(checkAnswer({ expected: auditDigest(nonce, bytes) }, digest)).toBe(true);
    expect(link.sent.find((f) => f.id === 6)?.type).toBe(FrameType.NotFound);
    session.close();
  });

  it("resolve with the peer's digest, or undefined when it says it does not hold the block", async () => {
    const { session, link } = await openSession();
    const audits = () => link.sent.filter((f) => f.type === FrameType.Audit);
    const first = session.audit(BLOCK, nonce);
    await expect.poll(() => audits().length).toBe(1);
    const digest = new Uint8Array(32).fill(9);
    link.deliver({ type: FrameType.Audited, id: audits()[0]!.id, digest });
    expect(await first).toEqual(digest);
    const second = session.audit(BLOCK, nonce);
    await expect.poll(() => audits().length).toBe(2);
    link.deliver({ type: FrameType.NotFound, id: audits()[1]!.id });
    expect(await second).toBeUndefined();
    session.close();
  });

  it('cut off a peer that floods them, as a flood of wants is', async () => {
    // The hostile peer sends audits without waiting for answers, over a store that never answers,
    // so every one of them queues: the queue's bound closes the session instead of growing.
    const stalled: BlockStore = { ...createMemoryBlockStore(), get: () => new Promise(() => undefined) };
    const { session, link } = await openSession({ store: stalled });
    let closedBy: Error | undefined;
    session.on('close', ({ error }) => (closedBy = error));
    for (let i = 1; i <= MAX_QUEUED_REQUESTS + 10; i++)
      link.deliver({ type: FrameType.Audit, id: i, block: BLOCK, nonce });
    expect(session.closed).toBe(true);
    expect(closedBy).toBeInstanceOf(ProtocolError);
    expect((closedBy as ProtocolError).reason).toBe('flood');
  });
});
