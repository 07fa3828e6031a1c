// The signaling server: introduces peers to each other and nothing more.
//
// Dev docs. Each WebSocket is a `Client`: its address, its peer id once it said hello, the topics it
// announced, a token bucket for its message rate and a strike count. `peers` maps peer ids to
// clients; `topics` maps a topic to the peer ids holding it. All state is in memory and dies with
// the socket: a socket that closes, or misses a ping, is forgotten with all it announced.
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
// rate per socket; topics per socket; sockets per address and in all; hello within a deadline.
// Every rejected message gets {t:'error', code} and a strike; a socket that keeps on is closed
// (1008). The server and every other socket carry on.

import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { fromBase64Url, toBase64Url } from '../src/content/bytes.js';
import { isPeerId, verifyPeerSignature } from '../src/net/identity.js';
import {
  CHALLENGE_NONCE_BYTES,
  MAX_HOLDERS,
  SEEDS_TOPIC,
  SIGNAL_PATH,
  SIGNAL_VERSION,
  clientMessage,
  helloMessage,
  type ClientMessage,
  type ServerMessage,
  type SignalErrorCode,
} from '../src/net/signal-messages.js';
import { SchemaError } from '../src/net/schema.js';
import { createLogger, type Logger } from '../src/node/log.js';
import { Metrics } from './metrics.js';

export interface SignalingLimits {
  /** Largest message handled; larger ones get `too-large`. SDP offers are 1–3 KiB. */
  maxMessageBytes: number;
  /** Frames past this are cut off by `ws` before they are buffered (the socket is closed). */
  hardFrameBytes: number;
  maxTopicsPerSocket: number;
  /** Sustained messages per second per socket, and the burst allowed above it. */
  messagesPerSecond: number;
  messageBurst: number;
  maxSocketsPerAddress: number;
  maxSockets: number;
  /** Rejected messages before the socket is closed; one strike is forgiven every strikeDecayMs. */
  maxStrikes: number;
  strikeDecayMs: number;
  helloTimeoutMs: number;
  pingIntervalMs: number;
}

export const DEFAULT_LIMITS: SignalingLimits = {
  maxMessageBytes: 8 * 1024,
  hardFrameBytes: 64 * 1024,
  maxTopicsPerSocket: 10_000,
  messagesPerSecond: 50,
  messageBurst: 200,
  maxSocketsPerAddress: 64,
  maxSockets: 10_000,
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
  /** Peer ids of the deployment's seeds: the only ones that may announce the seeds topic. */
  seeds?: readonly string[];
}

/** Close code for a socket whose peer id was proven on a newer socket. */
const CLOSE_REPLACED = 4001;

interface Client {
  ws: WebSocket;
  address: string;
  peer?: string;
  topics: Set<string>;
  tokens: number;
  refilledAt: number;
  strikes: number;
  struckAt: number;
  alive: boolean;
  /** This socket's challenge: hello must sign it. */
  nonce: Uint8Array;
  helloTimer?: ReturnType<typeof setTimeout>;
}

export class SignalingServer {
  readonly limits: SignalingLimits;
  readonly metrics = new Metrics();
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<Client>();
  private readonly peers = new Map<string, Client>();
  private readonly topics = new Map<string, Set<string>>();
  private readonly perAddress = new Map<string, number>();
  private readonly log: Logger;
  private readonly pingTimer: ReturnType<typeof setInterval>;
  private readonly started = Date.now();
  private readonly seeds: ReadonlySet<string>;

