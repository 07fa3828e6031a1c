// What every SignalingState promises, as one suite run against each implementation: in memory
// (several nodes on one hub) and Redis (several nodes on one real redis-server). A "node" stands for
// one signaling process; the handlers here do what the server does with them (deliver a signal to
// the socket, close an evicted socket).

import { afterEach, describe, expect, it } from 'vitest';
import type { RelayedSignal, SignalingState, SocketSession, StateLimits } from '../../signaling/state.js';

export interface StateCluster {
  /** One more process's state on the same shared backing. */
  node(): Promise<SignalingState>;
  close(): Promise<void>;
}

export type ClusterFactory = (limits: StateLimits) => Promise<StateCluster>;

export const CONTRACT_LIMITS: StateLimits = {
  maxSocketsPerAddress: 64,
  maxTopicsPerAddress: 10_000,
  maxTopicEntries: 250_000,
};

/** Peer ids shaped like real ones (43 base64url characters). */
export function peerId(n: number): string {
  return `peer${String(n).padStart(6, '0')}`.padEnd(43, 'x');
}

const WAIT_MS = 5_000;

/** A node with the server's side of the handlers: sessions by conn, signals and evictions seen. */
export class TestNode {
  readonly sessions = new Map<string, SocketSession>();
  readonly delivered: { conn: string; signal: RelayedSignal }[] = [];
  readonly evicted: string[] = [];
  private waiters: (() => void)[] = [];

  constructor(readonly state: SignalingState) {
    state.setHandlers({
      deliver: (conn, signal) => {
        this.delivered.push({ conn, signal });
        this.wake();
      },
      evict: (conn) => {
        this.evicted.push(conn);
        // As the server does: the evicted socket is forgotten at once.
        this.sessions
          .get(conn)
          ?.close()
          .catch(() => {
            // A session's close settles its own writes; nothing here waits on it.
          });
        this.sessions.delete(conn);
        this.wake();
      },
    });
  }

  async socket(key = 'addr-1', peer?: string, internal = false): Promise<SocketSession> {
    const session = await this.state.open(key, { internal });
    if (!session) throw new Error(`socket from ${key} refused`);
    this.sessions.set(session.conn, session);
    if (peer !== undefined) await session.claim(peer);
    return session;
  }

  /** Resolves once `check` holds, re-checked at every delivery or eviction; fails after WAIT_MS. */
  until<T>(check: () => T | undefined, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
      const test = () => {
        const value = check();
        if (value === undefined || value === false) return this.waiters.push(test);
        clearTimeout(timer);
        resolve(value);
      };
      test();
    });
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}

