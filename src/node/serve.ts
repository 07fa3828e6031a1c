// `mycel serve`: one process and one port for the web app and the HTTP endpoints.

import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, type Logger } from './log.js';
import { staticFiles } from './static-files.js';

export interface ServeOptions {
  readonly port: number;
  readonly host?: string;
  readonly dataDir: string;
  readonly quota: number;
  /** The built web app; default dist/web of this package. */
  readonly webRoot?: string;
  readonly log?: Logger;
}

export interface RunningServe {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/** dist/web beside this package's dist/node. */
export function defaultWebRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'web');
}

export async function startServe(options: ServeOptions): Promise<RunningServe> {
  const log = options.log ?? createLogger({ fields: { component: 'serve' } });
  const serveStatic = staticFiles(options.webRoot ?? defaultWebRoot());
  const started = Date.now();
  const server = createServer((req, res) => {
    if (req.url === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, uptimeSeconds: Math.round((Date.now() - started) / 1000) }));
      return;
    }
    serveStatic(req, res).then((served) => {
      if (!served) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found\n');
      }
    }, () => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  const address = server.address() as { port: number };
  const url = `http://${options.host && options.host !== '0.0.0.0' ? options.host : 'localhost'}:${address.port}`;
  log.info('listening', { url });
  return {
    url,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
