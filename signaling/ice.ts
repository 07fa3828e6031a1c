// The ICE servers a signaling server hands each peer: STUN URLs as given, and TURN URLs with
// credentials in coturn's REST scheme (`use-auth-secret`): username "<unix expiry>:<peer id>",
// password base64(HMAC-SHA1(shared secret, username)). coturn checks both against the same secret,
// so the relay needs no user list and a leaked credential dies at its expiry. The secret never
// leaves this module's closure: not in a message, a log line or /health.

import { createHmac } from 'node:crypto';
import { MAX_ICE_SERVERS, type IceServer } from '../src/net/signal-messages.js';

/** Default life of TURN credentials; peers that stay connected get fresh ones halfway (server.ts). */
export const DEFAULT_TURN_TTL_MS = 12 * 60 * 60 * 1000;

export interface IceConfig {
  /** stun:host:port URLs. */
  readonly stun?: readonly string[];
  /** turn:/turns: URLs, passed on as given (a ?transport= in them is kept). */
  readonly turn?: readonly string[];
  /** coturn's static-auth-secret; required when `turn` is given. */
  readonly turnSecret?: string;
  readonly turnTtlMs?: number;
}

const STUN_RE = /^stuns?:[^\s]+$/;
const TURN_RE = /^turns?:[^\s]+$/;

/** coturn's REST credentials for `peer`, valid `ttlMs` from `now`. */
export function turnCredentials(
  secret: string,
  peer: string,
  ttlMs: number,
  now = Date.now(),
): { username: string; credential: string } {
  const username = `${Math.floor((now + ttlMs) / 1000)}:${peer}`;
  return { username, credential: createHmac('sha1', secret).update(username).digest('base64') };
}

/**
 * Checks `config` and returns what makes each peer's list. Throws a RangeError naming the bad part
 * (a URL of the wrong scheme, TURN without a secret, too many servers).
 */
export function iceServersFactory(config: IceConfig): ((peer: string) => IceServer[]) | undefined {
  const stun = [...(config.stun ?? [])];
  const turn = [...(config.turn ?? [])];
  if (stun.length === 0 && turn.length === 0) return undefined;
  for (const url of stun) if (!STUN_RE.test(url)) throw new RangeError(`not a STUN URL (stun:host:port): ${url}`);
  for (const url of turn) if (!TURN_RE.test(url)) throw new RangeError(`not a TURN URL (turn:host:port): ${url}`);
  if (stun.length + turn.length > MAX_ICE_SERVERS)
    throw new RangeError(`at most ${MAX_ICE_SERVERS} STUN and TURN URLs in all`);
  if (turn.length > 0 && !config.turnSecret)
    throw new RangeError('TURN needs the shared secret (--turn-secret-file or MYCEL_TURN_SECRET)');
  const ttlMs = config.turnTtlMs ?? DEFAULT_TURN_TTL_MS;
  if (!(ttlMs >= 1_000)) throw new RangeError('the TURN credential lifetime must be a second or more');
  const secret = config.turnSecret ?? '';
  return (peer) => {
    const servers: IceServer[] = [];
    if (stun.length) servers.push({ urls: stun });
    if (turn.length) servers.push({ urls: turn, ...turnCredentials(secret, peer, ttlMs) });
    return servers;
  };
}

/** Credentials are renewed this long after they were sent: half their life. */
export function iceRenewAfterMs(config: IceConfig): number {
  return (config.turnTtlMs ?? DEFAULT_TURN_TTL_MS) / 2;
}
