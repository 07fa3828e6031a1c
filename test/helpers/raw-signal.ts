// A bare signaling WebSocket for tests that play a hostile or unusual client: it sends whatever
// it is told, from the local address and with the upgrade headers it is given, and records every
// message the server sends back.
import WebSocket from 'ws';
import { sha256 } from '@noble/hashes/sha2.js';
import { toBase64Url } from '../../src/content/bytes.js';
import { identityFromSecret, type PeerIdentity } from '../../src/net/identity.js';
import { SIGNAL_VERSION, challengeNonce, helloMessage } from '../../src/net/signal-messages.js';

export interface ServerSaid {
  t: string;
  code?: string;
  maxTopics?: number;
  nonce?: string;
  peers?: string[];
  id?: number;
}

export interface RawSignal {
  ws: WebSocket;
  messages: ServerSaid[];
  /** The first message (already received or to come) that `match` accepts. */
  next(match?: (m: ServerSaid) => boolean, timeoutMs?: number): Promise<ServerSaid>;
  closed: Promise<number>;
  send(message: unknown): void;
}

export interface RawOptions {
  localAddress?: string;
  headers?: Record<string, string>;
}

/** Opens a socket; resolves once it is open (the server may still refuse it with a message). */
export function openRaw(url: string, options: RawOptions = {}): Promise<RawSignal> {
  const ws = new WebSocket(url, { localAddress: options.localAddress, headers: options.headers });
  const messages: ServerSaid[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (data) => {
    messages.push(JSON.parse((data as Buffer).toString()));
    waiters.splice(0).forEach((w) => w());
  });
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  ws.on('error', () => {
    // A refused or reset socket ends in `closed`, which tests look at.
  });
  const next: RawSignal['next'] = (match = () => true, timeoutMs = 10_000) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching message; got ${JSON.stringify(messages)}`)),
        timeoutMs,
      );
      const check = () => {
        const found = messages.find(match);
        if (found) {
          clearTimeout(timer);
          resolve(found);
        } else waiters.push(check);
      };
      check();
    });
  const send = (message: unknown) => ws.send(JSON.stringify(message));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, messages, next, closed, send }));
    ws.once('error', reject);
  });
}

/** The identity a test calls `name`: the same key every time, so tests can name peers. */
export function namedIdentity(name: string): PeerIdentity {
  return identityFromSecret(sha256(new TextEncoder().encode(`mycel test peer ${name}`)));
}

/** The peer id of `namedIdentity(name)`. */
export function peerIdFor(name: string): string {
  return namedIdentity(name).id;
}

/** Says a proven hello (signing this socket's challenge) as the peer called `name`; waits for the welcome. */
export async function sayHello(
  client: RawSignal,
  name = `peer-${Math.random().toString(36).slice(2, 12)}`,
): Promise<ServerSaid> {
  const identity = namedIdentity(name);
  const challenge = await client.next((m) => m.t === 'challenge');
  const sig = await identity.sign(helloMessage(challengeNonce(challenge.nonce!)!));
  client.send({ t: 'hello', v: SIGNAL_VERSION, peer: identity.id, sig: toBase64Url(sig) });
  return client.next((m) => m.t === 'welcome');
}

/** Matches an error message with `code`. */
export const errorCode = (code: string) => (m: ServerSaid) => m.t === 'error' && m.code === code;

/** `n` distinct topics (64 hex characters), different for each `seed`. */
export function hexTopics(n: number, seed: number): string[] {
  return Array.from({ length: n }, (_, i) =>
    (seed.toString(16).padStart(8, '0') + i.toString(16).padStart(8, '0')).repeat(4),
  );
}
