// `mycel signal` and `mycel serve`: one HTTP port carrying the signaling WebSocket (/signal),
// /health, /metrics and the built web app; `serve` adds a seed that joins through loopback: it is
// listed among the deployment's seeds (its key is loaded first, so its id is known) and proves with
// a per-process secret that it is the embedded seed, so it counts against no address's limits
// (http-guard.ts holds the HTTP deadlines and connection cap).

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TrustedProxies } from '../../signaling/client-address.js';
import { RedisSignalingState, redactUrl } from '../../signaling/redis-state.js';
import {
  DEFAULT_LIMITS,
  INTERNAL_TOKEN_HEADER,
  SignalingServer,
  stateLimits,
  type SignalingOptions,
} from '../../signaling/server.js';
import { SIGNAL_PATH } from '../net/signal-messages.js';
import { signalUrlFor } from '../net/server-url.js';
import type { IceConfig } from '../../signaling/ice.js';
import { UsageError } from './usage-error.js';
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
  /**
   * Share presence, topics, limits and relays with every signaling process on this Redis
   * (redis://, rediss:// or unix:///path); without it the state is in this process's memory.
   */
  readonly redis?: string;
  /** Key prefix in Redis, so several deployments (or tests) can share one server. */
  readonly redisPrefix?: string;
  /** PEM files: with both, the port serves https and wss instead of http and ws. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  /** The origin links carry and people open (https://host[:port]); default the listening address. */
  readonly publicUrl?: string;
  /** STUN/TURN servers handed to every peer (signaling/ice.ts). */
  readonly ice?: IceConfig;
  /** Where the one line a person reads goes (where to open Mycel); default stdout. */
  readonly announce?: (line: string) => void;
}

