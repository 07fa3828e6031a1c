// The fetch scheduler alone (src/net/fetch-scheduler.ts), with fake holders it is handed directly
// (no pool, no swarm) and a memory store: how many requests it keeps out over all holders, the
// order it asks in (a block someone waits for, then a prioritized range, then the rest), what it
// does with a request that timed out, a bad block or a not-found, and how a reader's position
// bounds and reorders what it asks for. Every holder answers only when the test says, so each
// assertion sees exactly what was asked and when.
import { describe, expect, it, vi } from 'vitest';
import type { BlockId } from '../../src/content/format.js';
import { ProtocolError, QuotaError, TimeoutError } from '../../src/errors.js';
import { FetchScheduler, type FetchProgress } from '../../src/net/fetch-scheduler.js';
import type { FetchSession, Holders } from '../../src/net/holder-pool.js';
import { HANDOFF_BLOCKS } from '../../src/net/limits.js';
import { createMemoryBlockStore } from '../../src/store/memory.js';
import type { BlockStore } from '../../src/store/block-store.js';
import { block } from '../contracts/block-store.js';
import { defaultBackend } from '../../src/content/crypto.js';
import { verifyBlock, type VerifiedBlock } from '../../src/content/verified.js';

/** Waits for `check` to pass (polling every millisecond: the fakes answer at once). */
const until = (check: () => unknown) => vi.waitFor(check, { interval: 1, timeout: 2_000 });

/** The holder's answer as a session gives it: checked against the id, and marked so. */
async function checked(id: BlockId, bytes: Uint8Array | undefined): Promise<VerifiedBlock | undefined> {
  return bytes && (await verifyBlock(bytes, id, defaultBackend()));
}

type Answer = 'bytes' | 'timeout' | 'bad-block' | 'not-found';

/** A holder with `capacity` slots that answers each want when the test calls `answer`. */
class GatedHolder implements FetchSession {
  closed = false;
  readonly asked: BlockId[] = [];
  private readonly pending: { id: BlockId; settle: (how: Answer) => void }[] = [];
  private readonly closeListeners = new Set<(value: { error?: Error }) => void>();

  constructor(
    readonly peer: string,
    readonly capacity: number,
    private readonly blocks: ReadonlyMap<BlockId, Uint8Array>,
  ) {}

  get freeSlots(): number {
    return this.capacity - this.pending.length;
  }

  /** Ids asked for and not answered yet. */
  get waiting(): BlockId[] {
    return this.pending.map((p) => p.id);
  }

  want(id: BlockId): Promise<VerifiedBlock | undefined> {
    this.asked.push(id);
    return new Promise((resolve, reject) => {
      this.pending.push({
        id,
        settle: (how) => {
          if (how === 'bytes') resolve(checked(id, this.blocks.get(id)));
          else if (how === 'not-found') resolve(undefined);
          else if (how === 'timeout') reject(new TimeoutError(`request to peer ${this.peer}`, 15_000));
          else {
            // What a PeerSession does with bytes that do not hash to the id: it closes and rejects.
            const error = new ProtocolError('bad-block', `sent bytes that do not hash to ${id}`, this.peer);
            this.closed = true;
            for (const listener of this.closeListeners) listener({ error });
            reject(error);
          }
        },
      });
    });
  }

  /** Answers the oldest pending want (or the one for `id`). */
  answer(how: Answer = 'bytes', id?: BlockId): void {
    const at = id === undefined ? 0 : this.pending.findIndex((p) => p.id === id);
    if (at < 0 || at >= this.pending.length) throw new Error(`nothing pending${id ? ` for ${id}` : ''}`);
    const [entry] = this.pending.splice(at, 1);
    entry!.settle(how);
  }

  on(_event: 'close', listener: (value: { error?: Error }) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }
}

/** The pool's side, faked: a fixed list of holders; one that lacked a block is dropped from it. */
class FakeHolders implements Holders {
  readonly lacked: { peer: string; id: BlockId }[] = [];
  constructor(private readonly list: GatedHolder[]) {}
  get size(): number {
    return this.list.length;
  }
  sessions(): Iterable<FetchSession> {
    return this.list;
  }
  needed(): void {}
  lacks(session: FetchSession, id: BlockId): void {
    this.lacked.push({ peer: session.peer, id });
    this.list.splice(this.list.indexOf(session as GatedHolder), 1);
  }
}

