// A reader's position moves blocks to the front of the fetch queue (BlockFetcher.prioritize): after
// a seek, the blocks the player needs next are asked for before the rest of the file, and a block a
// get() waits for stays ahead of them all; the read position bounds how far ahead the fetch goes. Fake swarm and session; one request at a time, so the
// order of asks is the queue's order.
import { describe, expect, it, vi } from 'vitest';
import type { BlockId } from '../../src/content/format.js';
import { BlockFetcher, type FetchSession, type HolderSource } from '../../src/net/fetch.js';
import { createMemoryBlockStore } from '../../src/store/memory.js';
import { block } from '../contracts/block-store.js';
import { defaultBackend } from '../../src/content/crypto.js';
import { verifyBlock, type VerifiedBlock } from '../../src/content/verified.js';

const TOPIC = 'cd'.repeat(32);

/** Lets every want through, one at a time, until the fetch is done. */
async function drain(session: GatedSession, fetch: Promise<void>): Promise<void> {
  let done = false;
  fetch.then(
    () => (done = true),
    () => (done = true),
  );
  while (!done) {
    session.release();
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await fetch;
}

/** The holder's answer as a session gives it: checked against the id, and marked so. */
async function checked(id: BlockId, bytes: Uint8Array | undefined): Promise<VerifiedBlock | undefined> {
  return bytes && (await verifyBlock(bytes, id, defaultBackend()));
}

/** A holder that answers each want only when the test lets it (`release`). */
class GatedSession implements FetchSession {
  readonly peer = 'holder';
  readonly closed = false;
  readonly freeSlots = 1;
  readonly asked: BlockId[] = [];
  private gates: Array<() => void> = [];

  constructor(private readonly blocks: Map<BlockId, Uint8Array>) {}

  async want(id: BlockId): Promise<VerifiedBlock | undefined> {
    this.asked.push(id);
    await new Promise<void>((resolve) => this.gates.push(resolve));
    return checked(id, this.blocks.get(id));
  }

  release(): void {
    for (const open of this.gates.splice(0)) open();
  }

  on(): () => void {
    return () => undefined;
  }
}

function swarmOf(session: FetchSession): HolderSource {
  return {
    holders: async () => [session.peer],
    connect: async () => session,
    on: () => () => undefined,
  };
}

async function fileOf(count: number) {
  const blocks = new Map<BlockId, Uint8Array>();
  const ids: BlockId[] = [];
  for (let i = 0; i < count; i++) {
    const { id, bytes } = block(64, i + 1);
    blocks.set(id, bytes);
    ids.push(id);
  }
  return { blocks, ids };
}

describe('BlockFetcher.prioritize', () => {
  it('asks for the prioritized blocks next, then the rest in order', async () => {
    const { blocks, ids } = await fileOf(12);
    const session = new GatedSession(blocks);
    const fetcher = new BlockFetcher({
      swarm: swarmOf(session),
      store: createMemoryBlockStore(),
      topic: TOPIC,
      window: 1,
    });
    const all = fetcher.fetchAll(ids);
    await vi.waitFor(() => expect(session.asked).toHaveLength(1));
    fetcher.prioritize([ids[8]!, ids[9]!]);
    await drain(session, all);
    expect(session.asked).toEqual([ids[0], ids[8], ids[9], ...ids.slice(1, 8), ...ids.slice(10)]);
    fetcher.stop();
  });

  it('keeps a block a reader waits for ahead of the prioritized ones', async () => {
    const { blocks, ids } = await fileOf(8);
    const session = new GatedSession(blocks);
    const fetcher = new BlockFetcher({
      swarm: swarmOf(session),
      store: createMemoryBlockStore(),
      topic: TOPIC,
      window: 1,
    });
    const all = fetcher.fetchAll(ids);
    await vi.waitFor(() => expect(session.asked).toHaveLength(1));
    const waited = fetcher.get(ids[7]!);
    fetcher.prioritize([ids[4]!, ids[5]!]);
    session.release();
    await vi.waitFor(() => expect(session.asked).toHaveLength(2));
    expect(session.asked[1]).toBe(ids[7]);
    session.release();
    await waited;
    await vi.waitFor(() => expect(session.asked).toHaveLength(3));
    expect(session.asked[2]).toBe(ids[4]);
    await drain(session, all);
    fetcher.stop();
  });

  it('leaves alone ids it was not asked for', async () => {
    const { blocks, ids } = await fileOf(4);
    const session = new GatedSession(blocks);
    const fetcher = new BlockFetcher({
      swarm: swarmOf(session),
      store: createMemoryBlockStore(),
      topic: TOPIC,
      window: 1,
    });
    const stranger = block(64, 99).id;
    const all = fetcher.fetchAll(ids);
    await vi.waitFor(() => expect(session.asked).toHaveLength(1));
    fetcher.prioritize([stranger, ids[3]!]);
    await drain(session, all);
    expect(session.asked).toEqual([ids[0], ids[3], ids[1], ids[2]]);
    fetcher.stop();
  });

  it('fetches no further ahead of the read position than asked, and on as the reader moves', async () => {
    const { blocks, ids } = await fileOf(10);
    const session = new GatedSession(blocks);
    const store = createMemoryBlockStore();
    const fetcher = new BlockFetcher({ swarm: swarmOf(session), store, topic: TOPIC, window: 1 });
    fetcher.setReadPosition(0, 3);
    const all = fetcher.fetchAll(ids);
    // Everything asked for is let through until the block at the limit is stored.
    while (!(await store.has(ids[3]!))) {
      session.release();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
    expect(session.asked).toEqual(ids.slice(0, 4));
    fetcher.setReadPosition(6, 3);
    await drain(session, all);
    expect(session.asked).toEqual(ids);
    fetcher.stop();
  });
});
