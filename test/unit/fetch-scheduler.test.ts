// The fetch scheduler's choices (src/net/fetch.ts), through BlockFetcher's public API with fake
// holders: how many requests it keeps out (the window), which holder it asks (the one with the most
// free slots), and what it does with a request that timed out or a holder that sent a bad block.
// Real sessions over real data channels are covered by the integration tests; a fake holder shows
// these choices one at a time. (test/unit/fetch.test.ts covers holders that answer not-found.)
import { describe, expect, it } from 'vitest';
import type { BlockId } from '../../src/content/format.js';
import { ProtocolError, TimeoutError } from '../../src/errors.js';
import { BlockFetcher, type FetchSession, type HolderSource } from '../../src/net/fetch.js';
import type { RequestOptions } from '../../src/net/session.js';
import { createMemoryBlockStore } from '../../src/store/memory.js';
import { block } from '../contracts/block-store.js';
import { defaultBackend } from '../../src/content/crypto.js';
import { verifyBlock, type VerifiedBlock } from '../../src/content/verified.js';

const TOPIC = 'cd'.repeat(32);

/** The holder's answer as a session gives it: checked against the id, and marked so. */
async function checked(id: BlockId, bytes: Uint8Array | undefined): Promise<VerifiedBlock | undefined> {
  return bytes && (await verifyBlock(bytes, id, defaultBackend()));
}

/** Requests out at once over every holder of one test. */
class Outstanding {
  now = 0;
  most = 0;
  start(): void {
    this.most = Math.max(this.most, ++this.now);
  }
  end(): void {
    this.now--;
  }
}

/**
 * A holder with `capacity` request slots (free slots shrink while its answers are pending, as a
 * PeerSession's do, and a request with none free waits for one). `others` of them may be held by
 * requests that are not the fetch's (an upload on the same session). `answer` decides each answer;
 * by default the block's bytes.
 */
class Holder implements FetchSession {
  closed = false;
  outstanding = 0;
  others = 0;
  readonly asked: BlockId[] = [];
  private readonly slotWaiters: (() => void)[] = [];
  answer: (id: BlockId, nth: number) => 'bytes' | 'timeout' | 'bad-block' = () => 'bytes';
  private readonly closeListeners = new Set<(value: { error?: Error }) => void>();

  constructor(
    readonly peer: string,
    readonly capacity: number,
    readonly blocks: ReadonlyMap<BlockId, Uint8Array>,
    private readonly count: Outstanding,
  ) {}

  get freeSlots(): number {
    return this.capacity - this.outstanding - this.others;
  }

  /** The requests that are not the fetch's end: their slots free, and nobody tells the fetch. */
  othersDone(): void {
    this.others = 0;
    while (this.freeSlots > 0 && this.slotWaiters.length > 0) this.slotWaiters.shift()!();
  }

  async want(id: BlockId, _options?: RequestOptions): Promise<VerifiedBlock | undefined> {
    while (this.freeSlots <= 0) await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    const nth = this.asked.filter((asked) => asked === id).length;
    this.asked.push(id);
    this.outstanding++;
    this.count.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 2));
      switch (this.answer(id, nth)) {
        case 'timeout':
          throw new TimeoutError(`request to peer ${this.peer}`, 15_000);
        case 'bad-block':
          // What a PeerSession does with bytes that do not hash to the id: it closes and rejects.
          this.close(new ProtocolError('bad-block', `sent bytes that do not hash to block ${id}`, this.peer));
          throw new ProtocolError('bad-block', 'bad block', this.peer);
        case 'bytes':
          return await checked(id, this.blocks.get(id));
      }
    } finally {
      this.outstanding--;
      this.count.end();
      this.slotWaiters.shift()?.();
    }
  }

  on(_event: 'close', listener: (value: { error?: Error }) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  private close(error: Error): void {
    this.closed = true;
    for (const listener of this.closeListeners) listener({ error });
  }
}

