// The Redis signaling state on a real redis-server (Debian's, one per file, persistence off): the
// shared contract with each "process" a RedisSignalingState of its own, then what only Redis has —
// a Redis restart in the middle, a process that dies without a word, and what is left in Redis
// once everyone has gone.

import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/node/log.js';
import { RedisSignalingState, type RedisTimings } from '../../signaling/redis-state.js';
import type { StateLimits } from '../../signaling/state.js';
import { CONTRACT_LIMITS, TestNode, peerId, signalingStateContract } from '../contracts/signaling-state.js';
import { redisUnavailable, startRedis, type RedisServer } from '../helpers/redis.js';

let redis: RedisServer;
let prefixes = 0;
// Reconnects and resyncs are what these tests provoke: their log lines would only be noise.
const log = createLogger({ level: 'silent' });
const unavailable = redisUnavailable();
if (unavailable) console.warn(`Redis signaling state tests skipped: ${unavailable}`);

/** Keys under `prefix`, read with SCAN as an operator would. */
async function keysUnder(prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const reply = await redis.command('SCAN', cursor, 'MATCH', `${prefix}*`, 'COUNT', '1000');
    const lines = reply.split('\r\n');
    cursor = lines[2]!;
    for (let i = 5; i < lines.length; i += 2) if (lines[i]) found.push(lines[i]!);
  } while (cursor !== '0');
  return found;
}

async function openStates(count: number, limits: StateLimits, timings: Partial<RedisTimings> = {}) {
  const prefix = `test${prefixes++}:`;
  const states: RedisSignalingState[] = [];
  for (let i = 0; i < count; i++)
    states.push(await RedisSignalingState.open({ url: redis.url, prefix, limits, timings, log }));
  return { prefix, states };
}

/** Resolves with the first event `name` on `emitter`, or fails after `ms`. */
async function event<T = unknown>(emitter: NodeJS.EventEmitter, name: string, ms = 10_000): Promise<T> {
  const [value] = (await once(emitter, name, { signal: AbortSignal.timeout(ms) })) as [T];
  return value;
}

