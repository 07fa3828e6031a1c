// `mycel signal` and `mycel serve`: one HTTP port carrying the signaling WebSocket (/signal),
// /health, /metrics and the built web app; `serve` adds a seed that joins through loopback: it is
// listed among the deployment's seeds (its key is loaded first, so its id is known) and proves with
// a per-process secret that it is the embedded seed, so it counts against no address's limits
// (http-guard.ts holds the HTTP deadlines and connection cap).

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TrustedProxies } from '../../signaling/client-address.js';
import { INTERNAL_TOKEN_HEADER, SignalingServer, type SignalingOptions } from '../../signaling/server.js';
import { SIGNAL_PATH } from '../net/signal-messages.js';
import { DEFAULT_HTTP_LIMITS, guardConnections, httpServerOptions, type HttpLimits } from './http-guard.js';
import { loadNodeIdentity } from './identity-file.js';
import type { Logger } from '../log.js';
import { createLogger } from './log.js';
import { Seed, type SeedOptions } from './seed.js';
import { staticFiles } from './static-files.js';

export interface SignalServeOptions {
  readonly port: number;
  readonly host?: string;
  /** The built web app; default dist/web of this package (skipped if not built). */
  readonly webRoot?: string;
  readonly log?: Logger;
  readonly signaling?: SignalingOptions;
  /**
   * Reverse proxies (addresses or CIDR ranges) whose X-Forwarded-For names the client; their own
   * connections are not capped per address. Throws a RangeError for an entry that is no address.
   */
  readonly trustProxy?: readonly string[];
  readonly http?: Partial<HttpLimits>;
  /** Peer ids of the deployment's seeds (the only ones offered as seeds). */
  readonly seeds?: readonly string[];
}

export interface ServeOptions
  extends
    SignalServeOptions,
    Pick<SeedOptions, 'dataDir' | 'quota' | 'allow' | 'peerQuota' | 'openShare' | 'openTtlMs' | 'minFreeBytes'> {}

export interface RunningServer {
  /** http://host:port, the origin links carry. */
  readonly url: string;
  readonly signalUrl: string;
  readonly server: Server;
  readonly signaling: SignalingServer;
  readonly seed?: Seed;
  close(): Promise<void>;
}

/** dist/web beside this package's dist/node. */
export function defaultWebRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'web');
}

export async function startSignal(options: SignalServeOptions): Promise<RunningServer> {
  const log = options.log ?? createLogger();
  const trustProxy = options.trustProxy ?? options.signaling?.trustProxy;
  const proxies = trustProxy?.length ? new TrustedProxies(trustProxy) : undefined;
  const seeds = [...(options.seeds ?? []), ...(options.signaling?.seeds ?? [])];
  const signaling = new SignalingServer({
    log: log.child({ component: 'signal' }),
    ...options.signaling,
    trustProxy,
    seeds,
  });
  const webRoot = options.webRoot ?? defaultWebRoot();
  const serveStatic = existsSync(path.join(webRoot, 'index.html')) ? staticFiles(webRoot) : undefined;
  const httpLimits = { ...DEFAULT_HTTP_LIMITS, ...options.http };
  const server = createServer(httpServerOptions(httpLimits), (req, res) => {
    if (signaling.handleHttp(req, res)) return;
    const fallback = () => {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('not found\n');
    };
    if (!serveStatic) return fallback();
    serveStatic(req, res).then(
      (served) => served || fallback(),
      () => res.destroy(),
    );
  });
  guardConnections(server, {
    limits: httpLimits,
    proxies,
    onRefused: (address) => {
      signaling.metrics.inc('mycel_http_refused_total', 'TCP connections closed on accept by reason.', {
        reason: 'too-many-connections',
      });
      log.debug('connection refused', { component: 'serve', address, reason: 'too-many-connections' });
    },
  });
  signaling.attach(server, SIGNAL_PATH);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  const { port } = server.address() as { port: number };
  const host = !options.host || options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host;
  const url = `http://${host}:${port}`;
  log.info('listening', {
    component: 'serve',
    url,
    signal: `ws://${host}:${port}${SIGNAL_PATH}`,
    webApp: Boolean(serveStatic),
    trustProxy: trustProxy ?? [],
    headersTimeoutMs: httpLimits.headersTimeoutMs,
  });
  return {
    url,
    signalUrl: `ws://${host}:${port}${SIGNAL_PATH}`,
    server,
    signaling,
    async close() {
      await signaling.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export async function startServe(options: ServeOptions): Promise<RunningServer> {
  const log = options.log ?? createLogger();
  const identity = await loadNodeIdentity(options.dataDir);
  // Never leaves this process: the seed below sends it on its own upgrade over loopback.
  const internalToken = randomBytes(32).toString('base64url');
  const running = await startSignal({
    ...options,
    log,
    seeds: [identity.id, ...(options.seeds ?? [])],
    signaling: { ...options.signaling, internalToken },
  });
  const { port } = running.server.address() as { port: number };
  const wildcard = !options.host || options.host === '0.0.0.0' || options.host === '::';
  const loopback = wildcard ? '127.0.0.1' : options.host.includes(':') ? `[${options.host}]` : options.host;
  const seed = await Seed.start({
    dataDir: options.dataDir,
    quota: options.quota,
    allow: options.allow,
    peerQuota: options.peerQuota,
    openShare: options.openShare,
    openTtlMs: options.openTtlMs,
    minFreeBytes: options.minFreeBytes,
    identity,
    signalUrl: `ws://${loopback}:${port}${SIGNAL_PATH}`,
    signalHeaders: { [INTERNAL_TOKEN_HEADER]: internalToken },
    log: log.child({ component: 'seed' }),
  });
  running.signaling.metrics.addCollector(() => {
    const stats = seed.swarm.stats();
    const m = running.signaling.metrics;
    m.gauge('mycel_seed_sessions', 'Sessions the seed has with peers.', stats.sessions);
    m.gauge(
      'mycel_seed_connecting',
      'Connection attempts offered to the seed and still in progress.',
      stats.connecting,
    );
    m.gauge(
      'mycel_seed_connecting_peak',
      'Most connection attempts offered to the seed in progress at once.',
      stats.connectingPeak,
    );
    m.gauge(
      'mycel_seed_offers_refused',
      'Offers the seed refused (per-origin cap or rate, or too many peers).',
      stats.offersRefused,
    );
    m.gauge(
      'mycel_seed_attempts_evicted',
      'Attempts the seed dropped to make room for newer offers.',
      stats.attemptsEvicted,
    );
  });
  return {
    ...running,
    seed,
    async close() {
      await seed.close();
      await running.close();
    },
  };
}
