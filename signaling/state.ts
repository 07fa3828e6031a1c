// What the signaling server shares between its sockets, behind one narrow interface so the server's
// logic is written once: in memory for one process (memory-state.ts, the default), or in Redis for
// several processes behind a load balancer (redis-state.ts).
//
// Dev docs. The state owns what must agree across processes: which socket speaks for a peer id
// (presence), which peers hold a topic, how many sockets and topic entries each address has, the
// ordinary topic budget, and carrying a signal to the socket of a peer wherever it is. The server
// keeps what is only ever one socket's: its WebSocket, token bucket, strikes, challenge, cap.
//
// A socket gets a `SocketSession` when it is admitted (`open`), and everything it does goes through
// it: `claim` at hello, `announce`/`withdraw`, `close` when it goes. Signals for a local socket and
// orders to close a socket whose peer id was proven elsewhere arrive through the handlers the
// server gives once (`setHandlers`), the same way whether they came from this process or another.
// Every method is async: the in-memory state answers at once, Redis after a round trip.

import { MycelError } from '../src/errors.js';

/** The limits that must hold across every process sharing a state. */
export interface StateLimits {
  /** Sockets open from one address key, across every process; internal sockets do not count. */
  readonly maxSocketsPerAddress: number;
  /** Topic entries the ordinary sockets of one address key may hold together. */
  readonly maxTopicsPerAddress: number;
  /** Topic entries all ordinary sockets may hold together (the memory the state spends on them). */
  readonly maxTopicEntries: number;
}

/** A signal on its way to a peer: the server adds nothing to it but the `t`. */
export interface RelayedSignal {
  readonly from: string;
  readonly data: unknown;
  /** The sender's opaque address tag (see server.ts). */
  readonly origin: string;
}

/** Which limit cut an announce short: the socket's cap, its address's, or the shared budget. */
export type TopicRefusal = 'socket' | 'address' | 'budget';

export interface Announced {
  /** The topics newly held, in the order given (duplicates and topics already held left out). */
  readonly accepted: readonly string[];
  /** Set when some fresh topics did not fit. */
  readonly refused?: TopicRefusal;
}

export interface StateHandlers {
  /** A signal for the peer on local socket `conn`. */
  deliver(conn: string, signal: RelayedSignal): void;
  /** Local socket `conn` lost its peer id to a newer proven socket (here or elsewhere): close it. */
  evict(conn: string): void;
}

export interface SocketSession {
  /** This socket's id, unique within its process. */
  readonly conn: string;
  /** The peer id it proved, once it has. */
  readonly peer: string | undefined;
  /** Topics it holds (its own account: no I/O). Do not modify. */
  readonly topics: ReadonlySet<string>;
  /**
   * Makes this socket the one speaking for `peer`. A socket that held the id before, in this
   * process or another, is evicted through its process's `evict` handler (before this resolves when
   * it is local).
   */
  claim(peer: string): Promise<void>;
  /**
   * Holds what fits of `topics` (after claim): room is the least of `cap` less what the socket
   * holds, and, unless `trusted`, what its address and the shared budget have left. Trusted
   * sockets (the embedded seed, listed seeds) count against neither.
   */
  announce(topics: readonly string[], cap: number, trusted: boolean): Promise<Announced>;
  withdraw(topics: readonly string[]): Promise<void>;
  /** Gives back everything: its address's socket, its topics, its peer id if still its own. */
  close(): Promise<void>;
}

export interface StateStats {
  /** Sockets admitted by this process and not yet closed. */
  readonly sessions: number;
  /** Peers whose socket is in this process. */
  readonly peers: number;
  /** Topic entries held by this process's sockets, ordinary and trusted. */
  readonly ordinaryEntries: number;
  readonly trustedEntries: number;
  /** Distinct topics held, where the state can count them without a scan (in memory). */
  readonly topics?: number;
}

export interface SignalingState {
  /** This process's id within the state (random per start). */
  readonly node: string;
  readonly limits: StateLimits;
  /**
   * A secret every process sharing this state holds (the key of the origin tags relayed signals
   * carry, so one address has one tag whichever process it reaches), or undefined for one process.
   */
  readonly originKey?: Uint8Array;
  setHandlers(handlers: StateHandlers): void;
  /**
   * A session for a new socket from address key `key`, or undefined when that address already has
   * maxSocketsPerAddress sockets open (across every process). `internal` sockets are not counted.
   * @throws StateUnavailableError when the shared state cannot be reached.
   */
  open(key: string, options?: { internal?: boolean }): Promise<SocketSession | undefined>;
  /** Up to `limit` peers holding `topic` (any of them when more do). */
  lookup(topic: string, limit: number): Promise<string[]>;
  /** Carries `signal` to the socket of peer `to`; false when no live socket speaks for it. */
  relay(to: string, signal: RelayedSignal): Promise<boolean>;
  stats(): StateStats;
  /** Closes every session still open and leaves the shared state. */
  close(): Promise<void>;
}

/** The shared state (Redis) could not be reached; the server answers `server-busy` and carries on. */
export class StateUnavailableError extends MycelError {
  constructor(what: string, options?: { cause?: unknown }) {
    super('CLOSED', `the shared signaling state is unreachable (${what})`, options);
  }
}

/** The distinct topics of `topics` not in `held`, in order. */
export function freshTopics(held: ReadonlySet<string>, topics: readonly string[]): string[] {
  const seen = new Set<string>();
  const fresh: string[] = [];
  for (const topic of topics) {
    if (held.has(topic) || seen.has(topic)) continue;
    seen.add(topic);
    fresh.push(topic);
  }
  return fresh;
}

/**
 * How many of `wanted` fresh topics fit and which limit cut them, in the server's order: the
 * socket's room first, then its address's, then the budget's (the last that is smaller wins).
 */
export function topicRoom(
  wanted: number,
  socketRoom: number,
  others?: { addressRoom: number; budgetRoom: number },
): { take: number; refused?: TopicRefusal } {
  let room = socketRoom;
  let why: TopicRefusal = 'socket';
  if (others) {
    if (others.addressRoom < room) {
      room = others.addressRoom;
      why = 'address';
    }
    if (others.budgetRoom < room) {
      room = others.budgetRoom;
      why = 'budget';
    }
  }
  const take = Math.max(0, Math.min(wanted, room));
  return take < wanted ? { take, refused: why } : { take };
}
