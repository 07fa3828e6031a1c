// The signaling state in Redis, shared by several signaling processes (nodes).
//
// Dev docs. Keys, under a prefix (default "mycel:"):
//   nodes          ZSET  node id → heartbeat expiry (ms). A node whose expiry passed is dead: its
//                        holders are left out of lookups and its sockets out of every count at once.
//                        Dead members stay until their holders could have expired, then go.
//   c:<node>       HASH  that node's counts, written only by it: "s:<addr>" sockets and
//                        "t:<addr>" ordinary topic entries per address key, "T" all its ordinary
//                        entries. Limits are checked against the sum over live nodes, inside a
//                        script, so they hold across processes. Expires with the node.
//   p:<peer>       STR   "<node> <conn>": the socket speaking for a peer id; PX presenceTtlMs,
//                        refreshed every presenceRefreshMs (the ping).
//   t:<topic>      ZSET  "<peer> <node> <conn>" → expiry (ms). Lookup is one ZRANGE … BYSCORE
//                        read of the freshest entries; entries past their expiry are pruned on
//                        every announce to the topic, entries of dead nodes when a lookup meets them.
//                        Each node re-adds its own entries every holderRefreshMs; the key expires
//                        holderTtlMs after its last add.
//   origin         STR   the key of the origin tags every node puts on relayed signals (one address,
//                        one tag, whichever node it reaches); kept by each heartbeat (PX nodeTtlMs),
//                        deleted by the last node to close.
//   ch:<node>      pub/sub channel: signals for peers on that node and evictions of its sockets.
//                  One channel per node, never a broadcast: a message costs one PUBLISH to one
//                  subscriber. Pub/sub rather than a stream: a signal is only useful for seconds,
//                  a lost one costs one connection attempt that the client retries, and a stream
//                  would keep messages for dead nodes that someone must trim.
//
// Redis work per message is constant: a socket or an announce is one script (a few reads per live
// node, one write per topic the message names); a lookup one read; a relay one script; a
// withdraw one ZREM per topic plus one script, pipelined.
//
// This process's own account is the truth for what it holds (sessions, peers, topics, counts):
// Redis is told, and when a connection comes back (Redis restarted, or the network did) every
// node re-asserts all of it — heartbeat, counts, presence, holders — which is idempotent, so it
// does not matter whether Redis lost anything. Writes that failed while Redis was away (a socket
// closed, a topic withdrawn) are kept in a bounded backlog and replayed then. The client
// (@redis/client) reconnects with a capped backoff and resubscribes the channel by itself;
// commands made while it is offline fail at once (StateUnavailableError) rather than queue.
//
// Scripts read the count hashes of other nodes by name, so this works on one Redis (or a primary
// with replicas and Sentinel), not on Redis Cluster.

import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createClient, type RedisClientOptions } from '@redis/client';
import { quietLog, type Logger } from '../src/log.js';
import {
  StateUnavailableError,
  freshTopics,
  type Announced,
  type RelayedSignal,
  type SignalingState,
  type SocketSession,
  type StateHandlers,
  type StateLimits,
  type StateStats,
  type TopicRefusal,
} from './state.js';

export interface RedisTimings {
  /** A node refreshes its heartbeat this often, and is dead once nodeTtlMs pass without one. */
  readonly heartbeatMs: number;
  readonly nodeTtlMs: number;
  /** Presence keys live this long and are refreshed this often (the server's ping interval). */
  readonly presenceTtlMs: number;
  readonly presenceRefreshMs: number;
  /** Holder entries live this long and are re-added this often. */
  readonly holderTtlMs: number;
  readonly holderRefreshMs: number;
  /** Reconnect attempts back off from the first delay, doubling, up to the most. */
  readonly reconnectFirstDelayMs: number;
  readonly reconnectMaxDelayMs: number;
  readonly connectTimeoutMs: number;
}

export const DEFAULT_REDIS_TIMINGS: RedisTimings = {
  heartbeatMs: 5_000,
  nodeTtlMs: 15_000,
  presenceTtlMs: 45_000,
  presenceRefreshMs: 15_000,
  holderTtlMs: 30 * 60_000,
  holderRefreshMs: 10 * 60_000,
  reconnectFirstDelayMs: 50,
  reconnectMaxDelayMs: 1_000,
  connectTimeoutMs: 5_000,
};

