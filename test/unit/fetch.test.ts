// The fetcher's choice of sources (src/net/fetch.ts), with a fake swarm and fake sessions: which
// holders it connects to, which it keeps asking, and when it gives up. What the hostile side tries:
// announce a file from many ids that hold nothing and answer not-found, so a get gives up before
// it reaches the one holder that has the file.
import { describe, expect, it } from 'vitest';
import type { BlockId } from '../../src/content/format.js';
import { BlockMissingError, PeerUnreachableError, TimeoutError } from '../../src/errors.js';
import { BlockFetcher, type FetchSession, type HolderSource } from '../../src/net/fetch.js';
import { MAX_HOLDERS_TRIED } from '../../src/net/limits.js';
import { MAX_HOLDERS } from '../../src/net/signal-messages.js';
import { createMemoryBlockStore } from '../../src/store/memory.js';
import { block } from '../contracts/block-store.js';
import { defaultBackend } from '../../src/content/crypto.js';
import { verifyBlock, type VerifiedBlock } from '../../src/content/verified.js';

const TOPIC = 'ab'.repeat(32);

/** The holder's answer as a session gives it: checked against the id, and marked so. */
async function checked(id: BlockId, bytes: Uint8Array | undefined): Promise<VerifiedBlock | undefined> {
  return bytes && (await verifyBlock(bytes, id, defaultBackend()));
}

/** A holder: serves what `blocks` holds (nothing for a liar), and records what it was asked. */
class FakeSession implements FetchSession {
  closed = false;
  readonly freeSlots = 8;
  readonly asked: BlockId[] = [];
  /** Wants that arrived after this holder had already answered not-found once. */
  askedAfterNotFound = 0;
  private saidNotFound = false;
  private readonly closeListeners = new Set<(value: { error?: Error }) => void>();

  constructor(
    readonly peer: string,
    readonly blocks: Map<BlockId, Uint8Array>,
  ) {}

  async want(id: BlockId): Promise<VerifiedBlock | undefined> {
    if (this.saidNotFound) this.askedAfterNotFound++;
    this.asked.push(id);
    await new Promise((resolve) => setTimeout(resolve, 1));
    const bytes = this.blocks.get(id);
    if (!bytes) this.saidNotFound = true;
    return checked(id, bytes);
  }

  on(_event: 'close', listener: (value: { error?: Error }) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }
}

/**
 * The signaling server's word (at most MAX_HOLDERS, a random sample when `shuffle`, else in the
 * order holders were added: the liars first, the worst case) and connects that work.
 */
class FakeSwarm implements HolderSource {
  readonly sessions = new Map<string, FakeSession>();

  constructor(private readonly shuffle = false) {}

  readonly connects: string[] = [];
  private readonly haveListeners = new Set<(value: { session: FetchSession; topics: BlockId[] }) => void>();

  add(session: FakeSession): FakeSession {
    this.sessions.set(session.peer, session);
    return session;
  }

  async holders(): Promise<string[]> {
    const all = [...this.sessions.keys()];
    for (let i = all.length - 1; i > 0 && this.shuffle; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [all[i], all[j]] = [all[j]!, all[i]!];
    }
    return all.slice(0, MAX_HOLDERS);
  }

  async connect(peer: string): Promise<FetchSession> {
    this.connects.push(peer);
    await new Promise((resolve) => setTimeout(resolve, 2));
    return this.sessions.get(peer)!;
  }

  on(_event: 'have', listener: (value: { session: FetchSession; topics: BlockId[] }) => void): () => void {
    this.haveListeners.add(listener);
    return () => this.haveListeners.delete(listener);
  }

  have(session: FakeSession, topics: BlockId[]): void {
    for (const listener of this.haveListeners) listener({ session, topics });
  }
}

function file(blocks = 40) {
  const list = Array.from({ length: blocks }, (_, i) => block(1000, i + 1));
  return { ids: list.map((b) => b.id), held: new Map(list.map((b) => [b.id, b.bytes])) };
}

function liars(swarm: FakeSwarm, n: number): FakeSession[] {
  return Array.from({ length: n }, (_, i) => swarm.add(new FakeSession(`liar-${i}`, new Map())));
}