export function signalingStateContract(name: string, factory: ClusterFactory): void {
  describe(`${name} signaling state`, () => {
    let cluster: StateCluster | undefined;
    afterEach(async () => {
      await cluster?.close();
      cluster = undefined;
    });
    const nodes = async (count: number, limits: Partial<StateLimits> = {}): Promise<TestNode[]> => {
      cluster = await factory({ ...CONTRACT_LIMITS, ...limits });
      const made: TestNode[] = [];
      for (let i = 0; i < count; i++) made.push(new TestNode(await cluster.node()));
      return made;
    };
    const signal = (from: string, n: number): RelayedSignal => ({
      from,
      data: { sdp: `offer ${n}`, type: 'offer' },
      origin: 'o'.repeat(16),
    });

    it('relays a signal to the socket that proved the peer id, in the same process', async () => {
      const [a] = await nodes(1);
      const bob = await a!.socket('addr-1', peerId(2));
      expect(await a!.state.relay(peerId(2), signal(peerId(1), 1))).toBe(true);
      expect(a!.delivered).toEqual([{ conn: bob.conn, signal: signal(peerId(1), 1) }]);
    });

    it('relays a signal to a peer connected to another process, data intact', async () => {
      const [a, b] = await nodes(2);
      const bob = await b!.socket('addr-2', peerId(2));
      const data = { type: 'offer', sdp: 'v=0\r\n'.repeat(200), nested: [1, 'two', null] };
      expect(await a!.state.relay(peerId(2), { from: peerId(1), data, origin: 'p'.repeat(16) })).toBe(true);
      const got = await b!.until(() => b!.delivered[0], 'the relayed signal');
      expect(got).toEqual({ conn: bob.conn, signal: { from: peerId(1), data, origin: 'p'.repeat(16) } });
      expect(a!.delivered).toEqual([]);
    });

    it('answers false for a peer nobody speaks for, and once its socket closed', async () => {
      const [a, b] = await nodes(2);
      expect(await a!.state.relay(peerId(9), signal(peerId(1), 1))).toBe(false);
      const bob = await b!.socket('addr-2', peerId(2));
      await bob.close();
      expect(await a!.state.relay(peerId(2), signal(peerId(1), 2))).toBe(false);
    });

    it('evicts the older socket of a peer id proven again in the same process, before claim resolves', async () => {
      const [a] = await nodes(1);
      const first = await a!.socket('addr-1', peerId(3));
      await first.announce(['topic-1'], 10, false);
      const second = await a!.socket('addr-1', peerId(3));
      expect(a!.evicted).toEqual([first.conn]);
      expect(await a!.state.relay(peerId(3), signal(peerId(1), 1))).toBe(true);
      expect(a!.delivered.map((d) => d.conn)).toEqual([second.conn]);
      // What the evicted socket announced went with it.
      expect(await a!.state.lookup('topic-1', 10)).toEqual([]);
    });

    it('evicts the older socket of a peer id proven again in another process', async () => {
      const [a, b] = await nodes(2);
      const first = await a!.socket('addr-1', peerId(3));
      await first.announce(['topic-1'], 10, false);
      const second = await b!.socket('addr-2', peerId(3));
      await a!.until(() => a!.evicted.includes(first.conn), 'the eviction in the first process');
      await second.announce(['topic-1'], 10, false);
      expect(await b!.state.relay(peerId(3), signal(peerId(1), 1))).toBe(true);
      await b!.until(() => b!.delivered[0], 'the signal at the new socket');
      expect(b!.delivered[0]!.conn).toBe(second.conn);
      expect(await a!.state.lookup('topic-1', 10)).toEqual([peerId(3)]);
    });

    it('finds the holders of a topic from any process, and forgets a withdrawn one', async () => {
      const [a, b] = await nodes(2);
      const bob = await b!.socket('addr-2', peerId(2));
      const carol = await a!.socket('addr-3', peerId(3));
      expect(await bob.announce(['topic-x', 'topic-y'], 10, false)).toEqual({ accepted: ['topic-x', 'topic-y'] });
      await carol.announce(['topic-x'], 10, false);
      expect((await a!.state.lookup('topic-x', 10)).sort()).toEqual([peerId(2), peerId(3)]);
      expect(await a!.state.lookup('topic-y', 10)).toEqual([peerId(2)]);
      await bob.withdraw(['topic-x']);
      expect(await a!.state.lookup('topic-x', 10)).toEqual([peerId(3)]);
      expect(bob.topics).toEqual(new Set(['topic-y']));
      expect(await b!.state.lookup('topic-z', 10)).toEqual([]);
    });

    it('counts a topic announced twice, or twice in one message, once', async () => {
      const [a] = await nodes(1, { maxTopicsPerAddress: 3 });
      const bob = await a!.socket('addr-1', peerId(2));
      expect(await bob.announce(['t1', 't1', 't2'], 10, false)).toEqual({ accepted: ['t1', 't2'] });
      expect(await bob.announce(['t2', 't3'], 10, false)).toEqual({ accepted: ['t3'] });
      expect(a!.state.stats()).toMatchObject({ ordinaryEntries: 3 });
    });

    it('forgets every topic of a socket that closes', async () => {
      const [a, b] = await nodes(2);
      const bob = await b!.socket('addr-2', peerId(2));
      await bob.announce(['t1', 't2', 't3'], 10, false);
      await bob.close();
      for (const topic of ['t1', 't2', 't3']) expect(await a!.state.lookup(topic, 10)).toEqual([]);
      expect(b!.state.stats()).toMatchObject({ sessions: 0, peers: 0, ordinaryEntries: 0 });
    });

    it('answers a lookup with at most `limit` distinct holders', async () => {
      const [a, b] = await nodes(2);
      for (let i = 0; i < 12; i++) {
        const node = i % 2 ? a! : b!;
        const s = await node.socket(`addr-${i}`, peerId(100 + i));
        await s.announce(['popular'], 10, false);
      }
      const found = await a!.state.lookup('popular', 5);
      expect(found.length).toBe(5);
      expect(new Set(found).size).toBe(5);
      for (const peer of found) expect(peer).toMatch(/^peer0001/);
    });

    it('caps the sockets of one address across processes; internal sockets do not count', async () => {
      const [a, b] = await nodes(2, { maxSocketsPerAddress: 2 });
      const one = await a!.socket('crowd');
      await b!.socket('crowd');
      expect(await a!.state.open('crowd')).toBeUndefined();
      expect(await b!.state.open('crowd')).toBeUndefined();
      expect(await a!.state.open('elsewhere')).toBeDefined();
      expect(await a!.state.open('crowd', { internal: true })).toBeDefined();
      await one.close();
      expect(await b!.state.open('crowd')).toBeDefined();
    });

    it("caps one address's topics across processes", async () => {
      const [a, b] = await nodes(2, { maxTopicsPerAddress: 5 });
      const one = await a!.socket('crowd', peerId(1));
      const two = await b!.socket('crowd', peerId(2));
      expect(await one.announce(['a1', 'a2', 'a3'], 100, false)).toEqual({ accepted: ['a1', 'a2', 'a3'] });
      expect(await two.announce(['b1', 'b2', 'b3'], 100, false)).toEqual({
        accepted: ['b1', 'b2'],
        refused: 'address',
      });
      await one.withdraw(['a1']);
      expect(await two.announce(['b3'], 100, false)).toEqual({ accepted: ['b3'] });
    });

    it("caps a socket's topics at its cap", async () => {
      const [a] = await nodes(1);
      const one = await a!.socket('addr', peerId(1));
      expect(await one.announce(['a1', 'a2', 'a3'], 2, false)).toEqual({ accepted: ['a1', 'a2'], refused: 'socket' });
    });

    it('shares one budget of ordinary topic entries across processes; trusted sockets are outside it', async () => {
      const [a, b] = await nodes(2, { maxTopicEntries: 4 });
      const one = await a!.socket('addr-1', peerId(1));
      const two = await b!.socket('addr-2', peerId(2));
      const seed = await b!.socket('addr-3', peerId(3), true);
      await one.announce(['a1', 'a2', 'a3'], 100, false);
      expect(await two.announce(['b1', 'b2'], 100, false)).toEqual({ accepted: ['b1'], refused: 'budget' });
      const many = Array.from({ length: 50 }, (_, i) => `s${i}`);
      expect((await seed.announce(many, 1_000, true)).accepted.length).toBe(50);
      expect(b!.state.stats()).toMatchObject({ ordinaryEntries: 1, trustedEntries: 50 });
      await one.close();
      expect(await two.announce(['b2', 'b3'], 100, false)).toEqual({ accepted: ['b2', 'b3'] });
    });

    it('holds nothing for a socket that has not proved a peer id, or has closed', async () => {
      const [a] = await nodes(1);
      const anonymous = await a!.socket('addr-1');
      expect(await anonymous.announce(['early'], 10, false)).toEqual({ accepted: [] });
      const gone = await a!.socket('addr-2', peerId(1));
      await gone.close();
      expect(await gone.announce(['late'], 10, false)).toEqual({ accepted: [] });
      expect(await a!.state.lookup('early', 10)).toEqual([]);
      expect(await a!.state.lookup('late', 10)).toEqual([]);
      expect(await a!.state.relay(peerId(1), signal(peerId(2), 1))).toBe(false);
    });

    it('gives every count back when sockets close', async () => {
      const [a, b] = await nodes(2, { maxSocketsPerAddress: 3, maxTopicsPerAddress: 6, maxTopicEntries: 6 });
      for (let round = 0; round < 3; round++) {
        const sessions: SocketSession[] = [];
        for (let i = 0; i < 3; i++) {
          const s = await (i % 2 ? a! : b!).socket('crowd', peerId(round * 10 + i));
          expect(await s.announce([`r${round}-${i}-a`, `r${round}-${i}-b`], 10, false)).toMatchObject({
            accepted: [`r${round}-${i}-a`, `r${round}-${i}-b`],
          });
          sessions.push(s);
        }
        expect(await a!.state.open('crowd')).toBeUndefined();
        for (const s of sessions) await s.close();
      }
      expect(a!.state.stats()).toMatchObject({ sessions: 0, ordinaryEntries: 0 });
      expect(b!.state.stats()).toMatchObject({ sessions: 0, ordinaryEntries: 0 });
    });
  });
}
