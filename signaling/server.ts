// The signaling server: introduces peers to each other and nothing more.
//
// Dev docs. Each WebSocket is a `Client`: its address, its peer id once it said hello, a token bucket
// for its message rate and a strike count, and a `SocketSession` in the shared state (state.ts):
// presence (peer id → socket), topics and their holders, counts per address and the topic budget,
// and carrying signals. That state is in this process's memory by default (memory-state.ts), or in
// Redis shared by several processes (redis-state.ts, `--redis`): this file is the same for both.
// A socket's messages are handled one at a time, each after the state answered the one before, so
// hello, announce and lookup keep their order when the state is a round trip away. A socket that
// closes, or misses a ping, is forgotten with all it announced. When the shared state cannot be
// reached, a message gets `server-busy` (no strike) and a new socket is closed with 1013.
//
// A client's address is the TCP peer's, or the one a trusted proxy names (client-address.ts);
// limits count per address key (an IPv6 /64). Relayed signals carry the sender's `origin`: an HMAC of
// its address key under a key drawn at random per process, cut to 12 bytes, so receivers can count
// connection attempts per address without learning it. The embedded seed of `mycel serve` proves itself
// with a per-process secret header on its upgrade and is `internal`: it counts against no address,
// no socket total and no message rate.
//
// Identity. Every new socket is first sent a challenge (a fresh random nonce); hello must carry a
// signature by the peer id's key over it, or the socket is refused ('bad-proof') and closed. A
// proven hello for an id another socket holds replaces that socket (told 'replaced', closed): only
// the key holder can do that, so a restarted seed is back under its id at once and nobody else can
// take it. Roles come from the deployment: only the ids in `seeds` may announce the seeds topic,
// and a lookup of it names only them.
//
// Defences, all on by default and named in DEFAULT_LIMITS: a hard frame cap in `ws` itself
// (maxPayload) and a smaller message cap checked here so the sender gets a typed error; a message
// rate per socket; sockets per address and in all; hello within a deadline. Topic entries (one
// topic announced by one socket) are capped per socket, per address and in total over ordinary
// sockets, so announced topics cost at most maxTopicEntries × 200 B of heap (see DEFAULT_LIMITS);
// peers the deployment trusts (the embedded seed, seeds given a cap by `topicCap`) have their own
// larger cap outside that budget, so strangers filling it cannot silence them. Every rejected
// message gets {t:'error', code} and a strike; a socket that keeps on is closed (1008). Topics
// refused for room get an error but no strike: an honest peer holding more files than it may
// announce is not misbehaving. The server and every other socket carry on.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { fromBase64Url, toBase64Url } from '../src/content/bytes.js';
import { isPeerId, verifyPeerSignature } from '../src/net/identity.js';
import {
  CHALLENGE_NONCE_BYTES,
  MAX_BATCHED_HOLDERS,
  MAX_HOLDERS,
  MAX_TOPICS_PER_LOOKUP,
  ORIGIN_TAG_LENGTH,
  SEEDS_TOPIC,
  SIGNAL_PATH,
  SIGNAL_VERSION,
  clientMessage,
  helloMessage,
  type ClientMessage,
  type IceServer,
  type ServerMessage,
  type SignalErrorCode,
} from '../src/net/signal-messages.js';
import { SchemaError } from '../src/net/schema.js';
import { quietLog, type Logger } from '../src/log.js';
import { TrustedProxies, addressKey, clientAddress } from './client-address.js';
import { Metrics } from './metrics.js';
import { MemorySignalingState } from './memory-state.js';
import {
  StateUnavailableError,
  freshTopics,
  type SignalingState,
  type SocketSession,
  type StateLimits,
} from './state.js';
import { iceRenewAfterMs, iceServersFactory, type IceConfig } from './ice.js';

/** Upgrade header carrying the embedded seed's per-process secret (see SignalingOptions.internalToken). */
export const INTERNAL_TOKEN_HEADER = 'x-mycel-internal';

