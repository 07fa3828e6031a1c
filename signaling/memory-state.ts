// The signaling state in this process's memory: the default, and what `npm start` runs. It keeps
// the same tables and the same accounting as server.ts does today (peer id → socket, topic → holder
// or set of holders, counts per address key, the ordinary budget), so the server can move onto
// SignalingState without a change a client could see.
//
// A `MemoryStateHub` holds the tables; each `MemorySignalingState` on it is one "process" (node).
// A server uses one hub with one node. Tests put several nodes on one hub to run the same contract
// as Redis does across processes. Every change is made when the method is called, before its
// promise settles, so one process sees its own changes at once, as it does today.

import { randomBytes } from 'node:crypto';
import {
  freshTopics,
  topicRoom,
  type Announced,
  type RelayedSignal,
  type SignalingState,
  type SocketSession,
  type StateHandlers,
  type StateLimits,
  type StateStats,
} from './state.js';

interface Holder {
  readonly node: MemorySignalingState;
  readonly conn: string;
}

/** The shared tables. Most topics have one holder: a set per topic would double what one costs. */
export class MemoryStateHub {
  readonly peers = new Map<string, Holder>();
  readonly topics = new Map<string, string | Set<string>>();
  readonly perAddress = new Map<string, number>();
  readonly topicsPerAddress = new Map<string, number>();
  /** Topic entries of ordinary sockets (the budgeted ones). */
  ordinaryEntries = 0;

  addHolder(topic: string, peer: string): void {
    const holders = this.topics.get(topic);
    if (holders === undefined) this.topics.set(topic, peer);
    else if (typeof holders !== 'string') holders.add(peer);
    else if (holders !== peer) this.topics.set(topic, new Set([holders, peer]));
  }

  removeHolder(topic: string, peer: string): void {
    const holders = this.topics.get(topic);
    if (holders === undefined) return;
    if (typeof holders === 'string') {
      if (holders === peer) this.topics.delete(topic);
      return;
    }
    holders.delete(peer);
    if (holders.size === 1) this.topics.set(topic, holders.values().next().value!);
    else if (holders.size === 0) this.topics.delete(topic);
  }

  holdersOf(topic: string): string[] {
    const holders = this.topics.get(topic);
    if (holders === undefined) return [];
    return typeof holders === 'string' ? [holders] : [...holders];
  }

  countTopics(key: string, delta: number): void {
    this.ordinaryEntries += delta;
    bump(this.topicsPerAddress, key, delta);
  }
}

function bump(map: Map<string, number>, key: string, delta: number): void {
  const left = (map.get(key) ?? 0) + delta;
  if (left > 0) map.set(key, left);
  else map.delete(key);
}

class MemorySession implements SocketSession {
  peer: string | undefined;
  readonly topics = new Set<string>();
  /** Fixed at the first announce, as the server fixes a socket's cap once. */
  private trusted: boolean | undefined;
  private closed = false;

  constructor(
    private readonly state: MemorySignalingState,
    private readonly hub: MemoryStateHub,
    readonly conn: string,
    private readonly key: string,
    private readonly internal: boolean,
  ) {}

  async claim(peer: string): Promise<void> {
    if (this.closed) return;
    const holder = this.hub.peers.get(peer);
    // The older socket is evicted first: its process forgets it (and what it announced) at once.
    if (holder && (holder.node !== this.state || holder.conn !== this.conn)) holder.node.evictLocal(holder.conn);
    this.peer = peer;
    this.hub.peers.set(peer, { node: this.state, conn: this.conn });
  }