describe('a fetch among holders that answer not-found', () => {
  it('replaces them with others from fresh lookups until it reaches the holder that has the file', async () => {
    const { ids, held } = file();
    const swarm = new FakeSwarm();
    liars(swarm, 16);
    const honest = swarm.add(new FakeSession('honest', held));
    const store = createMemoryBlockStore();
    const fetcher = new BlockFetcher({ swarm, store, topic: TOPIC, noHolderTimeoutMs: 5_000 });
    await fetcher.fetchAll(ids);
    for (const id of ids) expect(await store.has(id)).toBe(true);
    expect(fetcher.blocksFrom.get('honest')).toBe(ids.length);
    expect(honest.asked.length).toBeGreaterThan(0);
    fetcher.stop();
  });

  it('asks a holder nothing more once it said not-found, and never connects to it again', async () => {
    const { ids, held } = file();
    const swarm = new FakeSwarm();
    const cheats = liars(swarm, 16);
    swarm.add(new FakeSession('honest', held));
    const fetcher = new BlockFetcher({
      swarm,
      store: createMemoryBlockStore(),
      topic: TOPIC,
      noHolderTimeoutMs: 5_000,
    });
    await fetcher.fetchAll(ids);
    for (const liar of cheats) expect(liar.askedAfterNotFound).toBe(0);
    expect(new Set(swarm.connects).size).toBe(swarm.connects.length);
    fetcher.stop();
  });

  it('fails with the missing block and how many holders lacked it when no holder has the file', async () => {
    const { ids } = file(4);
    const swarm = new FakeSwarm();
    liars(swarm, 5);
    const fetcher = new BlockFetcher({ swarm, store: createMemoryBlockStore(), topic: TOPIC, noHolderTimeoutMs: 300 });
    const error = await fetcher.fetchAll(ids).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BlockMissingError);
    expect((error as Error).message).toMatch(/5 holders of the file did not have it/);
  });

  it('connects to at most MAX_HOLDERS_TRIED holders, however many announce the file', { timeout: 30_000 }, async () => {
    const { ids } = file(2);
    const swarm = new FakeSwarm(true);
    liars(swarm, MAX_HOLDERS_TRIED + 100);
    const fetcher = new BlockFetcher({
      swarm,
      store: createMemoryBlockStore(),
      topic: TOPIC,
      noHolderTimeoutMs: 1_000,
    });
    await expect(fetcher.fetchAll(ids)).rejects.toThrow(BlockMissingError);
    expect(new Set(swarm.connects).size).toBe(MAX_HOLDERS_TRIED);
  });

  it('takes back, once, a holder that said not-found and then says it now holds the file', async () => {
    const { ids, held } = file(3);
    const swarm = new FakeSwarm();
    // It announced the file before it had it all; it has nothing yet.
    const late = swarm.add(new FakeSession('late', new Map()));
    const fetcher = new BlockFetcher({
      swarm,
      store: createMemoryBlockStore(),
      topic: TOPIC,
      noHolderTimeoutMs: 5_000,
    });
    const done = fetcher.fetchAll(ids);
    while (late.asked.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(fetcher.sourceCount).toBe(0);
    for (const [id, bytes] of held) late.blocks.set(id, bytes);
    swarm.have(late, [TOPIC]);
    await done;
    expect(fetcher.blocksFrom.get('late')).toBe(ids.length);
    fetcher.stop();
  });

  it('does not take back a holder that failed it again after being taken back', async () => {
    const { ids } = file(3);
    const swarm = new FakeSwarm();
    const twice = swarm.add(new FakeSession('twice', new Map()));
    const fetcher = new BlockFetcher({ swarm, store: createMemoryBlockStore(), topic: TOPIC, noHolderTimeoutMs: 500 });
    const done = fetcher.fetchAll(ids).catch((e: unknown) => e);
    const askedOnce = async (n: number) => {
      while (twice.asked.length < n) await new Promise((resolve) => setTimeout(resolve, 5));
      await new Promise((resolve) => setTimeout(resolve, 20));
    };
    await askedOnce(1);
    swarm.have(twice, [TOPIC]);
    await askedOnce(2);
    const asked = twice.asked.length;
    swarm.have(twice, [TOPIC]);
    expect(await done).toBeInstanceOf(BlockMissingError);
    expect(twice.asked.length).toBe(asked);
  });
});

/** Holders the signaling server names but no connection reaches (no direct path, no relay). */
class UnreachableSwarm extends FakeSwarm {
  constructor(readonly hasRelay: boolean) {
    super();
  }
  override async connect(peer: string): Promise<FetchSession> {
    this.connects.push(peer);
    await new Promise((resolve) => setTimeout(resolve, 2));
    throw new TimeoutError(`ICE with peer ${peer}`, 5_000);
  }
}

describe('a fetch whose holders cannot be connected to', () => {
  for (const hasRelay of [false, true]) {
    it(`says so at once, naming ${hasRelay ? 'the relay' : 'the missing relay'}, rather than "nobody holds it"`, async () => {
      const swarm = new UnreachableSwarm(hasRelay);
      liars(swarm, 2);
      // Far longer than the test may take: the fetch must stop when every holder failed, not then.
      const fetcher = new BlockFetcher({
        swarm,
        store: createMemoryBlockStore(),
        topic: TOPIC,
        noHolderTimeoutMs: 600_000,
      });
      const error = await fetcher.fetchAll(file(1).ids).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PeerUnreachableError);
      expect((error as PeerUnreachableError).holders).toBe(2);
      expect((error as Error).message).toMatch(
        hasRelay ? /not even through the relay/ : /no relay \(TURN\) is configured/,
      );
    });
  }
});
