// Serves the built web app from a folder: GET and HEAD only, no path may leave the folder, unknown
// paths get the app shell (the app routes on its own), and the service worker and HTML are never
// cached by the browser's HTTP cache so an update is seen on the next load. The file route belongs
// to the service worker: a request for it that reaches the server (no worker yet, a hard reload, a
// frame in another site's storage partition) gets a 404 under the file policy, never the app.

import { createReadStream, promises as fs } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { FILE_ROUTE, FILE_SECURITY_HEADERS } from '../content/presentation.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
};

/**
 * For the app's pages: scripts, styles and workers from this origin only; connections to this
 * origin's HTTP and WebSocket endpoints only (in CSP Level 3, 'self' also matches ws: and wss: to the
 * page's own host and port, which is where signaling lives). A script injected by a hostile file
 * name could read keys from the page, so nothing inline or foreign may run, and nothing may carry
 * what it read to another host.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "frame-src 'self'",
  "connect-src 'self'",
  "worker-src 'self'",
  "manifest-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export type StaticHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/** Returns a handler that answers (and resolves true) for requests it serves, false otherwise. */
export function staticFiles(root: string): StaticHandler {
  const base = path.resolve(root);
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      return false;
    }
    if (pathname.includes('\0')) return false;
    if (pathname.startsWith(FILE_ROUTE)) {
      res.writeHead(404, { ...FILE_SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
      res.end(
        req.method === 'HEAD'
          ? undefined
          : 'Files are served by the Mycel app on your device: open the file from its link.\n',
      );
      return true;
    }
    let file = path.resolve(base, '.' + pathname);
    if (file !== base && !file.startsWith(base + path.sep)) return false;
    let stat = await fs.stat(file).catch(() => undefined);
    if (stat?.isDirectory()) {
      file = path.join(file, 'index.html');
      stat = await fs.stat(file).catch(() => undefined);
    }
    if (!stat?.isFile()) {
      // Paths with an extension are real files that are missing; others are app routes.
      if (path.extname(pathname)) return false;
      file = path.join(base, 'index.html');
      stat = await fs.stat(file).catch(() => undefined);
      if (!stat?.isFile()) return false;
    }
    const ext = path.extname(file);
    const noCache = ext === '.html' || path.basename(file) === 'sw.js' || ext === '.webmanifest';
    res.writeHead(200, {
      'content-type': TYPES[ext] ?? 'application/octet-stream',
      'content-length': stat.size,
      'cache-control': noCache ? 'no-cache' : 'public, max-age=3600',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      ...(ext === '.html' ? { 'content-security-policy': CONTENT_SECURITY_POLICY } : {}),
    });
    if (req.method === 'HEAD') {
      res.end();
      return true;
    }
    await new Promise<void>((resolve) => {
      const stream = createReadStream(file);
      stream.on('error', () => {
        res.destroy();
        resolve();
      });
      stream.on('end', resolve);
      stream.pipe(res);
    });
    return true;
  };
}
