// The holder pool alone (src/net/holder-pool.ts), with a fake HolderSource in place of the swarm and
// fake timers: whom it connects to, when it looks up again (a holder that lacked a block, no holder
// yet, a holder that closed, too few holders), and when and how it gives up. What the hostile side
// tries: announce the file from ids that hold nothing, so the fetch spends its lookups on them.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BlockId } from '../../src/content/format.js';
import type { VerifiedBlock } from '../../src/content/verified.js';
import { BlockMissingError, NoHolderError, PeerUnreachableError, TimeoutError } from '../../src/errors.js';
import { HolderPool, type FetchSession, type HolderSource } from '../../src/net/holder-pool.js';
import {
  LOOKUP_RETRY_MS,
  MAX_HOLDERS_TRIED,
  MAX_SOURCES,
  MORE_SOURCES_EVERY_MS,
  REPLACE_LOOKUP_MS,
} from '../../src/net/limits.js';

const TOPIC = 'ef'.repeat(32);
const BLOCK = '12'.repeat(32);

class FakeSession implements FetchSession {
  closed = false;
  private readonly closeListeners = new Set<(value: { error?: Error }) => void>();
  constructor(
    readonly peer: string,
    readonly freeSlots = 8,
  ) {}
  want(): Promise<VerifiedBlock | undefined> {
    throw new Error('the pool never asks for blocks');
  }
  on(_event: 'close', listener: (value: { error?: Error }) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }
  close(): void {
    this.closed = true;
    for (const listener of this.closeListeners) listener({});
  }
}

/** The swarm's side: lookups name `named`; connects reach every peer but the `unreachable`. */
class FakeSource implements HolderSource {
  named: string[] = [];
  lookups = 0;
  readonly connects: string[] = [];
  readonly unreachable = new Set<string>();
  readonly sessions = new Map<string, FakeSession>();
  private readonly haveListeners = new Set<(value: { session: FetchSession; topics: BlockId[] }) => void>();
  constructor(readonly hasRelay = false) {}

  holders(): Promise<string[]> {
    this.lookups++;
    return Promise.resolve([...this.named]);
  }
  connect(peer: string): Promise<FetchSession> {
    this.connects.push(peer);
    if (this.unreachable.has(peer)) return Promise.reject(new TimeoutError(`ICE with peer ${peer}`, 5_000));
    let session = this.sessions.get(peer);
    if (!session) this.sessions.set(peer, (session = new FakeSession(peer)));
    return Promise.resolve(session);
  }
  on(_event: 'have', listener: (value: { session: FetchSession; topics: BlockId[] }) => void): () => void {
    this.haveListeners.add(listener);
    return () => this.haveListeners.delete(listener);
  }
  have(peer: string): void {
    const session = this.sessions.get(peer) ?? new FakeSession(peer);
    for (const listener of this.haveListeners) listener({ session, topics: [TOPIC] });
  }
}

function poolOf(source: FakeSource, options: { noHolderTimeoutMs?: number; work?: boolean } = {}) {
  const state = { work: options.work ?? true, added: 0 };
  const gaveUp: Error[] = [];
  const pool = new HolderPool({
    source,
    topic: TOPIC,
    noHolderTimeoutMs: options.noHolderTimeoutMs ?? 60_000,
    hasWork: () => state.work,
    onSource: () => state.added++,
    onGiveUp: (error) => gaveUp.push(error),
  });
  return { pool, state, gaveUp };
}

/** Lets every promise the pool is waiting on settle, and `ms` pass. */
const pass = (ms = 0) => vi.advanceTimersByTimeAsync(ms);

/** Peers whose sessions the pool offers. */
const inUse = (pool: HolderPool) => [...pool.sessions()].map((s) => s.peer);