export interface SignalingLimits {
  /** Largest message handled; larger ones get `too-large`. SDP offers are 1–3 KiB. */
  maxMessageBytes: number;
  /** Frames past this are cut off by `ws` before they are buffered (the socket is closed). */
  hardFrameBytes: number;
  /** Topics an ordinary socket may announce: a browser announces the files it holds whole. */
  maxTopicsPerSocket: number;
  /** Topics all ordinary sockets from one address (key) may announce together. */
  maxTopicsPerAddress: number;
  /** Topic entries all ordinary sockets may announce together; past it announces get `server-busy`. */
  maxTopicEntries: number;
  /** Topics a trusted peer (internal, or granted by `topicCap`) may announce; outside the budget. */
  maxTopicsPerTrustedPeer: number;
  /** Sustained messages per second per socket, and the burst allowed above it. */
  messagesPerSecond: number;
  messageBurst: number;
  maxSocketsPerAddress: number;
  maxSockets: number;
  /** A socket with more than this waiting to be sent (a reader that stopped reading) is cut off. */
  maxBufferedBytes: number;
  /** Rejected messages before the socket is closed; one strike is forgiven every strikeDecayMs. */
  maxStrikes: number;
  strikeDecayMs: number;
  helloTimeoutMs: number;
  pingIntervalMs: number;
}

/**
 * Heap per topic entry, measured by `npm run bench -- signaling` (--expose-gc, Node 20): ~130 B
 * when each topic has one holder, ~190 B when each has two (the costliest layout: a two-entry set
 * per topic), ~120 B when many share a topic; it was ~290 B with a set for every topic. At 200 B
 * the defaults allow 250,000 ordinary entries (≤ 48 MB) plus 200,000 per trusted peer (≤ 38 MB
 * each). Idle sockets cost ~10 KB of RSS each (≤ 100 MB at maxSockets). Topics and sockets fit a
 * 512 MB server; a flood test of the real process measures the bound (signaling-proxy-flood).
 */
export const DEFAULT_LIMITS: SignalingLimits = {
  maxMessageBytes: 8 * 1024,
  hardFrameBytes: 64 * 1024,
  maxTopicsPerSocket: 1_000,
  maxTopicsPerAddress: 10_000,
  maxTopicEntries: 250_000,
  maxTopicsPerTrustedPeer: 200_000,
  messagesPerSecond: 50,
  messageBurst: 200,
  maxSocketsPerAddress: 64,
  maxSockets: 10_000,
  maxBufferedBytes: 256 * 1024,
  maxStrikes: 10,
  strikeDecayMs: 5_000,
  helloTimeoutMs: 10_000,
  pingIntervalMs: 15_000,
};

export interface SignalingOptions {
  limits?: Partial<SignalingLimits>;
  log?: Logger;
  /** Sees every message as received, before validation (for audits such as content-blindness). */
  tap?: (raw: string, peer: string | undefined) => void;
  /**
   * Proxies (addresses or CIDR ranges) whose X-Forwarded-For names the client. Without any, the
   * header is ignored. Throws a RangeError at construction for an entry that is not an address.
   */
  trustProxy?: readonly string[];
  /**
   * A secret only this process knows (the embedded seed sends it in INTERNAL_TOKEN_HEADER). A
   * socket presenting it is internal: exempt from per-address and total socket limits and from
   * the message rate, with the trusted topic cap. A wrong or absent token is simply an ordinary
   * socket.
   */
  internalToken?: string;
  /**
   * The topic cap of a peer the deployment trusts (e.g. its listed seeds), or undefined for an
   * ordinary peer. Asked once per socket, after hello. A trusted peer's topics are outside the
   * ordinary budget, so the caps given here add to the worst-case memory (~200 B per topic).
   */
  topicCap?: (peer: string) => number | undefined;
  /** Peer ids of the deployment's seeds: the only ones that may announce the seeds topic. */
  seeds?: readonly string[];
  /**
   * What the server shares between sockets (presence, topics, counts, relays). Default: in this
   * process's memory, closed with the server. A given state (e.g. Redis, shared with other
   * processes) is the caller's to close, after the server.
   */
  state?: SignalingState;
  /**
   * STUN and TURN servers handed to every peer in its welcome, TURN with time-limited credentials
   * (ice.ts), renewed while the peer stays. Throws a RangeError at construction if malformed.
   */
  ice?: IceConfig;
  /** The public origin links carry (https://host[:port]), told to peers in the welcome and on /health. */
  publicUrl?: string;
}

/** Close code for a socket whose peer id was proven on a newer socket. */
const CLOSE_REPLACED = 4001;

/** Messages of one socket waiting for the state (Redis) at most; past it they get `server-busy`. */
const MAX_QUEUED_MESSAGES = 256;