/** Live nodes a script reads at most: a deployment runs a handful of signaling processes. */
export const MAX_NODES = 64;
/** Topic keys one script call names at most; longer lists are split. */
const KEYS_PER_CALL = 500;
/** Batched scripts (re-assertion, refresh) in flight at once. */
const CALLS_IN_FLIGHT = 8;
/** A lookup reads this many times `limit` entries, so dead or duplicate ones still leave enough. */
const LOOKUP_READ_FACTOR = 2;
/** Cleanups (holder entries, presence keys) kept while Redis is away; past this they just expire. */
export const MAX_CLEANUP_BACKLOG = 100_000;

export interface RedisStateOptions {
  /** redis://…, rediss://… or unix:///path/to/redis.sock */
  readonly url: string;
  readonly limits: StateLimits;
  /** Prefix of every key and channel, so deployments (or tests) can share one Redis. */
  readonly prefix?: string;
  readonly timings?: Partial<RedisTimings>;
  readonly log?: Logger;
}

class Script {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

const ADMIT = new Script(`
-- KEYS: nodes, own counts. ARGV: now, field, limit, counts prefix, node, node ttl, max nodes
local total = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
local live = redis.call('ZRANGE', KEYS[1], ARGV[1], '+inf', 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[7]))
for _, n in ipairs(live) do
  if n ~= ARGV[5] then total = total + tonumber(redis.call('HGET', ARGV[4] .. n, ARGV[2]) or '0') end
end
if total >= tonumber(ARGV[3]) then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 1
`);

const ANNOUNCE = new Script(`
-- KEYS: nodes, own counts, topic keys. ARGV: now, expiry, holder ttl, member, trusted (0/1),
-- socket room, address field, address limit, budget, counts prefix, node, node ttl, max nodes
local wanted = #KEYS - 2
local room = tonumber(ARGV[6])
local why = 'socket'
if ARGV[5] == '0' then
  local addr = tonumber(redis.call('HGET', KEYS[2], ARGV[7]) or '0')
  local total = tonumber(redis.call('HGET', KEYS[2], 'T') or '0')
  local live = redis.call('ZRANGE', KEYS[1], ARGV[1], '+inf', 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[13]))
  for _, n in ipairs(live) do
    if n ~= ARGV[11] then
      local c = redis.call('HMGET', ARGV[10] .. n, ARGV[7], 'T')
      addr = addr + tonumber(c[1] or '0')
      total = total + tonumber(c[2] or '0')
    end
  end
  if tonumber(ARGV[8]) - addr < room then room = tonumber(ARGV[8]) - addr; why = 'address' end
  if tonumber(ARGV[9]) - total < room then room = tonumber(ARGV[9]) - total; why = 'budget' end
end
local take = math.min(wanted, math.max(0, room))
for i = 1, take do
  local key = KEYS[i + 2]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. ARGV[1])
  redis.call('ZADD', key, ARGV[2], ARGV[4])
  redis.call('PEXPIRE', key, ARGV[3])
end
if ARGV[5] == '0' and take > 0 then
  redis.call('HINCRBY', KEYS[2], ARGV[7], take)
  redis.call('HINCRBY', KEYS[2], 'T', take)
  redis.call('PEXPIRE', KEYS[2], ARGV[12])
end
if take < wanted then return {take, why} end
return {take}
`);

const RELEASE_COUNTS = new Script(`
-- KEYS: own counts. ARGV: node ttl, then field, delta pairs
for i = 2, #ARGV, 2 do
  local v = redis.call('HINCRBY', KEYS[1], ARGV[i], tonumber(ARGV[i + 1]))
  if v <= 0 then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`);

const REASSERT_COUNTS = new Script(`
-- KEYS: own counts. ARGV: node ttl, then field, value pairs (this node's whole account)
redis.call('DEL', KEYS[1])
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`);

const CLAIM = new Script(`
-- KEYS: presence. ARGV: "<node> <conn>", ttl, node, channel prefix, peer
local old = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'GET')
if old and old ~= ARGV[1] then
  local node, conn = string.match(old, '^(%S+) (%S+)$')
  if node and node ~= ARGV[3] then
    redis.call('PUBLISH', ARGV[4] .. node, '{"k":"e","peer":"' .. ARGV[5] .. '","conn":"' .. conn .. '"}')
  end
end
return old
`);

const RELEASE_PRESENCE = new Script(`
-- KEYS: presence. ARGV: "<node> <conn>"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);

const REFRESH_PRESENCE = new Script(`
-- KEYS: presence keys. ARGV: ttl, then "<node> <conn>" per key. Per key, 0 when another socket
-- holds that peer id now.
local mine = {}
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v == false or v == ARGV[i + 1] then
    redis.call('SET', KEYS[i], ARGV[i + 1], 'PX', ARGV[1])
    mine[i] = 1
  else
    mine[i] = 0
  end
end
return mine
`);

const RELAY = new Script(`
-- KEYS: presence, nodes. ARGV: now, node, channel prefix, payload.
-- 0: no live socket; 1: published to its node; 2: Redis says it is on this node.
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local node = string.match(v, '^(%S+) ')
if not node then return 0 end
if node == ARGV[2] then return 2 end
local alive = redis.call('ZSCORE', KEYS[2], node)
if not alive or tonumber(alive) < tonumber(ARGV[1]) then return 0 end
if redis.call('PUBLISH', ARGV[3] .. node, ARGV[4]) == 0 then return 0 end
return 1
`);

const HEARTBEAT = new Script(`
-- KEYS: nodes, own counts. ARGV: node, now, expiry, node ttl, forget dead before, nodes ttl, max nodes.
-- Returns the dead nodes.
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return redis.call('ZRANGE', KEYS[1], '-inf', '(' .. ARGV[2], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[7]))
`);

const HOLD = new Script(`
-- KEYS: topic keys. ARGV: expiry, holder ttl, then the member per key
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[1], ARGV[i + 2])
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
return #KEYS
`);

type Client = ReturnType<typeof createClient>;

function clientOptions(url: string, timings: RedisTimings): RedisClientOptions {
  const socket = {
    connectTimeout: timings.connectTimeoutMs,
    reconnectStrategy: (retries: number) =>
      Math.min(timings.reconnectFirstDelayMs * 2 ** Math.min(retries, 10), timings.reconnectMaxDelayMs),
  };
  if (url.startsWith('unix://'))
    return { socket: { ...socket, path: url.slice('unix://'.length) }, disableOfflineQueue: true };
  return { url, socket, disableOfflineQueue: true };
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

/** For a `.catch` whose failure is reported elsewhere or harmless (each call site says why). */
function nothing(): void {
  return undefined;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

class RedisSession implements SocketSession {
  peer: string | undefined;
  readonly topics = new Set<string>();
  trusted: boolean | undefined;
  closed = false;
  /** Operations on one socket run in order: an announce and its withdraw must not cross. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly state: RedisSignalingState,
    readonly conn: string,
    readonly key: string,
    readonly internal: boolean,
  ) {}

  /** "<node> <conn>": the presence value of this socket. */
  get presence(): string {
    return `${this.state.node} ${this.conn}`;
  }

  /** "<peer> <node> <conn>": this socket's member in topic sets. */
  get member(): string {
    return `${this.peer} ${this.state.node} ${this.conn}`;
  }

  claim(peer: string): Promise<void> {
    return this.serial(() => this.state.claim(this, peer), undefined);
  }

  announce(topics: readonly string[], cap: number, trusted: boolean): Promise<Announced> {
    return this.serial(() => this.state.announce(this, topics, cap, trusted), { accepted: [] });
  }

  withdraw(topics: readonly string[]): Promise<void> {
    return this.serial(() => this.state.withdraw(this, topics), undefined);
  }

  close(): Promise<void> {
    if (this.closed) return this.queue.then(nothing);
    this.closed = true;
    const release = this.queue.then(() => this.state.release(this));
    // The caller of close() sees the failure; the queue only orders what comes after.
    this.queue = release.catch(nothing);
    return release;
  }

  /** Runs `work` after the operations before it; a closed session does nothing (as in memory). */
  private serial<T>(work: () => Promise<T>, closed: T): Promise<T> {
    const run = this.queue.then(() => (this.closed ? closed : work()));
    // The caller of work() sees its failure; the queue only orders what comes after.
    this.queue = run.catch(nothing);
    return run;
  }
}

export class RedisSignalingState implements SignalingState {
  readonly node = randomBytes(9).toString('base64url');
  readonly limits: StateLimits;
  readonly timings: RedisTimings;
  /** 'resynced' (ms it took) after a reconnect re-asserted everything; 'offline' when Redis went away. */
  readonly events = new EventEmitter();
  private readonly prefix: string;
  private readonly log: Logger;
  private readonly client: Client;
  private readonly subscriber: Client;
  private readonly sessions = new Map<string, RedisSession>();
  /** Peer id → conn of the local socket speaking for it. */
  private readonly localPeers = new Map<string, string>();
  /** This node's counts, as it wrote them to c:<node>. */
  private readonly counts = new Map<string, number>();
  private ordinaryEntries = 0;
  private trustedEntries = 0;
  private dead = new Set<string>();
  /** Holder entries ("<topic>\n<member>") and presence values (peer → value) Redis still has to drop. */
  private readonly staleHolders = new Set<string>();
  private readonly stalePresence = new Map<string, string>();
  private handlers: StateHandlers | undefined;
  private nextConn = 0;
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private resyncing: Promise<void> | undefined;
  private resyncAgain = false;
  private connected = false;
  private closed = false;

  originKey: Uint8Array | undefined;

  private constructor(private readonly options: RedisStateOptions) {
    this.limits = options.limits;
    this.timings = { ...DEFAULT_REDIS_TIMINGS, ...options.timings };
    this.prefix = options.prefix ?? 'mycel:';
    this.log = options.log ?? quietLog;
    this.client = createClient(clientOptions(options.url, this.timings));
    this.subscriber = this.client.duplicate();
  }

  /** Connects, registers this node and subscribes its channel. */
  static async open(options: RedisStateOptions): Promise<RedisSignalingState> {
    const state = new RedisSignalingState(options);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StateUnavailableError(`no answer from Redis at ${redactUrl(options.url)}`)),
        state.timings.connectTimeoutMs,
      );
    });
    const starting = state.start();
    try {
      await Promise.race([starting, timeout]);
      return state;
    } catch (error) {
      // The client would retry forever: a process that cannot reach Redis at start says so and stops.
      starting.catch(nothing);
      state.abandon();
      if (error instanceof StateUnavailableError) throw error;
      throw new StateUnavailableError(`Redis at ${redactUrl(options.url)}: ${(error as Error)?.message}`, {
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  private key(kind: 'nodes' | 'origin'): string;
  private key(kind: 'c' | 'p' | 't' | 'ch', name: string): string;
  private key(kind: string, name?: string): string {
    return name === undefined ? this.prefix + kind : `${this.prefix}${kind}:${name}`;
  }

  private async start(): Promise<void> {
    for (const [name, client] of [
      ['commands', this.client],
      ['subscriber', this.subscriber],
    ] as const) {
      client.on('error', (error: Error) => {
        if (this.connected) this.log.warn('redis connection lost', { connection: name, error: error.message });
        if (this.connected && !this.closed) this.events.emit('offline');
        this.connected = false;
      });
    }
    await this.client.connect();
    await this.subscriber.connect();
    await this.subscriber.subscribe(this.key('ch', this.node), (message) => this.onMessage(message));
    await this.heartbeat();
    // The first process draws the key; every later one (and every restart) reads the same.
    const origin = this.key('origin');
    await this.client.sendCommand([
      'SET',
      origin,
      randomBytes(32).toString('base64'),
      'NX',
      'PX',
      String(this.timings.nodeTtlMs),
    ]);
    const key = await this.client.sendCommand<string | null>(['GET', origin]);
    this.originKey = key === null ? randomBytes(32) : Buffer.from(key, 'base64');
    this.connected = true;
    // Every later 'ready' is a reconnect: Redis may have lost everything.
    this.client.on('ready', () => this.scheduleResync());
    this.subscriber.on('ready', () => this.scheduleResync());
    const every = (ms: number, work: () => Promise<unknown>) => {
      const timer = setInterval(() => {
        if (this.connected)
          work().catch((error) => this.log.debug('periodic redis work failed', { error: (error as Error).message }));
      }, ms);
      timer.unref?.();
      this.timers.push(timer);
    };
    every(this.timings.heartbeatMs, () => this.heartbeat());
    every(this.timings.presenceRefreshMs, () => this.refreshPresence());
    every(this.timings.holderRefreshMs, () => this.reassertHolders());
  }

  setHandlers(handlers: StateHandlers): void {
    this.handlers = handlers;
  }

  async open(key: string, options: { internal?: boolean } = {}): Promise<SocketSession | undefined> {
    this.assertOpen();
    const internal = options.internal === true;
    if (!internal) {
      const field = `s:${key}`;
      const admitted = await this.run(
        ADMIT,
        [this.key('nodes'), this.key('c', this.node)],
        [
          Date.now(),
          field,
          this.limits.maxSocketsPerAddress,
          this.key('c', ''),
          this.node,
          this.timings.nodeTtlMs,
          MAX_NODES,
        ],
      );
      if (admitted !== 1) return undefined;
      this.bumpCount(field, 1);
    }
    const session = new RedisSession(this, (this.nextConn++).toString(36), key, internal);
    this.sessions.set(session.conn, session);
    return session;
  }

  async lookup(topic: string, limit: number): Promise<string[]> {
    this.assertOpen();
    if (limit <= 0) return [];
    const key = this.key('t', topic);
    const members = await this.call<string[]>(() =>
      this.client.sendCommand<string[]>([
        'ZRANGE',
        key,
        '+inf',
        `(${Date.now()}`,
        'BYSCORE',
        'REV',
        'LIMIT',
        '0',
        String(limit * LOOKUP_READ_FACTOR),
      ]),
    );
    const peers = new Set<string>();
    const gone: string[] = [];
    for (const member of members) {
      const [peer, node] = member.split(' ');
      if (!peer || !node) continue;
      if (this.dead.has(node)) gone.push(member);
      else if (peers.size < limit) peers.add(peer);
    }
    // Entries of dead nodes are pruned when met; a failure here only leaves them to expire.
    // Pruning is tidiness: a holder left behind expires by its score and is pruned by the next lookup.
    if (gone.length > 0) this.client.sendCommand(['ZREM', key, ...gone]).catch(nothing);
    return [...peers];
  }

  async relay(to: string, signal: RelayedSignal): Promise<boolean> {
    this.assertOpen();
    const local = this.localPeers.get(to);
    if (local !== undefined) {
      this.handlers?.deliver(local, signal);
      return true;
    }
    const payload = JSON.stringify({ k: 's', to, from: signal.from, data: signal.data, origin: signal.origin });
    const sent = await this.run(
      RELAY,
      [this.key('p', to), this.key('nodes')],
      [Date.now(), this.node, this.key('ch', ''), payload],
    );
    return sent === 1;
  }

  stats(): StateStats {
    return {
      sessions: this.sessions.size,
      peers: this.localPeers.size,
      ordinaryEntries: this.ordinaryEntries,
      trustedEntries: this.trustedEntries,
    };
  }

  /** True while both connections to Redis are up. */
  get online(): boolean {
    return this.connected && this.client.isReady && this.subscriber.isReady;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const session of [...this.sessions.values()]) await session.close().catch(nothing); // Closing the state: the keys expire anyway.
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    await Promise.allSettled([this.resyncing]);
    if (this.client.isReady) {
      await Promise.allSettled([
        this.client.sendCommand(['ZREM', this.key('nodes'), this.node]),
        this.client.sendCommand(['DEL', this.key('c', this.node)]),
      ]);
      // The last live node takes the origin key with it (else it expires a node TTL later).
      const live = await this.client
        .sendCommand<number>(['ZCOUNT', this.key('nodes'), String(Date.now()), '+inf'])
        .catch(() => 1);
      if (live === 0) await this.client.sendCommand(['DEL', this.key('origin')]).catch(nothing);
    }
    await Promise.allSettled([this.subscriber.close(), this.client.close()]);
  }

  /**
   * Drops both connections without a word to Redis, as a killed process would: for tests of what
   * other nodes see when one dies.
   */
  abandon(): void {
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    for (const client of [this.client, this.subscriber]) {
      try {
        client.destroy();
      } catch {
        // Never connected: nothing to destroy.
      }
    }
  }

  // Session operations (called through RedisSession, one at a time per socket).

  async claim(session: RedisSession, peer: string): Promise<void> {
    const old = (await this.run(
      CLAIM,
      [this.key('p', peer)],
      [`${this.node} ${session.conn}`, this.timings.presenceTtlMs, this.node, this.key('ch', ''), peer],
    )) as string | null;
    session.peer = peer;
    this.localPeers.set(peer, session.conn);
    this.stalePresence.delete(peer);
    if (old === null || old === session.presence) return;
    const [node, conn] = old.split(' ');
    // Another node was told by the script; a socket of this node is evicted here, before we answer.
    if (node === this.node && conn !== undefined && conn !== session.conn && this.sessions.has(conn))
      this.handlers?.evict(conn);
  }

  async announce(session: RedisSession, topics: readonly string[], cap: number, trusted: boolean): Promise<Announced> {
    if (session.peer === undefined) return { accepted: [] };
    session.trusted ??= trusted;
    const fresh = freshTopics(session.topics, topics);
    const accepted: string[] = [];
    let refused: TopicRefusal | undefined;
    for (const batch of chunks(fresh, KEYS_PER_CALL)) {
      const now = Date.now();
      const reply = (await this.run(
        ANNOUNCE,
        [this.key('nodes'), this.key('c', this.node), ...batch.map((t) => this.key('t', t))],
        [
          now,
          now + this.timings.holderTtlMs,
          this.timings.holderTtlMs,
          session.member,
          session.trusted ? 1 : 0,
          cap - session.topics.size,
          `t:${session.key}`,
          this.limits.maxTopicsPerAddress,
          this.limits.maxTopicEntries,
          this.key('c', ''),
          this.node,
          this.timings.nodeTtlMs,
          MAX_NODES,
        ],
      )) as [number, TopicRefusal?];
      const taken = batch.slice(0, reply[0]);
      for (const topic of taken) {
        session.topics.add(topic);
        this.staleHolders.delete(`${topic}\n${session.member}`);
      }
      accepted.push(...taken);
      this.countTopics(session, taken.length);
      if (reply[1]) {
        refused = reply[1];
        break;
      }
    }
    return refused ? { accepted, refused } : { accepted };
  }

  async withdraw(session: RedisSession, topics: readonly string[]): Promise<void> {
    const held = [...new Set(topics)].filter((t) => session.topics.has(t));
    if (held.length === 0) return;
    for (const topic of held) session.topics.delete(topic);
    this.countTopics(session, -held.length);
    await this.dropHolders(session, held, session.trusted ? [] : [`t:${session.key}`, 'T']);
  }

  /** Everything a closing socket gives back; what Redis could not be told waits for the next resync. */
  async release(session: RedisSession): Promise<void> {
    this.sessions.delete(session.conn);
    const fields: string[] = [];
    if (!session.internal) {
      this.bumpCount(`s:${session.key}`, -1);
      fields.push(`s:${session.key}`);
    }
    const topics = [...session.topics];
    session.topics.clear();
    this.countTopics(session, -topics.length);
    if (!session.trusted && topics.length > 0) fields.push(`t:${session.key}`, 'T');
    const work: Promise<unknown>[] = [];
    if (session.peer !== undefined && this.localPeers.get(session.peer) === session.conn) {
      this.localPeers.delete(session.peer);
      const peer = session.peer;
      work.push(
        this.run(RELEASE_PRESENCE, [this.key('p', peer)], [session.presence]).catch(() => {
          if (this.stalePresence.size < MAX_CLEANUP_BACKLOG) this.stalePresence.set(peer, session.presence);
        }),
      );
    }
    if (topics.length > 0 || fields.length > 0)
      // A holder not dropped expires by its score; the backlog replays what a lost Redis missed.
      work.push(this.dropHolders(session, topics, fields).catch(nothing));
    await Promise.all(work);
  }

  private async dropHolders(
    session: RedisSession,
    topics: readonly string[],
    fields: readonly string[],
  ): Promise<void> {
    const member = session.member;
    const pairs: (string | number)[] = [];
    for (const field of fields) pairs.push(field, field === 'T' || field.startsWith('t:') ? -topics.length : -1);
    try {
      await Promise.all([
        ...topics.map((t) => this.call(() => this.client.sendCommand(['ZREM', this.key('t', t), member]))),
        ...(pairs.length > 0
          ? [this.run(RELEASE_COUNTS, [this.key('c', this.node)], [this.timings.nodeTtlMs, ...pairs])]
          : []),
      ]);
    } catch (error) {
      // Counts are rewritten whole at the next resync; the holder entries are remembered.
      for (const topic of topics)
        if (this.staleHolders.size < MAX_CLEANUP_BACKLOG) this.staleHolders.add(`${topic}\n${member}`);
      throw error;
    }
  }

  private countTopics(session: RedisSession, delta: number): void {
    if (delta === 0) return;
    if (session.trusted) {
      this.trustedEntries += delta;
      return;
    }
    this.ordinaryEntries += delta;
    this.bumpCount(`t:${session.key}`, delta);
    this.bumpCount('T', delta);
  }

  private bumpCount(field: string, delta: number): void {
    const left = (this.counts.get(field) ?? 0) + delta;
    if (left > 0) this.counts.set(field, left);
    else this.counts.delete(field);
  }

  // Messages from other nodes.

  private onMessage(message: string): void {
    let parsed: {
      k?: unknown;
      to?: unknown;
      from?: unknown;
      data?: unknown;
      origin?: unknown;
      peer?: unknown;
      conn?: unknown;
    };
    try {
      parsed = JSON.parse(message);
    } catch {
      this.log.warn("unreadable message on this node's channel", { bytes: message.length });
      return;
    }
    if (
      parsed?.k === 's' &&
      typeof parsed.to === 'string' &&
      typeof parsed.from === 'string' &&
      typeof parsed.origin === 'string'
    ) {
      const conn = this.localPeers.get(parsed.to);
      if (conn !== undefined)
        this.handlers?.deliver(conn, { from: parsed.from, data: parsed.data, origin: parsed.origin });
      return;
    }
    if (parsed?.k === 'e' && typeof parsed.peer === 'string' && typeof parsed.conn === 'string') {
      if (this.sessions.get(parsed.conn)?.peer === parsed.peer) this.handlers?.evict(parsed.conn);
    }
  }

  // Keeping Redis told.

  private async heartbeat(): Promise<void> {
    const now = Date.now();
    const dead = (await this.run(
      HEARTBEAT,
      [this.key('nodes'), this.key('c', this.node)],
      [
        this.node,
        now,
        now + this.timings.nodeTtlMs,
        this.timings.nodeTtlMs,
        now - this.timings.holderTtlMs,
        this.timings.holderTtlMs + this.timings.nodeTtlMs,
        MAX_NODES,
      ],
    )) as string[];
    this.dead = new Set(dead);
    // The origin key lives while any node does: each heartbeat keeps it.
    await this.call(() => this.client.sendCommand(['PEXPIRE', this.key('origin'), String(this.timings.nodeTtlMs)]));
  }

  private async refreshPresence(): Promise<void> {
    const ttl = this.timings.presenceTtlMs;
    await this.inBatches([...this.localPeers], async (batch) => {
      const mine = (await this.run(
        REFRESH_PRESENCE,
        batch.map(([peer]) => this.key('p', peer)),
        [ttl, ...batch.map(([, conn]) => `${this.node} ${conn}`)],
      )) as number[];
      batch.forEach(([peer, conn], i) => {
        // Another socket proved this id while we could not hear about it: this one is stale.
        if (mine[i] === 0 && this.localPeers.get(peer) === conn) this.handlers?.evict(conn);
      });
    });
  }

  private async reassertHolders(): Promise<void> {
    const entries: [string, string][] = [];
    for (const session of this.sessions.values()) {
      if (session.peer === undefined) continue;
      for (const topic of session.topics) entries.push([this.key('t', topic), session.member]);
    }
    await this.inBatches(entries, (batch) =>
      this.run(
        HOLD,
        batch.map(([key]) => key),
        [Date.now() + this.timings.holderTtlMs, this.timings.holderTtlMs, ...batch.map(([, member]) => member)],
      ),
    );
  }

  /** Runs `work` on slices of KEYS_PER_CALL items, a bounded number at once (pipelined). */
  private async inBatches<T>(items: readonly T[], work: (batch: T[]) => Promise<unknown>): Promise<void> {
    const batches = chunks(items, KEYS_PER_CALL);
    let next = 0;
    const worker = async () => {
      while (next < batches.length) await work(batches[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(CALLS_IN_FLIGHT, batches.length) }, worker));
  }

  private scheduleResync(): void {
    if (this.closed) return;
    if (this.resyncing) {
      this.resyncAgain = true;
      return;
    }
    this.resyncing = this.resync().finally(() => {
      this.resyncing = undefined;
      if (this.resyncAgain) {
        this.resyncAgain = false;
        this.scheduleResync();
      }
    });
  }

  /** After a reconnect: tells Redis everything this node holds again (each step is idempotent). */
  private async resync(): Promise<void> {
    if (!this.client.isReady || !this.subscriber.isReady) return;
    const started = performance.now();
    try {
      await this.heartbeat();
      // A Redis that lost the origin key gets this node's back, so tags stay what they were.
      if (this.originKey)
        await this.call(() =>
          this.client.sendCommand([
            'SET',
            this.key('origin'),
            Buffer.from(this.originKey!).toString('base64'),
            'NX',
            'PX',
            String(this.timings.nodeTtlMs),
          ]),
        );
      const pairs: (string | number)[] = [];
      for (const [field, value] of this.counts) pairs.push(field, value);
      await this.run(REASSERT_COUNTS, [this.key('c', this.node)], [this.timings.nodeTtlMs, ...pairs]);
      await Promise.all(
        [...this.stalePresence].map(([peer, value]) =>
          this.run(RELEASE_PRESENCE, [this.key('p', peer)], [value]).then(() => this.stalePresence.delete(peer)),
        ),
      );
      await Promise.all(
        [...this.staleHolders].map((entry) => {
          const [topic, member] = entry.split('\n') as [string, string];
          return this.call(() => this.client.sendCommand(['ZREM', this.key('t', topic), member])).then(() =>
            this.staleHolders.delete(entry),
          );
        }),
      );
      await this.refreshPresence();
      await this.reassertHolders();
      this.connected = true;
      const ms = performance.now() - started;
      this.log.info('redis state re-asserted after reconnect', {
        ms: Math.round(ms),
        peers: this.localPeers.size,
        sessions: this.sessions.size,
      });
      this.events.emit('resynced', ms);
    } catch (error) {
      // The connection dropped again: its next 'ready' starts over.
      this.log.debug('resync interrupted', { error: (error as Error).message });
    }
  }

  private async run(script: Script, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    const tail = [String(keys.length), ...keys, ...args.map(String)];
    return this.call(async () => {
      try {
        return await this.client.sendCommand(['EVALSHA', script.sha, ...tail]);
      } catch (error) {
        // A restarted Redis has forgotten its scripts: EVAL loads it again.
        if (!String((error as Error)?.message).startsWith('NOSCRIPT')) throw error;
        return await this.client.sendCommand(['EVAL', script.source, ...tail]);
      }
    });
  }

  private async call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw new StateUnavailableError((error as Error)?.message ?? String(error), { cause: error });
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new StateUnavailableError('state closed');
  }
}
