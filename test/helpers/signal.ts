// A signaling client for tests that speaks the protocol by hand over a raw WebSocket, so a test can
// send anything at all, and say hello honestly (signing this socket's challenge) when it needs to.
import WebSocket from 'ws';
import { toBase64Url } from '../../src/content/bytes.js';
import { ephemeralIdentity, type PeerIdentity } from '../../src/net/identity.js';
import { SIGNAL_VERSION, challengeNonce, helloMessage } from '../../src/net/signal-messages.js';

export interface RawMessage {
  t: string;
  code?: string;
  nonce?: string;
  [key: string]: unknown;
}

export interface RawSocket {
  ws: WebSocket;
  messages: RawMessage[];
  next(match?: (m: RawMessage) => boolean, timeoutMs?: number): Promise<RawMessage>;
  /** This socket's challenge nonce (waits for it). */
  challenge(): Promise<Uint8Array>;
  /** Signs the challenge as `identity` (a fresh one by default) and waits for welcome. */
  hello(identity?: PeerIdentity): Promise<PeerIdentity>;
  closed: Promise<number>;
}

export function rawSocket(
  url: string,
  options: { localAddress?: string; autoPong?: boolean; headers?: Record<string, string> } = {},
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
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, messages, next, challenge, hello, closed }));
    ws.once('error', reject);
  });
}
