// `mycel signal` and `mycel serve`: one HTTP port carrying the signaling WebSocket (/signal),
// /health, /metrics and the built web app; `serve` adds a seed that joins through loopback, and
// lists it among the deployment's seeds (its key is loaded first, so its id is known).

import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignalingServer, type SignalingOptions } from '../../signaling/server.js';
import { SIGNAL_PATH } from '../net/signal-messages.js';
import { loadNodeIdentity } from './identity-file.js';
import { createLogger, type Logger } from './log.js';
import { Seed } from './seed.js';
import { staticFiles } from './static-files.js';

export interface SignalServeOptions {
  readonly port: number;
  readonly host?: string;
  /** The built web app; default dist/web of this package (skipped if not built). */
  readonly webRoot?: string;
  readonly log?: Logger;
  readonly signaling?: SignalingOptions;
  /** Peer ids of the deployment's seeds (the only ones offered as seeds). */
  readonly seeds?: readonly string[];
}

export interface ServeOptions extends SignalServeOptions {
  readonly dataDir: string;
  readonly quota: number;
  readonly allow?: readonly string[];
}

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
  const seeds = [...(options.seeds ?? []), ...(options.signaling?.seeds ?? [])];
  const signaling = new SignalingServer({ log: log.child({ component: 'signal' }), ...options.signaling, seeds });
  const webRoot = options.webRoot ?? defaultWebRoot();
  const serveStatic = existsSync(path.join(webRoot, 'index.html')) ? staticFiles(webRoot) : undefined;
  const server = createServer((req, res) => {
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
  signaling.attach(server, SIGNAL_PATH);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  const { port } = server.address() as { port: number };
  const host = !options.host || options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host;
  const url = `http://${host}:${port}`;
  log.info('listening', { component: 'serve', url, signal: `ws://${host}:${port}${SIGNAL_PATH}`, webApp: Boolean(serveStatic) });
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
  const running = await startSignal({ ...options, log, seeds: [identity.id, ...(options.seeds ?? [])] });
  const { port } = running.server.address() as { port: number };
  const wildcard = !options.host || options.host === '0.0.0.0' || options.host === '::';
  const loopback = wildcard ? '127.0.0.1' : options.host!.includes(':') ? `[${options.host}]` : options.host!;
  const seed = await Seed.start({
    dataDir: options.dataDir,
    quota: options.quota,
    allow: options.allow,
    identity,
    signalUrl: `ws://${loopback}:${port}${SIGNAL_PATH}`,
    log: log.child({ component: 'seed' }),
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