function file(count: number) {
  const list = Array.from({ length: count }, (_, i) => block(500, 300 + i));
  return { ids: list.map((b) => b.id), held: new Map(list.map((b) => [b.id, b.bytes])) };
}

function scheduler(holders: GatedHolder[], options: { window?: number; store?: BlockStore } = {}) {
  const fake = new FakeHolders(holders);
  const fatal: Error[] = [];
  const progress: FetchProgress[] = [];
  const store = options.store ?? createMemoryBlockStore();
  const s = new FetchScheduler({
    holders: fake,
    store,
    window: options.window,
    onFatal: (error) => fatal.push(error),
    onProgress: (p) => progress.push(p),
  });
  return { s, fake, store, fatal, progress };
}

/** Waits until `holder` has a want pending, then answers it with the block; repeats until `done`. */
async function serveUntil(done: Promise<unknown>, ...holders: GatedHolder[]): Promise<void> {
  let finished = false;
  done.finally(() => (finished = true)).catch(() => undefined); // `await done` below meets a failure
  while (!finished) {
    await until(() => expect(finished || holders.some((h) => h.waiting.length > 0)).toBe(true));
    for (const h of holders) if (h.waiting.length > 0) h.answer();
    await Promise.resolve();
  }
  await done;
}

/** Answers `n` wants, one at a time, each as soon as it is asked. */
async function serve(holder: GatedHolder, n: number): Promise<void> {
  for (let k = 0; k < n; k++) {
    await until(() => expect(holder.waiting.length).toBeGreaterThan(0));
    holder.answer();
  }
}

/**
 * A few turns of the event loop, for asserting that nothing more is asked for: there is no event
 * to wait for when the behaviour is that nothing happens.
 */
async function idle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

const outstanding = (holders: GatedHolder[]) => holders.reduce((n, h) => n + h.waiting.length, 0);

