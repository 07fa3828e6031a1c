// coturn (Debian's `turnserver`, 4.6.1) in a test network's public namespace, configured the
// way issue 9 has Mycel use it: `use-auth-secret` (REST credentials from a shared secret), a
// realm, a relay port range. What coturn writes (config, userdb, pid file) stays in the run's temp
// folder; its log goes to stdout (`log-file=stdout`), collected by the harness, so a test can wait
// for a log line instead of polling a file. The server is stopped at the network's teardown.
// (Its stderr shows "socket: Protocol not supported" twice: no SCTP in the kernel; harmless.)

import { createHmac, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { MycelProcess } from '../processes.js';
import type { TestNetwork } from './netns.js';

export const TURN_PORT = 3478;
export const TURN_REALM = 'mycel.test';
/**
 * The relay port range. Each connection through the relay holds an allocation (a port) on each
 * side until its lifetime runs out, also after the peers hung up: with 49 ports, 24 gets in a
 * row through the relay used them all and the 25th got no relay candidate.
 */
export const RELAY_MIN_PORT = 49152;
export const RELAY_MAX_PORT = 49900;
/** Default lifetime of REST credentials made by `credentials()`. */
export const TURN_CREDENTIAL_TTL_S = 3600;
const READY_TIMEOUT_MS = 10_000;

export interface TurnCredentials {
  /** "<unix expiry>:<id>" — coturn's REST scheme. */
  readonly username: string;
  /** base64(HMAC-SHA1(secret, username)). */
  readonly credential: string;
}

export interface TurnServer {
  readonly proc: MycelProcess;
  readonly address: string;
  readonly port: number;
  readonly realm: string;
  /** The shared secret (`static-auth-secret`). */
  readonly secret: string;
  /** stun:<address>:<port> — coturn answers STUN binding requests on its TURN port. */
  readonly stunUrl: string;
  /** turn:<address>:<port>?transport=udp */
  readonly turnUrl: string;
  /** REST credentials for `id`, valid `ttlS` seconds from now. */
  credentials(id: string, ttlS?: number): TurnCredentials;
  /**
   * `iceServers` for a peer with id `id`: STUN and TURN with fresh credentials. With
   * `forNodeDatachannel`, username and credential are percent-encoded: node-datachannel's polyfill
   * pastes them into a "turn:user:pass@host" URL unencoded, and the ':' in a REST username then
   * makes coturn look up the wrong user ("Cannot find credentials of user <expiry>").
   */
  iceServers(id: string, options?: { forNodeDatachannel?: boolean; ttlS?: number; stun?: boolean }): RTCIceServer[];
  /** The log so far (verbose: allocations, permissions and refusals show here). */
  log(): string;
}

/** coturn's REST credentials: what a server holding `secret` hands a peer. */
export function turnCredentials(
  secret: string,
  id: string,
  ttlS = TURN_CREDENTIAL_TTL_S,
  now = Date.now(),
): TurnCredentials {
  const username = `${Math.floor(now / 1000) + ttlS}:${id}`;
  const credential = createHmac('sha1', secret).update(username).digest('base64');
  return { username, credential };
}

export interface TurnOptions {
  /** Where coturn listens and relays from (default: the public namespace's first address). */
  readonly address?: string;
  readonly port?: number;
  readonly realm?: string;
}

/** Starts coturn in `net`'s public namespace and waits until it listens. */
export async function startTurn(net: TestNetwork, options: TurnOptions = {}): Promise<TurnServer> {
  const address = options.address ?? net.public.address;
  const port = options.port ?? TURN_PORT;
  const realm = options.realm ?? TURN_REALM;
  const secret = randomBytes(16).toString('hex');
  const dir = path.join(net.dir, `turn-${address}-${port}`);
  await fs.mkdir(dir, { recursive: true });
  // A config file rather than flags keeps the secret out of the process list, as in production.
  const config = path.join(dir, 'turnserver.conf');
  await fs.writeFile(
    config,
    [
      `listening-ip=${address}`,
      `relay-ip=${address}`,
      `listening-port=${port}`,
      `min-port=${RELAY_MIN_PORT}`,
      `max-port=${RELAY_MAX_PORT}`,
      'use-auth-secret',
      `static-auth-secret=${secret}`,
      `realm=${realm}`,
      'fingerprint',
      'no-tls',
      'no-dtls',
      // coturn's telnet CLI would listen on 127.0.0.1:5766 of the namespace; nothing needs it.
      'no-cli',
      // Allocations and permissions are only logged in verbose mode.
      'verbose',
      `userdb=${path.join(dir, 'turndb')}`,
      `pidfile=${path.join(dir, 'turnserver.pid')}`,
      'log-file=stdout',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const proc = net.start(net.public.ns, 'turnserver', ['-c', config]);
  // This line comes once the UDP listener on our address is open.
  await proc.waitForLine(
    (line) => line.includes('UDP listener opened on') && line.includes(`${address}:${port}`),
    READY_TIMEOUT_MS,
  );
  const stunUrl = `stun:${address}:${port}`;
  const turnUrl = `turn:${address}:${port}?transport=udp`;
  return {
    proc,
    address,
    port,
    realm,
    secret,
    stunUrl,
    turnUrl,
    credentials: (id, ttlS) => turnCredentials(secret, id, ttlS),
    iceServers(id, { forNodeDatachannel = false, ttlS, stun = true } = {}) {
      const { username, credential } = turnCredentials(secret, id, ttlS);
      const encode = forNodeDatachannel ? encodeURIComponent : (text: string) => text;
      return [
        ...(stun ? [{ urls: stunUrl }] : []),
        { urls: turnUrl, username: encode(username), credential: encode(credential) },
      ];
    },
    log: () => proc.stdout.join('\n'),
  };
}
