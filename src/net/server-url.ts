// Where a Mycel server is: the http(s) origin a link carries, and the ws(s) URL of its signaling
// socket. Links name the server by its web origin; peers connect to its signaling path.

import { SIGNAL_PATH } from './signal-messages.js';

/** ws(s)://host/signal for a link's or server's http(s) origin. */
export function signalUrlFor(origin: string): string {
  const url = new URL(origin);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.pathname === '/' || url.pathname === '') url.pathname = SIGNAL_PATH;
  url.hash = '';
  return url.toString();
}

/** The http(s) origin a link should carry, given a server given as http(s) or ws(s) URL. */
export function httpOriginFor(server: string): string {
  const url = new URL(server);
  if (url.protocol === 'ws:') url.protocol = 'http:';
  else if (url.protocol === 'wss:') url.protocol = 'https:';
  return url.origin;
}