interface Client {
  ws: WebSocket;
  /** The client's address (after trusted proxies), for logs; `key` is what limits count under. */
  address: string;
  key: string;
  /** The opaque tag relayed signals carry for this client's address key. */
  origin: string;
  internal: boolean;
  /** Its account in the shared state, once admitted. */
  session?: SocketSession;
  /** Topic cap, fixed at first use after hello; `trusted` topics are outside the ordinary budget. */
  topicCap?: number;
  trusted?: boolean;
  peer?: string;
  /** The socket's messages are handled one after another: each waits for the state's answer. */
  queue: Promise<void>;
  queued: number;
  tokens: number;
  refilledAt: number;
  strikes: number;
  struckAt: number;
  alive: boolean;
  /** This socket's challenge: hello must sign it. */
  nonce: Uint8Array;
  helloTimer?: ReturnType<typeof setTimeout>;
  /** When this peer was last sent ICE servers (their TURN credentials age from then). */
  iceSentAt?: number;
}

/** The limits the shared state enforces, from the server's. */
export function stateLimits(limits: SignalingLimits): StateLimits {
  return {
    maxSocketsPerAddress: limits.maxSocketsPerAddress,
    maxTopicsPerAddress: limits.maxTopicsPerAddress,
    maxTopicEntries: limits.maxTopicEntries,
  };
}

export class SignalingServer {
  readonly limits: SignalingLimits;
  readonly metrics = new Metrics();
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<Client>();
  /** Admitted sockets by their session's conn, for what the state delivers. */
  private readonly byConn = new Map<string, Client>();
  private readonly state: SignalingState;
  private readonly ownsState: boolean;
  private readonly proxies: TrustedProxies | undefined;
  private readonly internalDigest: Buffer | undefined;
  private readonly log: Logger;
  private readonly pingTimer: ReturnType<typeof setInterval>;
  private readonly started = Date.now();
  private readonly seeds: ReadonlySet<string>;
  /**
   * Keys origin tags; never leaves this process (or the shared state, whose processes must tag an
   * address alike), so tags reveal no address.
   */
  private readonly originKey: Uint8Array;
  private readonly iceServersFor: ((peer: string) => IceServer[]) | undefined;
  private readonly iceRenewMs: number;

