/// <reference lib="webworker" />
// The service worker: precaches the app shell so the app opens offline, and serves files held on
// this device at /mycel/file/<root>/<name> straight from the block store (OPFS segments or
// IndexedDB, file-response.ts), decrypted on the fly, with Range support; a file not yet held whole
// is streamed from the tab that runs the peer as it arrives. A new version waits until the page
// asks it to take over (the update prompt).

import { cleanupOutdatedCaches, createHandlerBoundToURL, precacheAndRoute } from 'workbox-precaching';
import { NavigationRoute, registerRoute } from 'workbox-routing';
import { openMycelDatabase, type MycelDB } from '../src/store/idb.browser.js';
import { FILE_ROUTE, fileErrorResponse, fileResponse } from './lib/file-response.js';
import { streamFromPeerTab, type StreamClients } from './lib/peer-stream.js';
import { CLAIM_ME, STREAM_KEEPALIVE } from './lib/stream-protocol.js';
import { SHARE_ACTION, receiveShare } from './lib/shared-files.js';
import { DownloadMeters, downloadIdOf, isDownloadCancel, type DownloadReport } from './lib/download-meter.js';

declare const self: ServiceWorkerGlobalScope & { __WB_MANIFEST: Array<{ url: string; revision: string | null }> };

let db: Promise<MycelDB> | undefined;
function database(): Promise<MycelDB> {
  db ??= openMycelDatabase(undefined, {
    // A newer page wants to upgrade the schema: let go of this connection.
    onBlocking: () => {
      db?.then((d) => d.close()).catch(() => {
        // A database that never opened has no connection to let go of.
      });
      db = undefined;
    },
    onTerminated: () => {
      db = undefined;
    },
  });
  return db;
}

// A file not held whole is streamed from the tab that runs the peer (no WebRTC in a worker).
const windows: StreamClients = {
  windows: () => self.clients.matchAll({ type: 'window' }),
  isOpen: async (id) => (await self.clients.get(id)) !== undefined,
};
const fromPeer = (root: string, start: number, end: number) => streamFromPeerTab(windows, root, start, end);

// Files first: a navigation to a file (a download) must not get the app shell. Even a failure is
// answered with the file policy's headers, never left to whatever the network would say.
const isFile = ({ url }: { url: URL }) => url.origin === self.location.origin && url.pathname.startsWith(FILE_ROUTE);
// Downloads the page follows (and may cancel): every window hears how each goes.
const meters = new DownloadMeters((report: DownloadReport) => {
  self.clients
    .matchAll({ type: 'window' })
    .then((windows) => windows.forEach((w) => w.postMessage(report)))
    .catch(() => {
      // No window to tell: nobody is watching this download.
    });
});
const followed = (request: Request, response: Response): Response => {
  const id = downloadIdOf(new URL(request.url));
  if (!id || !response.body || !response.ok) return response;
  const total = Number(response.headers.get('content-length') ?? 0);
  const { status, statusText, headers } = response;
  return new Response(meters.meter(id, response.body, total), { status, statusText, headers });
};
const serveFile = async ({ request }: { request: Request }) => {
  try {
    return followed(request, await fileResponse(await database(), request, fromPeer));
  } catch {
    return fileErrorResponse(500, 'this file could not be read on this device');
  }
};
registerRoute(isFile, serveFile, 'GET');
registerRoute(isFile, serveFile, 'HEAD');

// Files sent by another app through the share sheet (the manifest's share_target).
registerRoute(
  ({ url }) => url.origin === self.location.origin && url.pathname === SHARE_ACTION,
  ({ request }) => receiveShare(request, self.caches, self.location.origin),
  'POST',
);

precacheAndRoute(self.__WB_MANIFEST);
cleanupOutdatedCaches();
registerRoute(
  new NavigationRoute(createHandlerBoundToURL('index.html'), {
    denylist: [/^\/mycel\/file\//, /^\/signal/, /^\/health/, /^\/metrics/],
  }),
);

self.addEventListener('message', (event) => {
  const type = (event.data as { type?: string } | null)?.type;
  if (type === 'SKIP_WAITING') event.waitUntil(self.skipWaiting());
  // A tab feeding a stream says so now and then: the event keeps this worker alive meanwhile.
  if (type === STREAM_KEEPALIVE) event.waitUntil(Promise.resolve());
  if (type === CLAIM_ME) event.waitUntil(self.clients.claim());
  if (isDownloadCancel(event.data)) meters.cancel(event.data.id);
});

self.addEventListener('activate', (event) => {
  // The first version takes control of open pages at once, so downloads work without a reload.
  event.waitUntil(self.clients.claim());
});
