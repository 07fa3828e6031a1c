// A session's requests and the abort convention (src/net/session.ts), over a fake link that records
// every frame: the other end is played by the test, which proves its id the way a real peer does.
import { describe, expect, it } from 'vitest';
import { AbortError } from '../../src/errors.js';
import { FrameType } from '../../src/net/wire.js';
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