  constructor(private readonly options: SignalingOptions = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    for (const seed of options.seeds ?? []) if (!isPeerId(seed)) throw new TypeError(`not a peer id: ${String(seed)}`);
    this.seeds = new Set(options.seeds ?? []);
    this.iceServersFor = options.ice ? iceServersFactory(options.ice) : undefined;
    this.iceRenewMs = options.ice ? iceRenewAfterMs(options.ice) : Infinity;
    this.log = options.log ?? quietLog;
    this.proxies = options.trustProxy?.length ? new TrustedProxies(options.trustProxy) : undefined;
    this.internalDigest = options.internalToken ? digest(options.internalToken) : undefined;
    this.ownsState = options.state === undefined;
    this.state = options.state ?? new MemorySignalingState(stateLimits(this.limits));
    this.originKey = this.state.originKey ?? randomBytes(32);
    this.state.setHandlers({
      deliver: (conn, signal) => {
        const target = this.byConn.get(conn);
        // `data` passed the client message schema where it was sent (here or in another process).
        const data = signal.data as Record<string, unknown>;
        if (target) this.send(target, { t: 'signal', from: signal.from, data, origin: signal.origin });
      },
      evict: (conn) => {
        const old = this.byConn.get(conn);
        if (old) this.replace(old);
      },
    });
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.limits.hardFrameBytes,
      perMessageDeflate: false,
    });
    this.wss.on('connection', (ws: WebSocket, req: IncomingMessage) => this.onConnection(ws, req));
    this.pingTimer = setInterval(() => this.pingAll(), this.limits.pingIntervalMs);
    this.pingTimer.unref?.();
  }

  /** Serves the signaling WebSocket on `path` of `server`. */
  attach(server: HttpServer, path = SIGNAL_PATH): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== path) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
    });
  }

  /** Answers GET /health and GET /metrics; returns false for anything else. */
  handleHttp(req: IncomingMessage, res: ServerResponse): boolean {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (path === '/health') {
      const body = JSON.stringify({
        ok: true,
        ...this.stats(),
        ...(this.options.publicUrl ? { publicUrl: this.options.publicUrl } : {}),
        uptimeSeconds: Math.round((Date.now() - this.started) / 1000),
      });
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(body);
      return true;
    }
    if (path === '/metrics') {
      const stats = this.stats();
      const entries = this.state.stats();
      this.metrics.gauge('mycel_signal_sockets', 'Open WebSocket connections.', stats.sockets);
      this.metrics.gauge('mycel_signal_peers', 'Peers that said hello.', stats.peers);
      if (stats.topics !== undefined)
        this.metrics.gauge('mycel_signal_topics', 'Distinct topics announced.', stats.topics);
      this.metrics.gauge(
        'mycel_signal_topic_entries',
        'Topics announced, counted once per socket.',
        entries.ordinaryEntries,
        { kind: 'ordinary' },
      );
      this.metrics.gauge(
        'mycel_signal_topic_entries',
        'Topics announced, counted once per socket.',
        entries.trustedEntries,
        { kind: 'trusted' },
      );
      this.metrics.gauge(
        'mycel_signal_topic_budget',
        'Topic entries ordinary sockets may announce in all.',
        this.limits.maxTopicEntries,
      );
      const memory = process.memoryUsage();
      this.metrics.gauge('process_resident_memory_bytes', 'Resident set size of this process.', memory.rss);
      this.metrics.gauge('nodejs_heap_used_bytes', 'V8 heap in use.', memory.heapUsed);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' });
      res.end(this.metrics.render());
      return true;
    }
    return false;
  }

  /** This process's sockets and peers; `topics` (distinct) only where the state can count it cheaply. */
  stats(): { sockets: number; peers: number; topics: number | undefined; topicEntries: number } {
    const state = this.state.stats();
    return {
      sockets: this.clients.size,
      peers: state.peers,
      topics: state.topics,
      topicEntries: state.ordinaryEntries + state.trustedEntries,
    };
  }

  async close(): Promise<void> {
    clearInterval(this.pingTimer);
    for (const client of [...this.clients]) this.forget(client);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    if (this.ownsState) await this.state.close();
  }

  private onConnection(ws: WebSocket, req: IncomingMessage): void {
    const internal = this.isInternal(req);
    const address = clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], this.proxies);
    const key = addressKey(address);
    const client: Client = {
      ws,
      address,
      key,
      origin: createHmac('sha256', this.originKey).update(key).digest('base64url').slice(0, ORIGIN_TAG_LENGTH),
      internal,
      queue: Promise.resolve(),
      queued: 0,
      tokens: this.limits.messageBurst,
      refilledAt: Date.now(),
      strikes: 0,
      struckAt: Date.now(),
      alive: true,
      nonce: randomBytes(CHALLENGE_NONCE_BYTES),
    };
    if (!internal && this.clients.size >= this.limits.maxSockets) {
      this.refuse(client, 'server-full');
      return;
    }
    // Counted at once, so sockets waiting for admission are bounded by maxSockets too.
    this.clients.add(client);
    client.queue = this.admit(client);
    client.helloTimer = setTimeout(() => {
      if (!client.peer) this.reject(client, 'hello-first', 'no hello in time', true);
    }, this.limits.helloTimeoutMs);
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(client, data, isBinary));
    ws.on('pong', () => (client.alive = true));
    ws.on('close', () => this.forget(client));
    ws.on('error', (error: Error) => {
      this.log.debug('socket error', { address, peer: client.peer, error });
      ws.terminate();
    });
  }

  /** Opens the socket's session (its address's socket count is checked across every process). */
  private async admit(client: Client): Promise<void> {
    let session: SocketSession | undefined;
    try {
      session = await this.state.open(client.key, { internal: client.internal });
    } catch (error) {
      if (!(error instanceof StateUnavailableError)) throw error;
      this.unavailable(client, error, true);
      return;
    }
    if (!session) {
      this.clients.delete(client);
      clearTimeout(client.helloTimer);
      this.refuse(client, 'too-many-sockets');
      return;
    }
    if (!this.clients.has(client)) {
      // Gone while it waited.
      await session.close().catch((error) => this.log.debug('session close failed', { error }));
      return;
    }
    client.session = session;
    this.byConn.set(session.conn, client);
    this.metrics.inc('mycel_signal_connections_total', 'WebSocket connections accepted.');
    this.send(client, { t: 'challenge', v: SIGNAL_VERSION, nonce: toBase64Url(client.nonce) });
  }

  private refuse(client: Client, code: 'server-full' | 'too-many-sockets'): void {
    this.metrics.inc('mycel_signal_rejected_total', 'Rejected messages and sockets by reason.', { reason: code });
    this.send(client, { t: 'error', code, message: 'too many connections' });
    client.ws.close(1008, code);
    this.log.warn('socket refused', { address: client.address, reason: code });
  }

  /**
   * The shared state (Redis) is unreachable: the client is told `server-busy` (no strike). A
   * socket not yet admitted is closed with 1013 ("try again later"); its client reconnects.
   */
  private unavailable(client: Client, error: StateUnavailableError, closing: boolean): void {
    this.metrics.inc('mycel_signal_rejected_total', 'Rejected messages and sockets by reason.', {
      reason: 'state-unavailable',
    });
    this.log.warn('signaling state unavailable', { address: client.address, peer: client.peer, error: error.message });
    this.send(client, {
      t: 'error',
      code: 'server-busy',
      message: 'the server cannot reach its shared state; try again',
    });
    if (closing) {
      this.forget(client, false);
      if (client.ws.readyState === client.ws.OPEN) client.ws.close(1013, 'server-busy');
      setTimeout(() => client.ws.terminate(), 2_000).unref?.();
    }
  }

  private onMessage(client: Client, data: RawData, isBinary: boolean): void {
    // A socket already forgotten (replaced by a newer one for its id) speaks for nobody.
    if (!this.clients.has(client)) return;
    client.alive = true;
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
    if (!this.takeToken(client)) {
      this.reject(client, 'rate-limited', `more than ${this.limits.messagesPerSecond} messages per second`);
      return;
    }
    if (size > this.limits.maxMessageBytes) {
      this.reject(client, 'too-large', `message of ${size} bytes is over ${this.limits.maxMessageBytes}`);
      return;
    }
    const raw = Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
    this.options.tap?.(raw, client.peer);
    if (isBinary) {
      this.reject(client, 'bad-message', 'binary messages are not part of the protocol');
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      this.reject(client, 'bad-json', 'message is not JSON');
      return;
    }
    let message: ClientMessage;
    try {
      message = clientMessage.parse(json);
    } catch (error) {
      if (!(error instanceof SchemaError)) throw error;
      this.reject(client, 'bad-message', error.message);
      return;
    }
    this.metrics.inc('mycel_signal_messages_total', 'Valid messages received by type.', { type: message.t });
    if (client.queued >= MAX_QUEUED_MESSAGES) {
      this.send(client, { t: 'error', code: 'server-busy', message: 'too many messages waiting; slow down' });
      return;
    }
    client.queued++;
    client.queue = client.queue
      .then(() =>
        this.clients.has(client) && client.session ? this.handle(client, client.session, message) : undefined,
      )
      .catch((error) => {
        if (error instanceof StateUnavailableError) this.unavailable(client, error, false);
        else this.log.error('signaling message failed', { peer: client.peer, error });
      })
      .finally(() => client.queued--);
  }

  private async handle(client: Client, session: SocketSession, message: ClientMessage): Promise<void> {
    if (message.t === 'hello') {
      if (client.peer) return this.reject(client, 'bad-message', 'hello was already said');
      const signature = fromBase64Url(message.sig);
      if (!signature || !verifyPeerSignature(message.peer, helloMessage(client.nonce), signature)) {
        return this.reject(client, 'bad-proof', "the hello's signature does not prove this peer id", true);
      }
      // An older socket for this id, here or in another process, is replaced (evict handler).
      await session.claim(message.peer);
      if (!this.clients.has(client)) return;
      client.peer = message.peer;
      clearTimeout(client.helloTimer);
      client.iceSentAt = Date.now();
      this.send(client, {
        t: 'welcome',
        v: SIGNAL_VERSION,
        peer: message.peer,
        maxTopics: this.topicCapOf(client),
        origin: this.options.publicUrl,
        iceServers: this.iceServersFor?.(message.peer),
        batch: MAX_TOPICS_PER_LOOKUP,
      });
      this.log.info('peer joined', { peer: client.peer, address: client.address });
      return;
    }
    const peer = client.peer;
    if (!peer) return this.reject(client, 'hello-first', 'say hello first');
    switch (message.t) {
      case 'announce': {
        let topics = message.topics;
        if (!this.seeds.has(peer) && topics.includes(SEEDS_TOPIC)) {
          // Refused with a strike; the files it announced alongside are still its to announce.
          this.reject(client, 'not-a-seed', 'only the seeds this server lists may announce the seeds topic');
          topics = topics.filter((t) => t !== SEEDS_TOPIC);
          if (client.ws.readyState !== client.ws.OPEN || topics.length === 0) return;
        }
        return this.addTopics(client, session, topics);
      }
      case 'withdraw':
        return session.withdraw(message.topics);
      case 'lookup': {
        const peers = await this.holdersOf(message.topic, peer, MAX_HOLDERS);
        this.send(client, { t: 'holders', id: message.id, topic: message.topic, peers });
        return;
      }
      case 'lookups': {
        // A batch costs what its lookups would one by one: it saves frames, not the state's reads.
        if (!this.takeToken(client, message.topics.length - 1)) {
          this.reject(client, 'rate-limited', `more than ${this.limits.messagesPerSecond} lookups per second`);
          return;
        }
        const topics = [...new Set(message.topics)];
        const holders = await Promise.all(
          topics.map(async (topic) => ({ topic, peers: await this.holdersOf(topic, peer, MAX_BATCHED_HOLDERS) })),
        );
        this.send(client, { t: 'found', id: message.id, holders });
        return;
      }
      case 'signal': {
        const relayed = await this.state.relay(message.to, { from: peer, data: message.data, origin: client.origin });
        if (!relayed) {
          this.send(client, {
            t: 'error',
            code: 'unknown-peer',
            message: 'no such peer is connected',
            ref: message.to,
          });
          return;
        }
        this.metrics.inc('mycel_signal_relayed_total', 'Signals relayed between peers.');
        return;
      }
    }
  }

  /**
   * Adds what fits of `topics` to the client's announced set: room is the least of its own cap, its
   * address's and the ordinary budget's (trusted clients have only their own cap), as the shared
   * state counts them across processes. Topics that do not fit get one error naming the limit,
   * and no strike.
   */
  private async addTopics(client: Client, session: SocketSession, topics: readonly string[]): Promise<void> {
    const cap = this.topicCapOf(client);
    const wanted = freshTopics(session.topics, topics).length;
    if (wanted === 0) return;
    const { accepted, refused } = await session.announce(topics, cap, client.trusted === true);
    if (refused === undefined) return;
    const [code, text]: [SignalErrorCode, string] =
      refused === 'socket'
        ? ['too-many-topics', `at most ${cap} topics per socket`]
        : refused === 'address'
          ? ['too-many-topics', `at most ${this.limits.maxTopicsPerAddress} topics per address`]
          : ['server-busy', 'the server holds all the topics it can; try again later'];
    this.metrics.inc('mycel_signal_rejected_total', 'Rejected messages and sockets by reason.', { reason: code });
    this.log.debug('topics refused', {
      peer: client.peer,
      address: client.address,
      code,
      refused: wanted - accepted.length,
    });
    this.send(client, { t: 'error', code, message: text });
  }

  /** The client's topic cap; decided once, after hello, when its peer id is known. */
  private topicCapOf(client: Client): number {
    if (client.topicCap === undefined) {
      // The deployment's listed seeds hold every file they keep: they get the trusted cap.
      const listedSeed = client.peer !== undefined && this.seeds.has(client.peer);
      const granted =
        client.peer === undefined
          ? undefined
          : (this.options.topicCap?.(client.peer) ?? (listedSeed ? this.limits.maxTopicsPerTrustedPeer : undefined));
      client.trusted = client.internal || granted !== undefined;
      client.topicCap = Math.max(
        0,
        Math.floor(granted ?? (client.internal ? this.limits.maxTopicsPerTrustedPeer : this.limits.maxTopicsPerSocket)),
      );
    }
    return client.topicCap;
  }

  /** True when the upgrade carries this process's internal token (compared in constant time). */
  private isInternal(req: IncomingMessage): boolean {
    const presented = req.headers[INTERNAL_TOKEN_HEADER];
    if (!this.internalDigest || typeof presented !== 'string') return false;
    return timingSafeEqual(digest(presented), this.internalDigest);
  }

  private takeToken(client: Client, cost = 1): boolean {
    // The embedded seed and listed seeds re-announce every file they hold at each reconnect.
    if (client.internal || client.trusted || cost <= 0) return true;
    const now = Date.now();
    const refill = ((now - client.refilledAt) / 1000) * this.limits.messagesPerSecond;
    client.tokens = Math.min(this.limits.messageBurst, client.tokens + refill);
    client.refilledAt = now;
    if (client.tokens < cost) return false;
    client.tokens -= cost;
    return true;
  }

  /**
   * Up to `max` peers holding `topic`, shuffled, `asker` left out; only listed seeds for the seeds
   * topic. One more is read than shown, in case the asker is among them.
   */
  private async holdersOf(topic: string, asker: string, max: number): Promise<string[]> {
    let holders = (await this.state.lookup(topic, max + 1)).filter((p) => p !== asker);
    if (topic === SEEDS_TOPIC) holders = holders.filter((p) => this.seeds.has(p));
    shuffle(holders);
    return holders.slice(0, max);
  }

  /** Tells the client what was wrong, counts a strike, and closes it if it keeps on (or `fatal`). */
  private reject(client: Client, code: SignalErrorCode, message: string, fatal = false): void {
    this.metrics.inc('mycel_signal_rejected_total', 'Rejected messages and sockets by reason.', { reason: code });
    const now = Date.now();
    const forgiven = Math.floor((now - client.struckAt) / this.limits.strikeDecayMs);
    client.strikes = Math.max(0, client.strikes - forgiven) + 1;
    client.struckAt = now;
    const closing = fatal || client.strikes >= this.limits.maxStrikes;
    if (client.strikes <= this.limits.maxStrikes) this.send(client, { t: 'error', code, message });
    this.log.debug('message rejected', { peer: client.peer, address: client.address, code, message });
    if (closing && client.ws.readyState === client.ws.OPEN) {
      this.log.warn('socket closed for misbehaviour', {
        peer: client.peer,
        address: client.address,
        code,
        strikes: client.strikes,
      });
      client.ws.close(1008, code);
      // A client that ignores the close handshake is cut off.
      setTimeout(() => client.ws.terminate(), 2_000).unref?.();
    }
  }

  private send(client: Client, message: ServerMessage): void {
    if (client.ws.readyState !== client.ws.OPEN) return;
    // A reader that does not read must not make us buffer without bound (the embedded seed is ours).
    if (!client.internal && client.ws.bufferedAmount > this.limits.maxBufferedBytes) {
      client.ws.terminate();
      return;
    }
    client.ws.send(JSON.stringify(message));
  }

  /** A newer socket proved `old`'s peer id: `old` is told, forgotten now, and closed. */
  private replace(old: Client): void {
    this.metrics.inc('mycel_signal_replaced_total', 'Sockets replaced by a proven hello for their peer id.');
    this.log.info('peer id proven on a new socket; the old one is closed', { peer: old.peer, address: old.address });
    this.send(old, { t: 'error', code: 'replaced', message: 'another connection proved this peer id' });
    this.forget(old, false);
    if (old.ws.readyState === old.ws.OPEN) old.ws.close(CLOSE_REPLACED, 'replaced');
    setTimeout(() => old.ws.terminate(), 2_000).unref?.();
  }

  private forget(client: Client, terminate = true): void {
    if (!this.clients.delete(client)) return;
    clearTimeout(client.helloTimer);
    const session = client.session;
    if (session) {
      this.byConn.delete(session.conn);
      // The session gives back its address's socket, its topics and its peer id. The state keeps
      // what it could not tell Redis and replays it; a failure here is only worth a line.
      session.close().catch((error) => this.log.debug('session close failed', { peer: client.peer, error }));
      if (client.peer) this.log.info('peer left', { peer: client.peer });
    }
    if (terminate) client.ws.terminate();
  }

  private pingAll(): void {
    const now = Date.now();
    for (const client of this.clients) {
      // Fresh TURN credentials for a peer that stays (a seed) before its old ones expire.
      if (client.peer && client.iceSentAt !== undefined && now - client.iceSentAt >= this.iceRenewMs) {
        client.iceSentAt = now;
        this.send(client, { t: 'ice', iceServers: this.iceServersFor!(client.peer) });
      }
      if (!client.alive) {
        this.log.info('socket stopped answering pings', { peer: client.peer, address: client.address });
        this.forget(client);
        continue;
      }
      client.alive = false;
      try {
        client.ws.ping();
      } catch {
        this.forget(client);
      }
    }
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function shuffle<T>(items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}