  async announce(topics: readonly string[], cap: number, trusted: boolean): Promise<Announced> {
    const peer = this.peer;
    if (this.closed || peer === undefined) return { accepted: [] };
    this.trusted ??= trusted;
    const fresh = freshTopics(this.topics, topics);
    if (fresh.length === 0) return { accepted: [] };
    const limits = this.state.limits;
    const { take, refused } = topicRoom(
      fresh.length,
      cap - this.topics.size,
      this.trusted
        ? undefined
        : {
            addressRoom: limits.maxTopicsPerAddress - (this.hub.topicsPerAddress.get(this.key) ?? 0),
            budgetRoom: limits.maxTopicEntries - this.hub.ordinaryEntries,
          },
    );
    const accepted = fresh.slice(0, take);
    for (const topic of accepted) {
      this.topics.add(topic);
      this.hub.addHolder(topic, peer);
    }
    this.count(accepted.length);
    return refused ? { accepted, refused } : { accepted };
  }

  async withdraw(topics: readonly string[]): Promise<void> {
    for (const topic of topics) this.drop(topic);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.state.sessions.delete(this.conn);
    if (!this.internal) bump(this.hub.perAddress, this.key, -1);
    for (const topic of [...this.topics]) this.drop(topic);
    const holder = this.peer === undefined ? undefined : this.hub.peers.get(this.peer);
    if (holder && holder.node === this.state && holder.conn === this.conn) this.hub.peers.delete(this.peer!);
  }

  private drop(topic: string): void {
    if (!this.topics.delete(topic)) return;
    this.count(-1);
    if (this.peer !== undefined) this.hub.removeHolder(topic, this.peer);
  }

  private count(delta: number): void {
    if (delta === 0) return;
    if (this.trusted) this.state.trustedEntries += delta;
    else {
      this.state.ordinaryEntries += delta;
      this.hub.countTopics(this.key, delta);
    }
  }
}

export class MemorySignalingState implements SignalingState {
  readonly node = randomBytes(9).toString('base64url');
  readonly sessions = new Map<string, MemorySession>();
  ordinaryEntries = 0;
  trustedEntries = 0;
  private handlers: StateHandlers | undefined;
  private nextConn = 0;

  constructor(
    readonly limits: StateLimits,
    private readonly hub: MemoryStateHub = new MemoryStateHub(),
  ) {}

  setHandlers(handlers: StateHandlers): void {
    this.handlers = handlers;
  }

  async open(key: string, options: { internal?: boolean } = {}): Promise<SocketSession | undefined> {
    const internal = options.internal === true;
    if (!internal) {
      const fromAddress = this.hub.perAddress.get(key) ?? 0;
      if (fromAddress >= this.limits.maxSocketsPerAddress) return undefined;
      this.hub.perAddress.set(key, fromAddress + 1);
    }
    const conn = (this.nextConn++).toString(36);
    const session = new MemorySession(this, this.hub, conn, key, internal);
    this.sessions.set(conn, session);
    return session;
  }

  async lookup(topic: string, limit: number): Promise<string[]> {
    const holders = this.hub.holdersOf(topic);
    if (holders.length <= limit) return holders;
    // A random `limit` of them: the first `limit` places of a partial shuffle.
    for (let i = 0; i < limit; i++) {
      const j = i + Math.floor(Math.random() * (holders.length - i));
      [holders[i], holders[j]] = [holders[j]!, holders[i]!];
    }
    return holders.slice(0, Math.max(0, limit));
  }

  async relay(to: string, signal: RelayedSignal): Promise<boolean> {
    const holder = this.hub.peers.get(to);
    if (!holder) return false;
    holder.node.handlers?.deliver(holder.conn, signal);
    return true;
  }

  stats(): StateStats {
    let peers = 0;
    for (const session of this.sessions.values())
      if (session.peer !== undefined && this.hub.peers.get(session.peer)?.conn === session.conn) peers++;
    return {
      sessions: this.sessions.size,
      peers,
      ordinaryEntries: this.ordinaryEntries,
      trustedEntries: this.trustedEntries,
      topics: this.hub.topics.size,
    };
  }

  async close(): Promise<void> {
    for (const session of [...this.sessions.values()]) await session.close();
  }

  /** Tells this node's server to close socket `conn`; called by the hub's other sessions. */
  evictLocal(conn: string): void {
    if (this.sessions.has(conn)) this.handlers?.evict(conn);
  }
}