/** `text` as a public origin (http(s)://host[:port], nothing after), or a UsageError. */
export function publicOriginOf(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`bad --public-url: ${text} (try https://mycel.example.org)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new UsageError(`bad --public-url: ${text} (an https:// address)`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash)
    throw new UsageError(`bad --public-url: ${text} (an origin only, no path: Mycel serves at the root)`);
  return url.origin;
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new UsageError(
      `cannot read the TLS ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

export interface ServeOptions
  extends
    SignalServeOptions,
    Pick<
      SeedOptions,
      | 'dataDir'
      | 'quota'
      | 'allow'
      | 'peerQuota'
      | 'openShare'
      | 'openTtlMs'
      | 'minFreeBytes'
      | 'serveDelayMs'
      | 'auditIntervalMs'
      | 'collectMs'
      | 'graceMs'
      | 'copies'
    > {}

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
  const state = options.redis
    ? await RedisSignalingState.open({
        url: options.redis,
        prefix: options.redisPrefix,
        limits: stateLimits({ ...DEFAULT_LIMITS, ...options.signaling?.limits }),
        log: log.child({ component: 'signal-state' }),
      })
    : undefined;
  const signaling = new SignalingServer({
    log: log.child({ component: 'signal' }),
    ...options.signaling,
    ...(state ? { state } : {}),
    trustProxy,
    seeds,
    ice: options.ice ?? options.signaling?.ice,
    publicUrl: options.publicUrl,
  });
  const webRoot = options.webRoot ?? defaultWebRoot();
  const serveStatic = existsSync(path.join(webRoot, 'index.html')) ? staticFiles(webRoot) : undefined;
  const httpLimits = { ...DEFAULT_HTTP_LIMITS, ...options.http };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
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
  };
  // An https server is an http one underneath: the same requests, upgrades and deadlines.
  const server: Server = options.tls
    ? createTlsServer(
        {
          ...httpServerOptions(httpLimits),
          cert: readPem(options.tls.certFile, 'certificate'),
          key: readPem(options.tls.keyFile, 'key'),
        },
        handler,
      )
    : createServer(httpServerOptions(httpLimits), handler);
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
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
    });
  } catch (error) {
    await signaling.close();
    await state?.close();
    throw error;
  }
  const { port } = server.address() as { port: number };
  const host = !options.host || options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host;
  const scheme = options.tls ? 'https' : 'http';
  const listening = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const url = options.publicUrl ?? listening;
  const signalUrl = signalUrlFor(listening);
  log.info('listening', {
    component: 'serve',
    url,
    listening,
    signal: signalUrl,
    tls: Boolean(options.tls),
    stun: options.ice?.stun?.length ?? 0,
    turn: options.ice?.turn?.length ?? 0,
    webApp: Boolean(serveStatic),
    state: state ? { redis: redactUrl(options.redis!), node: state.node } : 'memory',
    trustProxy: trustProxy ?? [],
    headersTimeoutMs: httpLimits.headersTimeoutMs,
  });
  (options.announce ?? ((line: string) => process.stdout.write(line + '\n')))(
    `Mycel is up: open ${url}/ in a browser; links will point to ${url}` +
      (url === listening ? '' : ` (listening on ${listening})`) +
      (options.tls || url.startsWith('https:') || host === 'localhost'
        ? ''
        : '. Without https, browsers on other machines cannot download: use --tls-cert/--tls-key or a TLS proxy'),
  );
  return {
    url,
    signalUrl,
    server,
    signaling,
    async close() {
      await signaling.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await state?.close();
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
    graceMs: options.graceMs,
    copies: options.copies,
    serveDelayMs: options.serveDelayMs,
    auditIntervalMs: options.auditIntervalMs,
    collectMs: options.collectMs,
    identity,
    signalUrl: `${options.tls ? 'wss' : 'ws'}://${loopback}:${port}${SIGNAL_PATH}`,
    signalSelfSigned: Boolean(options.tls),
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
    for (const [path, count] of Object.entries(stats.paths)) {
      m.gauge('mycel_seed_connections_by_path', 'Sessions the seed opened since start, by the path taken.', count, {
        path,
      });
    }
    const replication = seed.replication.stats();
    for (const [state, files] of Object.entries(replication.files)) {
      m.gauge(
        'mycel_replication_files',
        'Files the seed holds, by how their live copies compare with the target (at_risk: too few present, or none durable).',
        files,
        { state },
      );
    }
    for (const [result, count] of Object.entries(replication.repairs)) {
      m.counter('mycel_replication_repairs_total', 'Copies this seed pushed to repair a file, by result.', count, {
        result,
      });
    }
    m.counter('mycel_replication_releases_total', 'Surplus copies this seed released.', replication.releases);
    m.gauge(
      'mycel_seed_attempts_evicted',
      'Attempts the seed dropped to make room for newer offers.',
      stats.attemptsEvicted,
    );
  });
  running.signaling.metrics.addCollector(() => {
    const m = running.signaling.metrics;
    // Counters the seed keeps, brought up to date (Metrics only adds to a counter).
    const counter = (name: string, help: string, value: number, labels?: Record<string, string>) =>
      m.inc(name, help, labels, value - m.value(name, labels));
    const audits = seed.audits.totals;
    const AUDITS_HELP = 'Audits of other holders of files the seed holds, by result (unreachable ones are not audits).';
    counter('mycel_audits_total', AUDITS_HELP, audits.passed, { result: 'passed' });
    counter('mycel_audits_total', AUDITS_HELP, audits.failed, { result: 'failed' });
    const SUSPECTS_HELP =
      "Suspect reports (a peer's claim that a holder failed its audit) received, by what the seed did: audited the holder itself, ignored (not a holder of a file it holds), recent (audited on report within the cooldown), limited (over the rate).";
    for (const [outcome, count] of Object.entries(seed.audits.suspects)) {
      counter('mycel_suspect_reports_total', SUSPECTS_HELP, count, { outcome });
    }
    const REPORTED_HELP = 'Audits the seed ran because of a suspect report, by result (also in mycel_audits_total).';
    for (const [result, count] of Object.entries(seed.audits.reported)) {
      counter('mycel_reported_audits_total', REPORTED_HELP, count, { result });
    }
    const housekeeping = seed.housekeeping;
    counter('mycel_expired_files_total', 'Files dropped because their expiry passed.', housekeeping.expiredFiles);
    counter(
      'mycel_collected_blocks_total',
      'Blocks deleted because no file or upload needed them any more.',
      housekeeping.collectedBlocks,
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