/** The signaling server's word: these holders, in this order; connects always work. */
class Holders implements HolderSource {
  readonly connected: string[] = [];
  constructor(private readonly list: Holder[]) {}
  async holders(): Promise<string[]> {
    return this.list.map((h) => h.peer);
  }
  async connect(peer: string): Promise<FetchSession> {
    this.connected.push(peer);
    return this.list.find((h) => h.peer === peer)!;
  }
  on(): () => void {
    return () => undefined;
  }
}

function file(blocks: number) {
  const list = Array.from({ length: blocks }, (_, i) => block(1000, 100 + i));
  return { ids: list.map((b) => b.id), held: new Map(list.map((b) => [b.id, b.bytes])) };
}

/** A fetcher whose holders are all connected before anything is wanted. */
async function fetcherFor(holders: Holder[], window?: number) {
  const swarm = new Holders(holders);
  const store = createMemoryBlockStore();
  const fetcher = new BlockFetcher({ swarm, store, topic: TOPIC, window, noHolderTimeoutMs: 5_000 });
  fetcher.warmUp();
  while (swarm.connected.length < holders.length) await new Promise((resolve) => setTimeout(resolve, 1));
  await new Promise((resolve) => setTimeout(resolve, 1));
  return { fetcher, store };
}

describe('the fetch scheduler', () => {
  it('keeps at most `window` requests out over all holders', async () => {
    const { ids, held } = file(40);
    const count = new Outstanding();
    const holders = [new Holder('a', 8, held, count), new Holder('b', 8, held, count)];
    const { fetcher, store } = await fetcherFor(holders, 5);
    await fetcher.fetchAll(ids);
    expect(count.most).toBe(5);
    for (const id of ids) expect(await store.has(id)).toBe(true);
    fetcher.stop();
  });

  it('asks the holder with the most free slots, not the first one found', async () => {
    const { ids, held } = file(4);
    const count = new Outstanding();
    // The busy holder is found first: a scheduler taking holders in order would ask it.
    const busy = new Holder('busy', 2, held, count);
    const free = new Holder('free', 8, held, count);
    const { fetcher } = await fetcherFor([busy, free], 4);
    await fetcher.fetchAll(ids);
    expect(free.asked).toEqual(ids);
    expect(busy.asked).toEqual([]);
    fetcher.stop();
  });

  it('asks again for a block whose request timed out, and keeps the holder', async () => {
    const { ids, held } = file(6);
    const slow = new Holder('slow', 8, held, new Outstanding());
    const late = ids[2]!;
    slow.answer = (id, nth) => (id === late && nth === 0 ? 'timeout' : 'bytes');
    const { fetcher, store } = await fetcherFor([slow]);
    await fetcher.fetchAll(ids);
    expect(slow.asked.filter((id) => id === late)).toHaveLength(2);
    expect(await store.get(late)).toEqual(held.get(late));
    expect(fetcher.blocksFrom.get('slow')).toBe(ids.length);
    fetcher.stop();
  });

  it('gets a block from a holder whose every slot another transfer held when the get began', async () => {
    const { ids, held } = file(1);
    const shared = new Holder('shared', 2, held, new Outstanding());
    // An upload to the same peer holds every slot; it ends a moment after the get begins, and a
    // session says nothing when its slots free.
    shared.others = 2;
    const { fetcher } = await fetcherFor([shared]);
    const got = fetcher.get(ids[0]!);
    setTimeout(() => shared.othersDone(), 20);
    expect(await got).toEqual(held.get(ids[0]!));
    fetcher.stop();
  });

  it('takes a block a holder sent bad from another holder, and asks the bad one nothing more', async () => {
    const { ids, held } = file(6);
    const count = new Outstanding();
    // The cheat has the most free slots, so it is asked first.
    const cheat = new Holder('cheat', 8, held, count);
    cheat.answer = () => 'bad-block';
    const honest = new Holder('honest', 2, held, count);
    const { fetcher, store } = await fetcherFor([cheat, honest], 1);
    await fetcher.fetchAll(ids);
    expect(cheat.asked).toEqual([ids[0]]);
    expect(fetcher.blocksFrom.get('honest')).toBe(ids.length);
    expect(fetcher.blocksFrom.has('cheat')).toBe(false);
    for (const id of ids) expect(await store.get(id)).toEqual(held.get(id));
    fetcher.stop();
  });
});