describe('FetchScheduler: the window', () => {
  it('keeps at most `window` requests out over all holders together, drawing on each', async () => {
    const { ids, held } = file(20);
    const holders = [new GatedHolder('a', 4, held), new GatedHolder('b', 4, held), new GatedHolder('c', 4, held)];
    const { s } = scheduler(holders, { window: 5 });
    const all = s.fetchAll(ids);
    await until(() => expect(outstanding(holders)).toBe(5));
    // Every holder has room for more; the window alone holds the sixth back.
    expect(holders.map((h) => h.waiting.length)).toEqual([2, 2, 1]);
    holders[0]!.answer();
    await until(() => expect(holders[0]!.asked).toHaveLength(3));
    expect(outstanding(holders)).toBe(5);
    let most = 0;
    let finished = false;
    all.finally(() => (finished = true)).catch(() => undefined); // `await all` below meets a failure
    while (!finished) {
      most = Math.max(most, outstanding(holders));
      const busy = holders.find((h) => h.waiting.length > 0);
      if (busy) busy.answer();
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await all;
    expect(most).toBe(5);
    expect(holders.reduce((n, h) => n + h.asked.length, 0)).toBe(ids.length);
  });
});

describe('FetchScheduler: whom it asks', () => {
  it('asks the holder with the most free slots, not the first one found', async () => {
    const { ids, held } = file(3);
    const busy = new GatedHolder('busy', 2, held);
    const free = new GatedHolder('free', 8, held);
    const { s } = scheduler([busy, free], { window: 3 });
    const all = s.fetchAll(ids);
    await until(() => expect(free.waiting).toEqual(ids));
    expect(busy.asked).toEqual([]);
    await serveUntil(all, free);
  });

  it('asks no holder that is closed or has no free slot', async () => {
    const { ids, held } = file(2);
    const full = new GatedHolder('full', 0, held);
    const gone = new GatedHolder('gone', 8, held);
    gone.closed = true;
    const open = new GatedHolder('open', 1, held);
    const { s } = scheduler([full, gone, open], { window: 2 });
    const all = s.fetchAll(ids);
    await serveUntil(all, open);
    expect(open.asked).toEqual(ids);
    expect([...full.asked, ...gone.asked]).toEqual([]);
  });
});

describe('FetchScheduler: priorities', () => {
  it('asks for a prioritized range next, behind a block a reader waits for, then the rest in order', async () => {
    const { ids, held } = file(12);
    const holder = new GatedHolder('h', 1, held);
    const { s } = scheduler([holder], { window: 1 });
    const all = s.fetchAll(ids);
    await until(() => expect(holder.asked).toEqual([ids[0]]));
    const waited = s.get(ids[11]!);
    await idle(); // the get looks in the store first, then queues its block
    s.prioritizeFrom(6, 3);
    await serveUntil(all, holder);
    await waited;
    expect(holder.asked).toEqual([ids[0], ids[11], ids[6], ids[7], ids[8], ...ids.slice(1, 6), ids[9], ids[10]]);
  });

  it('leaves the order alone for positions nothing is queued at', async () => {
    const { ids, held } = file(4);
    const holder = new GatedHolder('h', 1, held);
    const { s } = scheduler([holder], { window: 1 });
    const all = s.fetchAll(ids);
    await until(() => expect(holder.asked).toHaveLength(1));
    s.prioritizeFrom(0, 1); // in flight already
    s.prioritizeFrom(10, 5); // past the end
    await serveUntil(all, holder);
    expect(holder.asked).toEqual(ids);
  });
});

describe('FetchScheduler: asking again', () => {
  it('asks again for a block whose request timed out, and gives the waiting reader its bytes', async () => {
    const { ids, held } = file(3);
    const holder = new GatedHolder('h', 4, held);
    const { s, store } = scheduler([holder], { window: 4 });
    const waited = s.get(ids[1]!);
    await until(() => expect(holder.waiting).toEqual([ids[1]]));
    holder.answer('timeout');
    await until(() => expect(holder.waiting).toEqual([ids[1]]));
    holder.answer();
    expect(await waited).toEqual(held.get(ids[1]!));
    expect(holder.asked).toEqual([ids[1], ids[1]]);
    await until(async () => expect(await store.has(ids[1]!)).toBe(true));
  });

  it('takes a block a holder sent bad from another holder, and asks the bad one nothing more', async () => {
    const { ids, held } = file(4);
    const cheat = new GatedHolder('cheat', 8, held);
    const honest = new GatedHolder('honest', 8, held);
    const { s, store } = scheduler([cheat, honest], { window: 1 });
    const all = s.fetchAll(ids);
    await until(() => expect(cheat.waiting).toEqual([ids[0]]));
    cheat.answer('bad-block');
    await serveUntil(all, honest);
    expect(cheat.asked).toEqual([ids[0]]);
    expect(honest.asked).toEqual(ids);
    expect(s.blocksFrom.get('honest')).toBe(ids.length);
    for (const id of ids) expect(await store.get(id)).toEqual(held.get(id));
  });

  it('tells the pool of a holder that lacked a block, and asks another holder for it', async () => {
    const { ids, held } = file(3);
    const liar = new GatedHolder('liar', 8, new Map());
    const honest = new GatedHolder('honest', 8, held);
    const { s, fake } = scheduler([liar, honest], { window: 1 });
    const all = s.fetchAll(ids);
    await until(() => expect(liar.waiting).toEqual([ids[0]]));
    liar.answer('not-found');
    await serveUntil(all, honest);
    expect(fake.lacked).toEqual([{ peer: 'liar', id: ids[0] }]);
    expect(honest.asked).toEqual(ids);
  });
});

describe('FetchScheduler: the read position', () => {
  it('asks no further than `ahead` past the reader, and follows it as it reads on', async () => {
    const { ids, held } = file(12);
    const holder = new GatedHolder('h', 1, held);
    const { s } = scheduler([holder], { window: 1 });
    const reader = s.cursor(3, 100);
    reader.at(0);
    const all = s.fetchAll(ids);
    await serve(holder, 4);
    await idle();
    expect(holder.asked).toEqual(ids.slice(0, 4));
    reader.at(2);
    await serve(holder, 2);
    await idle();
    expect(holder.asked).toEqual(ids.slice(0, 6));
    reader.at(9);
    await serveUntil(all, holder);
    expect(holder.asked).toEqual(ids);
  });

  it('moves to where a reader seeks: that span first, then what lies before it, and no further', async () => {
    const { ids, held } = file(20);
    const holder = new GatedHolder('h', 1, held);
    const { s } = scheduler([holder], { window: 1 });
    const reader = s.cursor(3, 4);
    const all = s.fetchAll(ids);
    reader.at(0);
    await until(() => expect(holder.asked).toEqual([ids[0]]));
    reader.at(12);
    await serve(holder, 16);
    await idle();
    // The span the reader is in (12..15) first, then 1..11 (within 3 past it), and 16 not yet.
    expect(holder.asked).toEqual([ids[0], ...ids.slice(12, 16), ...ids.slice(1, 12)]);
    reader.at(16);
    await serveUntil(all, holder);
    expect(holder.asked.slice(16)).toEqual(ids.slice(16));
  });
});

describe('FetchScheduler: storing and progress', () => {
  it('hands a waiting reader a block as it arrives, and counts it once its (lazy) put has ended', async () => {
    const { ids, held } = file(2);
    const holder = new GatedHolder('h', 4, held);
    // A store whose writes end when the test says: what a store that groups its writes looks like.
    const store = createMemoryBlockStore();
    const put = store.put.bind(store);
    const writes: { id: BlockId; lazy?: boolean; end: () => void }[] = [];
    store.put = (id, bytes, options) =>
      new Promise<void>((resolve, reject) => {
        const end = () => {
          put(id, bytes, options).then(resolve, reject);
        };
        writes.push({ id, lazy: options?.lazy, end });
      });
    const { s, progress } = scheduler([holder], { store });
    const all = s.fetchAll(ids);
    await until(() => expect(holder.waiting).toHaveLength(2));
    holder.answer('bytes', ids[1]);
    // The reader has it while its write is still on its way, and so does a reader that asks later.
    expect(await s.get(ids[1]!)).toEqual(held.get(ids[1]!));
    expect(await s.get(ids[1]!)).toEqual(held.get(ids[1]!));
    expect(writes.map((w) => ({ id: w.id, lazy: w.lazy }))).toEqual([{ id: ids[1], lazy: true }]);
    expect(progress.at(-1)?.blocksDone).toBe(0);
    writes[0]!.end();
    await until(() => expect(progress.at(-1)?.blocksDone).toBe(1));
    holder.answer();
    await until(() => expect(writes).toHaveLength(2));
    writes[1]!.end();
    await all;
    expect(progress.at(-1)).toEqual({ blocksDone: 2, blocksTotal: 2, bytesFetched: 1000, sources: 1 });
    for (const id of ids) expect(await store.get(id)).toEqual(held.get(id));
  });

  it('stops the fetch when the store refuses a block for lack of room', async () => {
    const { ids, held } = file(2);
    const holder = new GatedHolder('h', 4, held);
    const full = createMemoryBlockStore();
    full.put = () => Promise.reject(new QuotaError(500, 1000, 'the store is full'));
    const { s, fatal } = scheduler([holder], { store: full });
    void s.fetchAll(ids).catch(() => undefined);
    await until(() => expect(holder.waiting).toHaveLength(2));
    holder.answer();
    await until(() => expect(fatal).toHaveLength(1));
    expect(fatal[0]).toBeInstanceOf(QuotaError);
  });
});

describe('FetchScheduler: handing fetched blocks to the reader', () => {
  it('hands the reader the very bytes it fetched ahead, reading none of them back from the store', async () => {
    // More blocks than it keeps, all fetched before the reader starts: the ones it keeps are the
    // ones the reader needs first, not the last ones fetched.
    const { ids, held } = file(HANDOFF_BLOCKS + 8);
    const holder = new GatedHolder('h', ids.length, held);
    const { s, store } = scheduler([holder], { window: ids.length });
    s.setReadPosition(0, ids.length);
    await serveUntil(s.fetchAll(ids), holder);
    const reads = vi.spyOn(store, 'get');
    for (const id of ids.slice(0, HANDOFF_BLOCKS)) expect(await s.get(id)).toBe(held.get(id));
    expect(reads).not.toHaveBeenCalled();
  });

  it('lets go of a block once the reader took it: a second read of it goes to the store', async () => {
    const { ids, held } = file(2);
    const holder = new GatedHolder('h', 2, held);
    const { s, store } = scheduler([holder]);
    s.setReadPosition(0, 2);
    await serveUntil(s.fetchAll(ids), holder);
    const reads = vi.spyOn(store, 'get');
    await s.get(ids[0]!);
    expect(reads).not.toHaveBeenCalled();
    expect(await s.get(ids[0]!)).toEqual(held.get(ids[0]!));
    expect(reads).toHaveBeenCalledTimes(1);
  });
});
