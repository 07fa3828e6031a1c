// The signaling client's reconnect logic (src/net/signal-client.ts) with a fake WebSocket and fake
// timers: when it tries again, what it says again once back, and when it stops for good. The real
// server and sockets are covered by test/integration/signaling.test.ts; these are the edges a real
// server cannot show on demand (a dead server for minutes, a drop at a chosen moment).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { toBase64Url } from '../../src/content/bytes.js';
import { ClosedError } from '../../src/errors.js';
import { ephemeralIdentity } from '../../src/net/identity.js';
import {
  MAX_QUEUED_SIGNALS,
  MAX_SERVER_MESSAGE_CHARS,
  RECONNECT_MAX_MS,
  RECONNECT_MIN_MS,
} from '../../src/net/limits.js';
import { SignalClient, type WebSocketLike } from '../../src/net/signal-client.js';
import { SIGNAL_VERSION } from '../../src/net/signal-messages.js';

const TOPIC_A = 'a'.repeat(64);
const TOPIC_B = 'b'.repeat(64);
const OTHER = ephemeralIdentity().id;

/** A socket the test drives: it opens, speaks for the server, and drops when told. */
class FakeSocket implements WebSocketLike {
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  readonly sent: Record<string, unknown>[] = [];

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(code = 1000, reason = ''): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  serverSays(message: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }

  /** The server went away. */
  drop(): void {
    this.close(1006, '');
  }

  sentOfType(t: string): Record<string, unknown>[] {
    return this.sent.filter((m) => m.t === t);
  }
}

class FakeServer {
  readonly sockets: FakeSocket[] = [];
  /** Fake-clock times at which the client opened a socket. */
  readonly attemptsAt: number[] = [];
  /** A dead server: sockets are made but never open, and close at once. */
  down = false;

  readonly createSocket = (): WebSocketLike => {
    const socket = new FakeSocket();
    this.sockets.push(socket);
    this.attemptsAt.push(Date.now());
    if (this.down) queueMicrotask(() => socket.drop());
    return socket;
  };

  get last(): FakeSocket {
    return this.sockets[this.sockets.length - 1]!;
  }

  /** Opens the newest socket and runs the challenge, hello and welcome. */
  async accept(peer: string): Promise<FakeSocket> {
    const socket = this.last;
    socket.open();
    socket.serverSays({ t: 'challenge', v: SIGNAL_VERSION, nonce: toBase64Url(new Uint8Array(32).fill(7)) });
    await vi.waitFor(() => expect(socket.sentOfType('hello')).toHaveLength(1));
    socket.serverSays({ t: 'welcome', v: SIGNAL_VERSION, peer, maxTopics: 1000 });
    return socket;
  }
}

let server: FakeServer;
let client: SignalClient;

function newClient(): SignalClient {
  const identity = ephemeralIdentity();
  client = new SignalClient({ url: 'ws://signal.test/signal', identity, createSocket: server.createSocket });
  return client;
}

beforeEach(() => {
  vi.useFakeTimers();
  server = new FakeServer();
});

