// A peer's connection to the signaling server: answers the server's challenge with a signed hello,
// keeps its announced topics announced across reconnects, answers lookups, and carries WebRTC
// signals. Runs on the browser's WebSocket or on `ws` in Node (injected). Reconnects with capped
// exponential backoff until closed, or until the server says another socket proved our id
// ('replaced'): then the key is in use elsewhere (another process, a tab that took over), and
// reconnecting would only take it back and forth.

import { toBase64Url } from '../content/bytes.js';
import { BadInputError, ClosedError, TimeoutError } from '../errors.js';
import { Emitter } from './emitter.js';
import type { PeerIdentity } from './identity.js';
import {
  LOOKUP_TIMEOUT_MS,
  MAX_QUEUED_SIGNALS,
  MAX_SERVER_MESSAGE_CHARS,
  RECONNECT_MAX_MS,
  RECONNECT_MIN_MS,
} from './limits.js';
import {
  MAX_TOPICS_PER_MESSAGE,
  SIGNAL_VERSION,
  challengeNonce,
  helloMessage,
  serverMessage,
  type ClientMessage,
  type IceServer,
  type ServerMessage,
} from './signal-messages.js';

/** The part of the W3C WebSocket API this client uses (browsers' WebSocket and `ws` both have it). */
/** What answers a lookup: `holders` (one topic) or `found` (a batch). */
type LookupAnswer = Extract<ServerMessage, { t: 'holders' | 'found' }>;

export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketFactory = (url: string) => WebSocketLike;

const OPEN = 1;

export interface SignalClientEvents extends Record<string, unknown> {
  /** Connected and welcomed. */
  ready: { peer: string };
  disconnected: { code: number; reason: string };
  /** `origin`: the server's opaque tag for the sender's address (absent from older servers). */
  signal: { from: string; data: Record<string, unknown>; origin?: string };
  /** The server rejected something we sent. */
  rejected: { code: string; message: string; ref?: string };
  /** Another socket proved our peer id; this client has stopped for good. */
  replaced: void;
  /** The server renewed our ICE servers (fresh TURN credentials). */
  ice: IceServer[];
}

export interface SignalClientOptions {
  readonly url: string;
  /**
   * More URLs of the same deployment (signaling processes sharing one state): when a socket is
   * lost or cannot be opened, the next URL in turn is tried, so a dead process is left behind.
   */
  readonly alternates?: readonly string[];
  readonly identity: PeerIdentity;
  readonly createSocket: WebSocketFactory;
}

export class SignalClient extends Emitter<SignalClientEvents> {
  private socket: WebSocketLike | undefined;
  private welcomed = false;
  private closed = false;
  private attempt = 0;
  /** Which of url and alternates the next socket opens. */
  private turn = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly topics = new Set<string>();
  /** STUN/TURN servers the server handed us (latest welcome or renewal); empty if it has none. */
  iceServers: IceServer[] = [];
  /** The public origin the server says links carry, if its operator set one. */
  publicOrigin: string | undefined;
  /** Why the latest socket failed, where the platform says (Node's `ws` does; browsers do not). */
  lastError: string | undefined;
  private queue: ClientMessage[] = [];
  private nextLookup = 1;
  /** Lookups waiting for their answer, by request id; `resolve` takes a holders or found message. */
  private readonly lookups = new Map<
    number,
    { resolve: (answer: LookupAnswer) => void; reject: (e: unknown) => void; timer: ReturnType<typeof setTimeout> }
  >();
  /** Topics the server takes in one batched lookup (its welcome says; 0: it takes none). */
  private batch = 0;

  constructor(private readonly options: SignalClientOptions) {
    super();
  }

  get peerId(): string {
    return this.options.identity.id;
  }

  /** Connected to the server and welcomed. */
  get connected(): boolean {
    return this.welcomed;
  }

