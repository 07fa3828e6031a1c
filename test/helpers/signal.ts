// A signaling client for tests that speaks the protocol by hand over a raw WebSocket, so a test can
// play a hostile or unusual client: it sends anything at all, from the local address and with the
// upgrade headers it is given, records every message the server sends back, and says hello
// honestly (signing this socket's challenge) when it needs to.
import WebSocket from 'ws';
import { sha256 } from '@noble/hashes/sha2.js';
import { toBase64Url } from '../../src/content/bytes.js';
import { ephemeralIdentity, identityFromSecret, type PeerIdentity } from '../../src/net/identity.js';
import { SIGNAL_VERSION, challengeNonce, helloMessage } from '../../src/net/signal-messages.js';

export interface RawMessage {
  t: string;
  code?: string;
  nonce?: string;
  maxTopics?: number;
  peers?: string[];
  id?: number;
  [key: string]: unknown;
}

export interface RawSocket {
  ws: WebSocket;
  messages: RawMessage[];
  /** The first message (already received or to come) that `match` accepts. */
  next(match?: (m: RawMessage) => boolean, timeoutMs?: number): Promise<RawMessage>;
  /** This socket's challenge nonce (waits for it). */
  challenge(): Promise<Uint8Array>;
  /** Signs the challenge as `identity` (a fresh one by default) and waits for welcome. */
  hello(identity?: PeerIdentity): Promise<PeerIdentity>;
  closed: Promise<number>;
  send(message: unknown): void;
}

/** Opens a socket; resolves once it is open (the server may still refuse it with a message). */

export function rawSocket(
  url: string,
  options: {
    localAddress?: string;
    autoPong?: boolean;
    headers?: Record<string, string>;
    /** CA certificates to trust for a wss:// URL. */
    ca?: Buffer;
  } = {},
): Promise<RawSocket> {
  const ws = new WebSocket(url, options);
  const messages: RawMessage[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (data) => {
    messages.push(JSON.parse((data as Buffer).toString()));
    waiters.splice(0).forEach((w) => w());
  });
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  ws.on('error', () => {
    // A refused or reset socket ends in `closed`, which tests look at.
  });
  const next: RawSocket['next'] = (match = () => true, timeoutMs = 10_000) =>
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
  const challenge = async () => challengeNonce((await next((m) => m.t === 'challenge')).nonce as string)!;
  const hello = async (identity = ephemeralIdentity()) => {
    const sig = await identity.sign(helloMessage(await challenge()));
    const before = messages.length;
    ws.send(JSON.stringify({ t: 'hello', v: SIGNAL_VERSION, peer: identity.id, sig: toBase64Url(sig) }));
    const answer = await next((m) => messages.indexOf(m) >= before && (m.t === 'welcome' || m.t === 'error'));
    if (answer.t !== 'welcome') throw new Error(`hello refused: ${JSON.stringify(answer)}`);
    return identity;
  };
  const send = (message: unknown) => ws.send(JSON.stringify(message));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, messages, next, challenge, hello, closed, send }));
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

/**
 * Says a proven hello as the peer called `name` and waits for the welcome, which it returns (unlike
 * `hello`, a refusal is not an error: the wait for a welcome times out).
 */
export async function sayHello(
  client: RawSocket,
  name = `peer-${Math.random().toString(36).slice(2, 12)}`,
): Promise<RawMessage> {
  const identity = namedIdentity(name);
  const sig = await identity.sign(helloMessage(await client.challenge()));
  client.send({ t: 'hello', v: SIGNAL_VERSION, peer: identity.id, sig: toBase64Url(sig) });
  return client.next((m) => m.t === 'welcome');
}

/** Matches an error message with `code`. */
export const errorCode = (code: string) => (m: RawMessage) => m.t === 'error' && m.code === code;

/** `n` distinct topics (64 hex characters), different for each `seed`. */
export function hexTopics(n: number, seed: number): string[] {
  return Array.from({ length: n }, (_, i) =>
    (seed.toString(16).padStart(8, '0') + i.toString(16).padStart(8, '0')).repeat(4),
  );
}