  constructor(private readonly options: SignalingOptions = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    for (const seed of options.seeds ?? []) if (!isPeerId(seed)) throw new TypeError(`not a peer id: ${seed}`);
    this.seeds = new Set(options.seeds ?? []);
    this.log = options.log ?? createLogger({ fields: { component: 'signal' } });
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.limits.hardFrameBytes, perMessageDeflate: false });
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
      const body = JSON.stringify({ ok: true, ...this.stats(), uptimeSeconds: Math.round((Date.now() - this.started) / 1000) });
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(body);
      return true;
    }
    if (path === '/metrics') {
      const stats = this.stats();
      this.metrics.gauge('mycel_signal_sockets', 'Open WebSocket connections.', stats.sockets);
      this.metrics.gauge('mycel_signal_peers', 'Peers that said hello.', stats.peers);
      this.metrics.gauge('mycel_signal_topics', 'Distinct topics announced.', stats.topics);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' });
      res.end(this.metrics.render());
      return true;
    }
    return false;
  }

  stats(): { sockets: number; peers: number; topics: number } {
    return { sockets: this.clients.size, peers: this.peers.size, topics: this.topics.size };
  }

  async close(): Promise<void> {
    clearInterval(this.pingTimer);
    for (const client of this.clients) client.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private onConnection(ws: WebSocket, req: IncomingMessage): void {
    const address = req.socket.remoteAddress ?? 'unknown';
    const client: Client = {
      ws,
      address,
      topics: new Set(),
      tokens: this.limits.messageBurst,
      refilledAt: Date.now(),
      strikes: 0,
      struckAt: Date.now(),
      alive: true,
      nonce: randomBytes(CHALLENGE_NONCE_BYTES),
    };
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (this.clients.size >= this.limits.maxSockets || fromAddress >= this.limits.maxSocketsPerAddress) {
      const code = this.clients.size >= this.limits.maxSockets ? 'server-full' : 'too-many-sockets';
      this.metrics.inc('mycel_signal_rejected_total', 'Rejected messages and sockets by reason.', { reason: code });
      this.send(client, { t: 'error', code, message: 'too many connections' });
      ws.close(1008, code);
      this.log.warn('socket refused', { address, reason: code });
      return;
    }
    this.perAddress.set(address, fromAddress + 1);
    this.clients.add(client);
    this.metrics.inc('mycel_signal_connections_total', 'WebSocket connections accepted.');
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
    this.send(client, { t: 'challenge', v: SIGNAL_VERSION, nonce: toBase64Url(client.nonce) });
  }

  private onMessage(client: Client, data: RawData, isBinary: boolean): void {
    // A socket already forgotten (replaced by a newer one for its id) speaks for nobody.
    if (!this.clients.has(client)) return;
    client.alive = true;
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer | ArrayBuffer).byteLength;
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
    this.handle(client, message);
  }

  private handle(client: Client, message: ClientMessage): void {
    if (message.t === 'hello') {
      if (client.peer) return this.reject(client, 'bad-message', 'hello was already said');
      const signature = fromBase64Url(message.sig);
      if (!signature || !verifyPeerSignature(message.peer, helloMessage(client.nonce), signature)) {
        return this.reject(client, 'bad-proof', "the hello's signature does not prove this peer id", true);
      }
      const holder = this.peers.get(message.peer);
      if (holder && holder !== client) this.replace(holder);
      client.peer = message.peer;
      clearTimeout(client.helloTimer);
      this.peers.set(message.peer, client);
      this.send(client, { t: 'welcome', v: SIGNAL_VERSION, peer: message.peer, maxTopics: this.limits.maxTopicsPerSocket });
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
          if (client.ws.readyState !== client.ws.OPEN) return;
        }
        const fresh = topics.filter((t) => !client.topics.has(t));
        if (client.topics.size + fresh.length > this.limits.maxTopicsPerSocket) {
          return this.reject(client, 'too-many-topics', `at most ${this.limits.maxTopicsPerSocket} topics per socket`);
        }
        for (const topic of fresh) {
          client.topics.add(topic);
          let holders = this.topics.get(topic);
          if (!holders) this.topics.set(topic, (holders = new Set()));
          holders.add(peer);
        }
        return;
      }
      case 'withdraw':
        for (const topic of message.topics) this.dropTopic(client, topic);
        return;
      case 'lookup': {
        let holders = [...(this.topics.get(message.topic) ?? [])].filter((p) => p !== peer);
        if (message.topic === SEEDS_TOPIC) holders = holders.filter((p) => this.seeds.has(p));
        shuffle(holders);
        this.send(client, { t: 'holders', id: message.id, topic: message.topic, peers: holders.slice(0, MAX_HOLDERS) });
        return;
      }
      case 'signal': {
        const target = this.peers.get(message.to);
        if (!target) {
          this.send(client, { t: 'error', code: 'unknown-peer', message: 'no such peer is connected', ref: message.to });
          return;
        }
        this.send(target, { t: 'signal', from: peer, data: message.data });
        this.metrics.inc('mycel_signal_relayed_total', 'Signals relayed between peers.');
        return;
      }
    }
  }

  private takeToken(client: Client): boolean {
    const now = Date.now();
    const refill = ((now - client.refilledAt) / 1000) * this.limits.messagesPerSecond;
    client.tokens = Math.min(this.limits.messageBurst, client.tokens + refill);
    client.refilledAt = now;
    if (client.tokens < 1) return false;
    client.tokens -= 1;
    return true;
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
      this.log.warn('socket closed for misbehaviour', { peer: client.peer, address: client.address, code, strikes: client.strikes });
      client.ws.close(1008, code);
      // A client that ignores the close handshake is cut off.
      setTimeout(() => client.ws.terminate(), 2_000).unref?.();
    }
  }

  private send(client: Client, message: ServerMessage): void {
    if (client.ws.readyState !== client.ws.OPEN) return;
    // A reader that does not read must not make us buffer without bound.
    if (client.ws.bufferedAmount > 1024 * 1024) {
      client.ws.terminate();
      return;
    }
    client.ws.send(JSON.stringify(message));
  }

  private dropTopic(client: Client, topic: string): void {
    if (!client.topics.delete(topic) || !client.peer) return;
    const holders = this.topics.get(topic);
    holders?.delete(client.peer);
    if (holders?.size === 0) this.topics.delete(topic);
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
    const left = (this.perAddress.get(client.address) ?? 1) - 1;
    if (left > 0) this.perAddress.set(client.address, left);
    else this.perAddress.delete(client.address);
    for (const topic of [...client.topics]) this.dropTopic(client, topic);
    if (client.peer && this.peers.get(client.peer) === client) {
      this.peers.delete(client.peer);
      this.log.info('peer left', { peer: client.peer });
    }
    if (terminate) client.ws.terminate();
  }

  private pingAll(): void {
    for (const client of this.clients) {
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

function shuffle<T>(items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}