  start(): void {
    if (this.closed || this.socket) return;
    let socket: WebSocketLike;
    try {
      socket = this.options.createSocket(this.currentUrl);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
    };
    socket.onmessage = (event) => this.onMessage(socket, event.data);
    socket.onerror = (event) => {
      // Every error is followed by a close, which reconnects; the reason is kept for messages.
      const message = (event as { message?: unknown } | null)?.message;
      if (typeof message === 'string' && message) this.lastError = message.slice(0, 200);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      const wasWelcomed = this.welcomed;
      this.welcomed = false;
      for (const [id, lookup] of this.lookups) {
        clearTimeout(lookup.timer);
        lookup.reject(new ClosedError('signaling connection'));
        this.lookups.delete(id);
      }
      if (wasWelcomed) this.emit('disconnected', { code: event.code, reason: event.reason });
      this.scheduleReconnect();
    };
  }

  /** Resolves once connected and welcomed. */
  ready(timeoutMs = LOOKUP_TIMEOUT_MS): Promise<void> {
    if (this.welcomed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new TimeoutError(`connecting to the signaling server at ${this.options.url}`, timeoutMs));
      }, timeoutMs);
      const off = this.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  announce(topics: Iterable<string>): void {
    const fresh = [...topics].filter((t) => !this.topics.has(t));
    for (const t of fresh) this.topics.add(t);
    if (this.welcomed) this.sendTopics('announce', fresh);
  }

  withdraw(topics: Iterable<string>): void {
    const gone = [...topics].filter((t) => this.topics.delete(t));
    if (this.welcomed) this.sendTopics('withdraw', gone);
  }

  announced(): string[] {
    return [...this.topics];
  }

  /** The peers the server says hold `topic` (this peer excluded). */
  async lookup(topic: string, timeoutMs = LOOKUP_TIMEOUT_MS): Promise<string[]> {
    const answer = await this.ask((id) => ({ t: 'lookup', id, topic }), timeoutMs);
    return answer.t === 'holders' && answer.topic === topic ? this.others(answer.peers) : [];
  }

  /**
   * How many topics one `lookupMany` may name on the current connection: what the server's welcome
   * said, 0 when it takes no batched lookups (an older server) or before the welcome.
   */
  get lookupBatch(): number {
    return this.welcomed ? this.batch : 0;
  }

  /**
   * The peers the server says hold each of `topics` (at most lookupBatch of them), in one message:
   * at most MAX_BATCHED_HOLDERS per topic, so a topic listed with that many may have more (a
   * `lookup` of it returns a bigger sample). Topics the answer leaves out map to no peers.
   * @throws BadInputError for more topics than the server takes in one lookup.
   */
  async lookupMany(topics: readonly string[], timeoutMs = LOOKUP_TIMEOUT_MS): Promise<Map<string, string[]>> {
    const wanted = [...new Set(topics)];
    if (wanted.length === 0) return new Map();
    if (wanted.length > this.lookupBatch) {
      throw new BadInputError(`a batched lookup of ${wanted.length} topics: the server takes ${this.lookupBatch}`);
    }
    const answer = await this.ask((id) => ({ t: 'lookups', id, topics: wanted }), timeoutMs);
    const found = new Map(wanted.map((topic) => [topic, [] as string[]]));
    if (answer.t !== 'found') return found;
    // Only what was asked: a server cannot make this map grow with topics nobody named.
    for (const { topic, peers } of answer.holders) if (found.has(topic)) found.set(topic, this.others(peers));
    return found;
  }

  private others(peers: readonly string[]): string[] {
    return peers.filter((p) => p !== this.peerId);
  }

  /** Sends the request `make(id)` and waits for the answer carrying that id. */
  private ask(make: (id: number) => ClientMessage, timeoutMs: number): Promise<LookupAnswer> {
    if (this.closed) return Promise.reject(new ClosedError('signaling client'));
    if (!this.welcomed) return Promise.reject(new ClosedError('signaling connection'));
    const id = this.nextLookup++;
    if (this.nextLookup > 2 ** 31 - 1) this.nextLookup = 1;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.lookups.delete(id);
        reject(new TimeoutError('a lookup on the signaling server', timeoutMs));
      }, timeoutMs);
      this.lookups.set(id, { resolve, reject, timer });
      this.write(make(id));
    });
  }

  /** Sends a WebRTC signal to `to` (queued while disconnected). */
  signal(to: string, data: Record<string, unknown>): void {
    this.write({ t: 'signal', to, data });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.queue = [];
    const socket = this.socket;
    this.socket = undefined;
    this.welcomed = false;
    for (const lookup of this.lookups.values()) {
      clearTimeout(lookup.timer);
      lookup.reject(new ClosedError('signaling client'));
    }
    this.lookups.clear();
    if (socket) {
      socket.onclose = null;
      socket.onmessage = null;
      socket.close(1000, 'bye');
    }
  }

  private sendTopics(type: 'announce' | 'withdraw', topics: string[]): void {
    for (let i = 0; i < topics.length; i += MAX_TOPICS_PER_MESSAGE) {
      this.write({ t: type, topics: topics.slice(i, i + MAX_TOPICS_PER_MESSAGE) });
    }
  }

  private write(message: ClientMessage): void {
    const socket = this.socket;
    const sendable = socket?.readyState === OPEN && (this.welcomed || message.t === 'hello');
    if (!sendable) {
      if (message.t === 'signal') {
        this.queue.push(message);
        if (this.queue.length > MAX_QUEUED_SIGNALS) this.queue.shift();
      }
      return;
    }
    socket.send(JSON.stringify(message));
  }

  /** Signs the challenge and says hello, unless the socket has changed meanwhile. */
  private async answerChallenge(socket: WebSocketLike, nonceText: string): Promise<void> {
    const nonce = challengeNonce(nonceText);
    if (!nonce || this.welcomed) return;
    const identity = this.options.identity;
    const sig = await identity.sign(helloMessage(nonce));
    if (this.socket !== socket || this.closed) return;
    this.write({ t: 'hello', v: SIGNAL_VERSION, peer: identity.id, sig: toBase64Url(sig) });
  }

  private onMessage(socket: WebSocketLike, data: unknown): void {
    if (typeof data !== 'string' || this.socket !== socket) return;
    if (data.length > MAX_SERVER_MESSAGE_CHARS) return;
    let message: ServerMessage;
    try {
      // Fields a newer server adds are ignored (see serverMessage); known ones are checked.
      message = serverMessage.parse(JSON.parse(data));
    } catch {
      return; // a server speaking nonsense is ignored, message by message
    }
    switch (message.t) {
      case 'challenge':
        this.answerChallenge(socket, message.nonce).catch(() => socket.close(1011, 'could not sign'));
        return;
      case 'welcome': {
        this.welcomed = true;
        this.iceServers = message.iceServers ?? [];
        this.batch = message.batch ?? 0;
        this.publicOrigin = message.origin;
        this.sendTopics('announce', [...this.topics]);
        const queued = this.queue;
        this.queue = [];
        for (const m of queued) this.write(m);
        this.emit('ready', { peer: message.peer });
        return;
      }
      case 'ice':
        this.iceServers = message.iceServers;
        this.emit('ice', message.iceServers);
        return;
      case 'holders':
      case 'found': {
        const lookup = this.lookups.get(message.id);
        if (!lookup) return;
        this.lookups.delete(message.id);
        clearTimeout(lookup.timer);
        lookup.resolve(message);
        return;
      }
      case 'signal':
        this.emit('signal', { from: message.from, data: message.data, origin: message.origin });
        return;
      case 'error':
        if (message.code === 'replaced') {
          this.close();
          this.emit('replaced', undefined);
          return;
        }
        this.emit('rejected', { code: message.code, message: message.message, ref: message.ref });
        return;
    }
  }

  /** The URL the current (or next) socket opens: `url` or one of `alternates`. */
  get currentUrl(): string {
    const alternates = this.options.alternates ?? [];
    if (alternates.length === 0) return this.options.url;
    const index = this.turn % (alternates.length + 1);
    return index === 0 ? this.options.url : alternates[index - 1]!;
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    this.turn++;
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.attempt++);
    const jittered = delay / 2 + Math.random() * (delay / 2);
    this.reconnectTimer = setTimeout(() => this.start(), jittered);
  }
}
