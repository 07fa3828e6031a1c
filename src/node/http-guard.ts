// Keeps the one HTTP server in front of everything (the app, /health, /metrics, the signaling
// upgrade) from being held open by clients that never finish: deadlines for a request's headers,
// for a whole request and for idle sockets, and a cap on connections open at once from one
// address, so neither slow nor many connections from one place lock other people out.

import type { Server, ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import { addressKey, normalizeAddress, type TrustedProxies } from '../../signaling/client-address.js';

export interface HttpLimits {
  /** A request's headers (an upgrade's too) must be in within this; then 408 and closed. */
  headersTimeoutMs: number;
  /** A whole request must be in within this (we take no bodies; kept above headersTimeoutMs). */
  requestTimeoutMs: number;
  /** A kept-alive connection with no request in progress is closed after this. */
  keepAliveTimeoutMs: number;
  /** A socket with no traffic either way (a reader that stopped reading a file) is closed after this. */
  idleTimeoutMs: number;
  /** How often Node looks for connections past the header and request deadlines. */
  checkIntervalMs: number;
  /**
   * TCP connections open at once from one address (IPv6: one /64), WebSockets included; more are
   * closed on accept. Above the signaling server's sockets per address (64) with room for a
   * browser's parallel requests. Trusted proxies are exempt: all their clients share their address.
   */
  maxConnectionsPerAddress: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 60_000,
  checkIntervalMs: 1_000,
  maxConnectionsPerAddress: 256,
};

/** Options for `createServer` that carry the deadlines (Node checks them every checkIntervalMs). */
export function httpServerOptions(limits: HttpLimits): ServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    // Node refuses a request timeout shorter than the header timeout.
    requestTimeout: Math.max(limits.requestTimeoutMs, limits.headersTimeoutMs),
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.min(limits.checkIntervalMs, limits.headersTimeoutMs),
  };
}

export interface ConnectionGuardOptions {
  readonly limits: HttpLimits;
  readonly proxies?: TrustedProxies;
  /** Told about each connection closed on accept for being over the per-address cap. */
  readonly onRefused?: (address: string) => void;
}

/** Applies the idle timeout and the per-address connection cap to `server`. */
export function guardConnections(server: Server, options: ConnectionGuardOptions): void {
  const { limits, proxies } = options;
  const open = new Map<string, number>();
  // Idle sockets are destroyed by Node's default 'timeout' handling; ws clears it on upgrade.
  server.setTimeout(limits.idleTimeoutMs);
  server.on('connection', (socket: Socket) => {
    const address = normalizeAddress(socket.remoteAddress ?? 'unknown');
    if (proxies?.has(address)) return;
    const key = addressKey(address);
    const count = open.get(key) ?? 0;
    if (count >= limits.maxConnectionsPerAddress) {
      socket.destroy();
      options.onRefused?.(address);
      return;
    }
    open.set(key, count + 1);
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1;
      if (left > 0) open.set(key, left);
      else open.delete(key);
    });
  });
}