/** Re-checks `check` until it holds, for conditions no event announces (a TTL running out). */
async function eventually<T>(check: () => Promise<T | undefined | false>, what: string, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

// Skipped only where redis-server is not installed, never under CI (.ci/run installs it).
describe.skipIf(unavailable)('on a real redis-server', () => {
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.close();
  });

  signalingStateContract('Redis', async (limits) => {
    const prefix = `contract${prefixes++}:`;
    const states: RedisSignalingState[] = [];
    return {
      node: async () => {
        const state = await RedisSignalingState.open({ url: redis.url, prefix, limits, log });
        states.push(state);
        return state;
      },
      close: async () => {
        for (const state of states) await state.close();
        // Nothing is left behind once every process has left.
        expect(await keysUnder(prefix)).toEqual([]);
      },
    };
  });

  describe('Redis signaling state on a real redis-server', () => {
    it('keeps working after Redis restarts: subscriptions, presence, topics and counts come back', async () => {
      const { states } = await openStates(2, { ...CONTRACT_LIMITS, maxSocketsPerAddress: 2 });
      const [a, b] = states.map((s) => new TestNode(s)) as [TestNode, TestNode];
      const alice = await a.socket('crowd', peerId(1));
      const bob = await b.socket('crowd', peerId(2));
      await bob.announce(['file-1', 'file-2'], 10, false);

      const resynced = Promise.all(states.map((s) => event<number>(s.events, 'resynced')));
      const runId = /run_id:(\w+)/.exec(await redis.command('INFO', 'server'))![1];
      const restarted = performance.now();
      await redis.restart();
      // A new server, empty (persistence is off): everything below was re-asserted by the processes.
      expect(/run_id:(\w+)/.exec(await redis.command('INFO', 'server'))![1]).not.toBe(runId);
      const took = await resynced;
      const back = performance.now() - restarted;

      expect(await a.state.lookup('file-1', 10)).toEqual([peerId(2)]);
      expect(await a.state.relay(peerId(2), { from: peerId(1), data: 'offer', origin: 'o'.repeat(16) })).toBe(true);
      await b.until(() => b.delivered[0], 'a relay across processes after the restart');
      expect(await b.state.relay(peerId(1), { from: peerId(2), data: 'answer', origin: 'o'.repeat(16) })).toBe(true);
      await a.until(() => a.delivered[0], 'the answer back');
      // The per-address count was re-asserted: the address still has its two sockets.
      expect(await a.state.open('crowd')).toBeUndefined();
      console.log(
        `redis restart: both processes re-asserted ${Math.round(back)} ms after the kill (resync ${took.map((t) => Math.round(t)).join(', ')} ms)`,
      );

      await alice.close();
      await bob.close();
      for (const state of states) await state.close();
    });

    it('re-asserts thousands of sockets and topic entries after a restart, and relays again', async () => {
      const { states } = await openStates(2, CONTRACT_LIMITS);
      const nodes = states.map((s) => new TestNode(s));
      const sockets = 1_000;
      const topicsEach = 10;
      await Promise.all(
        Array.from({ length: sockets }, async (_, i) => {
          const s = await nodes[i % 2]!.socket(`addr-${i % 100}`, peerId(i));
          await s.announce(
            Array.from({ length: topicsEach }, (_, j) => `file-${i}-${j}`),
            100,
            false,
          );
        }),
      );
      const resynced = Promise.all(states.map((s) => event<number>(s.events, 'resynced')));
      const restarted = performance.now();
      await redis.restart();
      const took = await resynced;
      const back = performance.now() - restarted;
      // Every peer is reachable again from the other process, and every topic found.
      const expected = [0, 0];
      for (let i = 0; i < sockets; i += 97) {
        const other = nodes[(i + 1) % 2]!;
        expected[i % 2]!++;
        expect(await other.state.lookup(`file-${i}-${i % topicsEach}`, 4)).toEqual([peerId(i)]);
        expect(await other.state.relay(peerId(i), { from: peerId(99_999), data: i, origin: 'o'.repeat(16) })).toBe(
          true,
        );
      }
      await Promise.all(
        nodes.map((n, k) => n.until(() => n.delivered.length >= expected[k]! || undefined, 'the relays')),
      );
      console.log(
        `redis restart with ${sockets} sockets and ${sockets * topicsEach} topic entries over 2 processes: ` +
          `re-asserted ${Math.round(back)} ms after the kill (resync ${took.map((t) => Math.round(t)).join(', ')} ms)`,
      );
      for (const state of states) await state.close();
    });

    it('fails fast with a typed error while Redis is down, and serves again once it is back', async () => {
      const { states } = await openStates(1, CONTRACT_LIMITS);
      const state = states[0]!;
      const offline = event(state.events, 'offline');
      await redis.kill();
      await offline;
      await expect(state.lookup('t', 4)).rejects.toMatchObject({ name: 'StateUnavailableError', code: 'CLOSED' });
      await expect(state.open('addr')).rejects.toMatchObject({ name: 'StateUnavailableError' });
      const resynced = event(state.events, 'resynced');
      await redis.start();
      await resynced;
      const node = new TestNode(state);
      const s = await node.socket('addr', peerId(5));
      expect(await s.announce(['t'], 4, false)).toEqual({ accepted: ['t'] });
      expect(await state.lookup('t', 4)).toEqual([peerId(5)]);
      await state.close();
    });

    it('re-tells Redis what a socket gave back while Redis was away', async () => {
      // A slow first reconnect keeps the process offline long enough to close a socket meanwhile.
      const { prefix, states } = await openStates(2, CONTRACT_LIMITS, { reconnectFirstDelayMs: 1_000 });
      const [a, b] = states.map((s) => new TestNode(s)) as [TestNode, TestNode];
      const bob = await b.socket('addr-b', peerId(2));
      await bob.announce(['kept-elsewhere'], 10, false);
      const gone = await a.socket('addr-a', peerId(3));
      await gone.announce(['left-while-down'], 10, false);
      // Redis keeps its data; only the connections drop, so the close cannot reach it.
      const offline = event(states[0]!.events, 'offline');
      const resynced = Promise.all(states.map((s) => event(s.events, 'resynced')));
      await redis.command('CLIENT', 'KILL', 'TYPE', 'normal');
      await offline;
      await gone.close();
      expect(await redis.command('ZCARD', `${prefix}t:left-while-down`)).toBe(':1\r\n'); // not told yet
      await resynced;
      expect(await b.state.lookup('left-while-down', 10)).toEqual([]);
      expect(await b.state.lookup('kept-elsewhere', 10)).toEqual([peerId(2)]);
      expect(await keysUnder(`${prefix}p:${peerId(3)}`)).toEqual([]);
      for (const state of states) await state.close();
    });

    it('drops a process that dies without a word: its holders, peers and counts, then its keys', async () => {
      const timings = {
        heartbeatMs: 50,
        nodeTtlMs: 200,
        presenceTtlMs: 600,
        presenceRefreshMs: 200,
        holderTtlMs: 800,
        holderRefreshMs: 300,
      };
      const { prefix, states } = await openStates(2, { ...CONTRACT_LIMITS, maxSocketsPerAddress: 1 }, timings);
      const [a, b] = states.map((s) => new TestNode(s)) as [TestNode, TestNode];
      const doomed = await b.socket('crowd', peerId(2));
      await doomed.announce(['orphan'], 10, false);
      expect(await a.state.lookup('orphan', 10)).toEqual([peerId(2)]);
      expect(await a.state.open('crowd')).toBeUndefined();

      (states[1] as RedisSignalingState).abandon();
      // Once its heartbeat lapses the others stop counting it and stop naming its peers.
      await eventually(
        async () => (await a.state.lookup('orphan', 10)).length === 0,
        'the dead holder to leave lookups',
      );
      expect(await a.state.relay(peerId(2), { from: peerId(1), data: 'x', origin: 'o'.repeat(16) })).toBe(false);
      expect(await a.state.open('crowd')).toBeDefined();
      // And every key it wrote expires: only the live node's own remain.
      await eventually(async () => {
        const keys = await keysUnder(prefix);
        const forgotten = (await redis.command('ZSCORE', `${prefix}nodes`, b.state.node)) === '$-1\r\n';
        // The origin key is the deployment's, kept while any node lives.
        const own = [`${prefix}nodes`, `${prefix}c:${a.state.node}`, `${prefix}origin`];
        return forgotten && keys.every((k) => own.includes(k)) && keys;
      }, "the dead node's keys to expire");
      await states[0]!.close();
      expect(await keysUnder(prefix)).toEqual([]);
    });

    it('ignores a message on its channel that is not one of ours, and keeps relaying', async () => {
      const { prefix, states } = await openStates(2, CONTRACT_LIMITS);
      const [a, b] = states.map((s) => new TestNode(s)) as [TestNode, TestNode];
      const bob = await b.socket('addr', peerId(2));
      for (const junk of ['not json', '{"k":"s","to":5}', '{"k":"e","peer":null}', '[]', 'null']) {
        await redis.command('PUBLISH', `${prefix}ch:${b.state.node}`, junk);
      }
      expect(await a.state.relay(peerId(2), { from: peerId(1), data: 'ok', origin: 'o'.repeat(16) })).toBe(true);
      const got = await b.until(() => b.delivered[0], 'the real signal');
      expect(got.conn).toBe(bob.conn);
      expect(b.evicted).toEqual([]);
      for (const state of states) await state.close();
    });

    it('leaves no keys and gives its memory back after many peers come and go', async () => {
      const { prefix, states } = await openStates(2, CONTRACT_LIMITS);
      const nodes = states.map((s) => new TestNode(s));
      const usedBefore = usedMemory(await redis.command('INFO', 'memory'));
      for (let round = 0; round < 3; round++) {
        const sessions = await Promise.all(
          Array.from({ length: 300 }, async (_, i) => {
            const s = await nodes[i % 2]!.socket(`addr-${i % 50}`, peerId(round * 1000 + i));
            await s.announce([`shared-${i % 7}`, `own-${round}-${i}`, `own-${round}-${i}-b`], 10, false);
            return s;
          }),
        );
        expect((await keysUnder(prefix)).length).toBeGreaterThan(600);
        await Promise.all(sessions.map((s) => s.close()));
        // While the nodes live: their registry and the deployment's origin key, nothing of the peers.
        expect((await keysUnder(prefix)).sort()).toEqual([`${prefix}nodes`, `${prefix}origin`]);
      }
      const usedAfter = usedMemory(await redis.command('INFO', 'memory'));
      console.log(
        `redis used_memory: ${usedBefore} B before, ${usedAfter} B after 900 peers with 2,700 topic entries came and went`,
      );
      for (const state of states) await state.close();
      expect(await keysUnder(prefix)).toEqual([]);
    });
  });
});

function usedMemory(info: string): number {
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}
