// The signaling protocol: JSON messages over one WebSocket between a peer and the signaling server.
// Schemas here are the only place either side validates what it receives.
//
// peer → server:  hello {peer}  announce {topics}  withdraw {topics}  lookup {id, topic}
//                 signal {to, data}
// server → peer:  welcome {peer, limits}  holders {id, topic, peers}  signal {from, data}
//                 error {code, message, ref?}
// A topic is a file's root id (or "seeds" for the seeds' own topic); the server never learns more.

import { array, integer, literal, object, opaqueObject, optional, string, tagged, type Infer } from './schema.js';

export const SIGNAL_VERSION = 1;
/** The path the signaling WebSocket is served on. */
export const SIGNAL_PATH = '/signal';
/** The topic every seed announces, so uploaders can find one. */
export const SEEDS_TOPIC = 'seeds';

export const PEER_ID_RE = /^[A-Za-z0-9_-]{8,64}$/;
const TOPIC_RE = /^(?:[0-9a-f]{64}|seeds)$/;
/** Topics per announce/withdraw message: 100 ids of 66 JSON bytes stay under the 8 KiB message limit. */
export const MAX_TOPICS_PER_MESSAGE = 100;
/** Holders returned by one lookup. */
export const MAX_HOLDERS = 64;

const peerId = string({ min: 8, max: 64, pattern: PEER_ID_RE });
const topic = string({ min: 5, max: 64, pattern: TOPIC_RE });
const requestId = integer(0, 2 ** 31 - 1);

export const clientMessage = tagged({
  hello: object({ t: literal('hello'), v: literal(SIGNAL_VERSION), peer: peerId }),
  announce: object({ t: literal('announce'), topics: array(topic, { min: 1, max: MAX_TOPICS_PER_MESSAGE }) }),
  withdraw: object({ t: literal('withdraw'), topics: array(topic, { min: 1, max: MAX_TOPICS_PER_MESSAGE }) }),
  lookup: object({ t: literal('lookup'), id: requestId, topic }),
  signal: object({ t: literal('signal'), to: peerId, data: opaqueObject }),
});
export type ClientMessage = Infer<typeof clientMessage>;

export type SignalErrorCode =
  | 'bad-json'
  | 'bad-message'
  | 'too-large'
  | 'rate-limited'
  | 'hello-first'
  | 'peer-id-taken'
  | 'too-many-topics'
  | 'too-many-sockets'
  | 'unknown-peer'
  | 'server-full'
  /** The server holds all the topics it can; the refused ones may be announced again later. */
  | 'server-busy';

export const serverMessage = tagged({
  welcome: object({
    t: literal('welcome'),
    v: literal(SIGNAL_VERSION),
    peer: peerId,
    maxTopics: integer(0, 2 ** 31 - 1),
  }),
  holders: object({
    t: literal('holders'),
    id: requestId,
    topic,
    peers: array(peerId, { max: MAX_HOLDERS }),
  }),
  signal: object({ t: literal('signal'), from: peerId, data: opaqueObject }),
  error: object({
    t: literal('error'),
    code: string({ max: 32 }),
    message: string({ max: 300 }),
    ref: optional(string({ max: 64 })),
  }),
});
export type ServerMessage = Infer<typeof serverMessage>;

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