afterEach(() => {
  client?.close();
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('the signaling client', () => {
  it('tries again after growing, capped, jittered delays while the server is down', async () => {
    server.down = true;
    newClient().start();
    for (let i = 0; i < 12; i++) await vi.advanceTimersByTimeAsync(RECONNECT_MAX_MS);
    const gaps = server.attemptsAt.slice(1).map((t, i) => t - server.attemptsAt[i]!);
    expect(gaps.length).toBeGreaterThanOrEqual(8);
    gaps.forEach((gap, attempt) => {
      const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** attempt);
      expect(gap).toBeGreaterThanOrEqual(delay / 2);
      expect(gap).toBeLessThanOrEqual(delay);
    });
    // It never gives up on its own.
    expect(gaps.at(-1)).toBeLessThanOrEqual(RECONNECT_MAX_MS);
  });

  it('starts again from the shortest delay once a socket opened', async () => {
    server.down = true;
    newClient().start();
    for (let i = 0; i < 6; i++) await vi.advanceTimersByTimeAsync(RECONNECT_MAX_MS);
    server.down = false;
    await vi.advanceTimersByTimeAsync(RECONNECT_MAX_MS);
    const socket = await server.accept(client.peerId);
    const before = server.sockets.length;
    socket.drop();
    await vi.advanceTimersByTimeAsync(RECONNECT_MIN_MS);
    expect(server.sockets.length).toBe(before + 1);
  });

  it('announces again every topic it holds, less the withdrawn, once welcomed on a new socket', async () => {
    const c = newClient();
    c.start();
    c.announce([TOPIC_A]);
    const first = await server.accept(c.peerId);
    first.drop();
    // While disconnected: one more topic, and one gone.
    c.announce([TOPIC_B]);
    c.withdraw([TOPIC_A]);
    await vi.advanceTimersByTimeAsync(RECONNECT_MIN_MS);
    const second = await server.accept(c.peerId);
    expect(second.sentOfType('announce').flatMap((m) => m.topics as string[])).toEqual([TOPIC_B]);
    expect(second.sentOfType('withdraw')).toEqual([]);
  });

  it('sends the signals queued while disconnected after its hello, keeping only the newest MAX_QUEUED_SIGNALS', async () => {
    const c = newClient();
    c.start();
    await server.accept(c.peerId);
    server.last.drop();
    for (let i = 0; i < MAX_QUEUED_SIGNALS + 10; i++) c.signal(OTHER, { n: i });
    await vi.advanceTimersByTimeAsync(RECONNECT_MIN_MS);
    const socket = await server.accept(c.peerId);
    const signals = socket.sentOfType('signal');
    expect(signals).toHaveLength(MAX_QUEUED_SIGNALS);
    expect((signals[0]!.data as { n: number }).n).toBe(10);
    expect(socket.sent.findIndex((m) => m.t === 'hello')).toBeLessThan(socket.sent.findIndex((m) => m.t === 'signal'));
  });

  it('fails lookups in flight with ClosedError when the socket drops, and says it disconnected', async () => {
    const c = newClient();
    c.start();
    const socket = await server.accept(c.peerId);
    const disconnected = vi.fn();
    c.on('disconnected', disconnected);
    const lookup = c.lookup(TOPIC_A);
    socket.drop();
    await expect(lookup).rejects.toBeInstanceOf(ClosedError);
    expect(disconnected).toHaveBeenCalledOnce();
    expect(c.connected).toBe(false);
  });

  it('stops for good when the server says another socket proved its id', async () => {
    const c = newClient();
    c.start();
    const socket = await server.accept(c.peerId);
    const replaced = vi.fn();
    c.on('replaced', replaced);
    socket.serverSays({ t: 'error', code: 'replaced', message: 'another socket proved this peer id' });
    socket.drop();
    await vi.advanceTimersByTimeAsync(10 * RECONNECT_MAX_MS);
    expect(replaced).toHaveBeenCalledOnce();
    expect(server.sockets).toHaveLength(1);
  });

  it('stops trying once closed', async () => {
    server.down = true;
    newClient().start();
    await vi.advanceTimersByTimeAsync(RECONNECT_MIN_MS);
    client.close();
    const attempts = server.sockets.length;
    await vi.advanceTimersByTimeAsync(10 * RECONNECT_MAX_MS);
    expect(server.sockets).toHaveLength(attempts);
  });

  it('takes a welcome from a newer server that adds fields it does not know, known ones still checked', async () => {
    const c = newClient();
    c.start();
    const socket = server.last;
    socket.open();
    socket.serverSays({ t: 'challenge', v: SIGNAL_VERSION, nonce: toBase64Url(new Uint8Array(32).fill(7)), hint: 1 });
    await vi.waitFor(() => expect(socket.sentOfType('hello')).toHaveLength(1));
    const turn = { urls: ['turn:relay.test:3478'], username: 'u', credential: 'c', credentialType: 'password' };
    // A known field out of bounds still makes the message void: the client stays unwelcomed.
    socket.serverSays({ t: 'welcome', v: SIGNAL_VERSION, peer: c.peerId, maxTopics: -1, region: 'eu' });
    expect(c.connected).toBe(false);
    socket.serverSays({
      t: 'welcome',
      v: SIGNAL_VERSION,
      peer: c.peerId,
      maxTopics: 1000,
      iceServers: [turn],
      region: 'eu',
      features: { relay: true },
    });
    expect(c.connected).toBe(true);
    // Known fields are taken; unknown ones (here and nested) are left out, not passed along.
    expect(c.iceServers).toEqual([{ urls: turn.urls, username: 'u', credential: 'c' }]);
  });

  it('ignores a server message longer than MAX_SERVER_MESSAGE_CHARS, whatever it holds', async () => {
    const c = newClient();
    c.start();
    const socket = server.last;
    socket.open();
    socket.serverSays({ t: 'challenge', v: SIGNAL_VERSION, nonce: toBase64Url(new Uint8Array(32).fill(7)) });
    await vi.waitFor(() => expect(socket.sentOfType('hello')).toHaveLength(1));
    const welcome = { t: 'welcome', v: SIGNAL_VERSION, peer: c.peerId, maxTopics: 1000 };
    socket.serverSays({ ...welcome, padding: 'x'.repeat(MAX_SERVER_MESSAGE_CHARS) });
    expect(c.connected).toBe(false);
    socket.serverSays(welcome);
    expect(c.connected).toBe(true);
  });
});
