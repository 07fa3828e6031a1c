/// <reference lib="webworker" />
// The service worker: precaches the app shell so the app opens offline, and serves files held on
// this device at /mycel/file/<root>/<name> straight from IndexedDB, decrypted on the fly, with
// Range support. A new version waits until the page asks it to take over (the update prompt).

import { cleanupOutdatedCaches, createHandlerBoundToURL, precacheAndRoute } from 'workbox-precaching';
import { NavigationRoute, registerRoute } from 'workbox-routing';
import { openMycelDatabase, type MycelDB } from '../src/store/idb.browser.js';
import { FILE_ROUTE, fileErrorResponse, fileResponse } from './lib/file-response.js';

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

// Files first: a navigation to a file (a download) must not get the app shell. Even a failure is
// answered with the file policy's headers, never left to whatever the network would say.
const isFile = ({ url }: { url: URL }) => url.origin === self.location.origin && url.pathname.startsWith(FILE_ROUTE);
const serveFile = async ({ request }: { request: Request }) => {
  try {
    return await fileResponse(await database(), request);
  } catch {
    return fileErrorResponse(500, 'this file could not be read on this device');
  }
};
registerRoute(isFile, serveFile, 'GET');
registerRoute(isFile, serveFile, 'HEAD');

precacheAndRoute(self.__WB_MANIFEST);
cleanupOutdatedCaches();
registerRoute(
  new NavigationRoute(createHandlerBoundToURL('index.html'), {
    denylist: [/^\/mycel\/file\//, /^\/signal/, /^\/health/, /^\/metrics/],
  }),
);

self.addEventListener('message', (event) => {
  if ((event.data as { type?: string } | null)?.type === 'SKIP_WAITING') event.waitUntil(self.skipWaiting());
});

self.addEventListener('activate', (event) => {
  // The first version takes control of open pages at once, so downloads work without a reload.
  event.waitUntil(self.clients.claim());
});