const peers = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('HolderPool: finding holders', () => {
  it('connects to the holders a lookup names, at most MAX_SOURCES, and offers their sessions', async () => {
    const source = new FakeSource();
    source.named = peers('h', MAX_SOURCES + 4);
    const { pool, state } = poolOf(source);
    pool.warmUp();
    await pass();
    expect(source.connects).toEqual(peers('h', MAX_SOURCES));
    expect(inUse(pool)).toEqual(peers('h', MAX_SOURCES));
    expect(state.added).toBe(MAX_SOURCES);
    pool.stop();
  });

  it('replaces a holder that lacked a block through a fresh lookup, no sooner than REPLACE_LOOKUP_MS after the last', async () => {
    const source = new FakeSource();
    source.named = ['liar'];
    const { pool } = poolOf(source);
    pool.warmUp();
    await pass();
    source.named = ['liar', 'honest'];
    pool.lacks(source.sessions.get('liar')!, BLOCK);
    expect(pool.size).toBe(0);
    await pass(REPLACE_LOOKUP_MS - 1);
    expect(source.lookups).toBe(1);
    await pass(1);
    expect(source.lookups).toBe(2);
    // The liar is named again and skipped.
    expect(source.connects).toEqual(['liar', 'honest']);
    expect(inUse(pool)).toEqual(['honest']);
    pool.stop();
  });

  it('connects to at most MAX_HOLDERS_TRIED distinct holders, however many lookups name new ones', async () => {
    const source = new FakeSource();
    const { pool } = poolOf(source);
    for (let round = 0; round * MAX_SOURCES < MAX_HOLDERS_TRIED + 3 * MAX_SOURCES; round++) {
      source.named = peers(`r${round}`, MAX_SOURCES);
      pool.needed();
      await pass(REPLACE_LOOKUP_MS);
      for (const peer of source.named) {
        const session = source.sessions.get(peer);
        if (session) pool.lacks(session, BLOCK);
      }
      await pass(REPLACE_LOOKUP_MS);
    }
    expect(new Set(source.connects).size).toBe(MAX_HOLDERS_TRIED);
    pool.stop();
  });

  it('looks up again when its last holder closes while blocks are wanted', async () => {
    const source = new FakeSource();
    source.named = ['a'];
    const { pool } = poolOf(source);
    pool.warmUp();
    await pass();
    source.named = ['b'];
    source.sessions.get('a')!.close();
    await pass();
    expect(source.lookups).toBe(2);
    expect(inUse(pool)).toEqual(['b']);
    pool.stop();
  });

  it('looks for more holders every MORE_SOURCES_EVERY_MS while it has fewer than MAX_SOURCES and work waits', async () => {
    const source = new FakeSource();
    source.named = ['a'];
    const { pool, state } = poolOf(source);
    pool.warmUp();
    await pass();
    source.named = ['a', 'b'];
    await pass(MORE_SOURCES_EVERY_MS);
    expect(source.lookups).toBe(2);
    expect(pool.size).toBe(2);
    state.work = false;
    await pass(MORE_SOURCES_EVERY_MS * 3);
    expect(source.lookups).toBe(2);
    pool.stop();
  });

  it('takes back, once and never twice, a holder that lacked a block and then says it holds the file', async () => {
    const source = new FakeSource();
    source.named = ['late'];
    const { pool } = poolOf(source);
    pool.warmUp();
    await pass();
    const late = source.sessions.get('late')!;
    pool.lacks(late, BLOCK);
    source.have('late');
    expect([...pool.sessions()]).toEqual([late]);
    pool.lacks(late, BLOCK);
    source.have('late');
    expect(pool.size).toBe(0);
    pool.stop();
  });
});

describe('HolderPool: giving up', () => {
  it('looks again every LOOKUP_RETRY_MS while nobody holds the file, then gives up with NoHolderError', async () => {
    const source = new FakeSource();
    const { pool, gaveUp } = poolOf(source, { noHolderTimeoutMs: 5 * LOOKUP_RETRY_MS });
    pool.needed();
    await pass();
    expect(source.lookups).toBe(1);
    await pass(LOOKUP_RETRY_MS);
    expect(source.lookups).toBe(2);
    await pass(4 * LOOKUP_RETRY_MS);
    expect(gaveUp).toHaveLength(1);
    expect(gaveUp[0]).toBeInstanceOf(NoHolderError);
    const lookups = source.lookups;
    await pass(10 * LOOKUP_RETRY_MS);
    expect(source.lookups).toBe(lookups);
  });

  it('neither looks again nor gives up while no block is wanted', async () => {
    const source = new FakeSource();
    const { pool, gaveUp } = poolOf(source, { noHolderTimeoutMs: 2 * LOOKUP_RETRY_MS, work: false });
    pool.warmUp();
    await pass(10 * LOOKUP_RETRY_MS);
    expect(source.lookups).toBe(1);
    expect(gaveUp).toEqual([]);
    pool.stop();
  });

  it('names the block and the holders that lacked it when nobody else is found in time', async () => {
    const source = new FakeSource();
    source.named = ['liar'];
    const { pool, gaveUp } = poolOf(source, { noHolderTimeoutMs: 3 * LOOKUP_RETRY_MS });
    pool.warmUp();
    await pass();
    pool.lacks(source.sessions.get('liar')!, BLOCK);
    await pass(4 * LOOKUP_RETRY_MS);
    expect(gaveUp).toHaveLength(1);
    expect(gaveUp[0]).toBeInstanceOf(BlockMissingError);
    expect((gaveUp[0] as BlockMissingError).blockId).toBe(BLOCK);
    expect(gaveUp[0]!.message).toMatch(/1 holder of the file did not have it/);
  });

  for (const hasRelay of [false, true]) {
    it(`gives up at once when no holder named can be connected to, saying ${hasRelay ? 'the relay failed too' : 'no relay is configured'}`, async () => {
      const source = new FakeSource(hasRelay);
      source.named = ['far-0', 'far-1'];
      for (const peer of source.named) source.unreachable.add(peer);
      const { pool, gaveUp } = poolOf(source, { noHolderTimeoutMs: 600_000 });
      pool.needed();
      await pass();
      expect(gaveUp).toHaveLength(1);
      expect(gaveUp[0]).toBeInstanceOf(PeerUnreachableError);
      expect((gaveUp[0] as PeerUnreachableError).holders).toBe(2);
      expect(gaveUp[0]!.message).toMatch(hasRelay ? /not even through the relay/ : /no relay \(TURN\) is configured/);
    });
  }

  it('keeps looking while some holder named could be connected to', async () => {
    const source = new FakeSource();
    source.named = ['far', 'near'];
    source.unreachable.add('far');
    const { pool, gaveUp } = poolOf(source, { noHolderTimeoutMs: 600_000 });
    pool.needed();
    await pass();
    expect(gaveUp).toEqual([]);
    expect(inUse(pool)).toEqual(['near']);
    pool.stop();
  });
});
