// The signaling protocol: JSON messages over one WebSocket between a peer and the signaling server.
// Schemas here are the only place either side validates what it receives.
//
// server → peer:  challenge {v, nonce}     first, on every new socket
// peer → server:  hello {v, peer, sig}  announce {topics}  withdraw {topics}  lookup {id, topic}
//                 lookups {id, topics}  signal {to, data}
// server → peer:  welcome {peer, maxTopics, origin?, iceServers?, batch?}  ice {iceServers}
//                 holders {id, topic, peers}  found {id, holders: [{topic, peers}]}
//                 signal {from, data, origin?}  error {code, message, ref?}
// `welcome.origin` is the public origin links should carry (the operator's --public-url);
// `welcome.batch` says the server takes `lookups` of up to that many topics (absent: it does not);
// each topic of a batch answers at most MAX_BATCHED_HOLDERS peers, so a seed that looks up
// thousands of held files a few messages at a time gets a small sample of each (a full sample
// shows as exactly MAX_BATCHED_HOLDERS, and a single `lookup` gets the bigger one).
// `iceServers` are the STUN/TURN servers to use, TURN ones with credentials made for this peer and
// valid for a limited time: `ice` brings fresh ones to a peer that stays connected.
// A topic is a file's root id, or "seeds", "keepers" or "keepers-persisted" (who may be given copies);
// the server never learns more.
//
// Hello proves possession of the peer id's key: `sig` is the Ed25519 signature (base64url) by
// `peer` over helloMessage(nonce), the nonce being the one this socket's challenge carried. So a
// peer id cannot be taken by anyone but its key holder, and a replayed hello is worth nothing on
// another socket.
//
// A relayed signal carries `origin`: an opaque tag for the sender's address (a keyed hash, with a
// key the server process drew at random, of the address key its limits count under). It names no
// address; it lets the receiver count connection attempts per origin (admission.ts). Equal tags
// mean the same address on the same server process, nothing more.

import { fromBase64Url } from '../content/bytes.js';
import { PEER_ID_LENGTH, PEER_ID_RE, domainMessage } from './identity.js';
import { array, integer, literal, object, opaqueObject, optional, string, tagged, type Infer } from './schema.js';

export const SIGNAL_VERSION = 2;
/** The path the signaling WebSocket is served on. */
export const SIGNAL_PATH = '/signal';
/** The topic every seed announces, so uploaders can find one. */
export const SEEDS_TOPIC = 'seeds';
/**
 * Topics a browser announces when its person lets it keep copies of files for others (replication
 * targets below seeds): one for browsers whose storage is not persisted, one for those whose storage
 * is (the browser granted `navigator.storage.persist()`). Which one a browser announces is its own
 * claim: it only orders placement among browsers, never makes a peer a seed.
 */
export const KEEPERS_TOPIC = 'keepers';
export const PERSISTED_KEEPERS_TOPIC = 'keepers-persisted';

/** Random bytes in a hello challenge (at least 16: unguessable and never repeated). */
export const CHALLENGE_NONCE_BYTES = 32;
const BASE64URL_RE = /^[A-Za-z0-9_-]+$/;
const TOPIC_RE = /^(?:[0-9a-f]{64}|seeds|keepers|keepers-persisted)$/;
/** Topics per announce/withdraw message: 100 ids of 66 JSON bytes stay under the 8 KiB message limit. */
export const MAX_TOPICS_PER_MESSAGE = 100;
/** Holders returned by one lookup. */
export const MAX_HOLDERS = 64;
/**
 * Topics one `lookups` message may name: 32 ids of 67 JSON bytes stay far under the 8 KiB message
 * limit, and the answer (32 x 16 peer ids of 46 JSON bytes, about 25 KB) under the 64 KiB a peer
 * takes from the server.
 */
export const MAX_TOPICS_PER_LOOKUP = 32;
/** Holders returned per topic of a batched lookup. */
export const MAX_BATCHED_HOLDERS = 16;
/** An origin tag: 12 bytes of keyed hash, base64url. */
export const ORIGIN_TAG_LENGTH = 16;

const peerId = string({ min: PEER_ID_LENGTH, max: PEER_ID_LENGTH, pattern: PEER_ID_RE });
/** 64 bytes of signature, base64url. */
const signature = string({ min: 86, max: 86, pattern: BASE64URL_RE });
/** 16..48 bytes of nonce, base64url. */
const nonce = string({ min: 22, max: 64, pattern: BASE64URL_RE });
const topic = string({ min: 5, max: 64, pattern: TOPIC_RE });
const requestId = integer(0, 2 ** 31 - 1);

/** ICE servers the server hands a peer, and URLs per server: a handful is all anyone configures. */
export const MAX_ICE_SERVERS = 8;
const ICE_URL_RE = /^(?:stuns?|turns?):[^\s]+$/;
/**
 * Server → peer objects: fields this version does not know are ignored, so a page cached from before
 * a server update still takes the newer server's messages (the server only ever adds optional
 * fields). The other way round stays strict: what peers send is untrusted input (clientMessage).
 */
const LENIENT = { unknownFields: 'ignore' } as const;

const iceServer = object(
  {
    urls: array(string({ min: 6, max: 512, pattern: ICE_URL_RE }), { min: 1, max: MAX_ICE_SERVERS }),
    username: optional(string({ max: 256 })),
    credential: optional(string({ max: 256 })),
  },
  LENIENT,
);
export type IceServer = Infer<typeof iceServer>;
const iceServers = array(iceServer, { max: MAX_ICE_SERVERS });

export const clientMessage = tagged({
  hello: object({ t: literal('hello'), v: literal(SIGNAL_VERSION), peer: peerId, sig: signature }),
  announce: object({ t: literal('announce'), topics: array(topic, { min: 1, max: MAX_TOPICS_PER_MESSAGE }) }),
  withdraw: object({ t: literal('withdraw'), topics: array(topic, { min: 1, max: MAX_TOPICS_PER_MESSAGE }) }),
  lookup: object({ t: literal('lookup'), id: requestId, topic }),
  lookups: object({
    t: literal('lookups'),
    id: requestId,
    topics: array(topic, { min: 1, max: MAX_TOPICS_PER_LOOKUP }),
  }),
  signal: object({ t: literal('signal'), to: peerId, data: opaqueObject }),
});
export type ClientMessage = Infer<typeof clientMessage>;

export type SignalErrorCode =
  | 'bad-json'
  | 'bad-message'
  | 'too-large'
  | 'rate-limited'
  | 'hello-first'
  /** The hello's signature does not verify for its peer id and this socket's challenge. */
  | 'bad-proof'
  /** Sent to a socket whose peer id was just proven on another socket: this one is closed. */
  | 'replaced'
  /** Only the deployment's listed seeds may announce the seeds topic. */
  | 'not-a-seed'
  | 'too-many-topics'
  | 'too-many-sockets'
  | 'unknown-peer'
  | 'server-full'
  /** The server holds all the topics it can; the refused ones may be announced again later. */
  | 'server-busy';

export const serverMessage = tagged({
  challenge: object({ t: literal('challenge'), v: literal(SIGNAL_VERSION), nonce }, LENIENT),
  welcome: object(
    {
      t: literal('welcome'),
      v: literal(SIGNAL_VERSION),
      peer: peerId,
      maxTopics: integer(0, 2 ** 31 - 1),
      origin: optional(string({ min: 8, max: 2048, pattern: /^https?:\/\/[^\s#?]+$/ })),
      iceServers: optional(iceServers),
      batch: optional(integer(1, MAX_TOPICS_PER_LOOKUP)),
    },
    LENIENT,
  ),
  ice: object({ t: literal('ice'), iceServers }, LENIENT),
  holders: object(
    {
      t: literal('holders'),
      id: requestId,
      topic,
      peers: array(peerId, { max: MAX_HOLDERS }),
    },
    LENIENT,
  ),
  found: object(
    {
      t: literal('found'),
      id: requestId,
      holders: array(object({ topic, peers: array(peerId, { max: MAX_BATCHED_HOLDERS }) }, LENIENT), {
        max: MAX_TOPICS_PER_LOOKUP,
      }),
    },
    LENIENT,
  ),
  signal: object(
    {
      t: literal('signal'),
      from: peerId,
      data: opaqueObject,
      // Optional so a server without it still relays; then each peer id counts as its own origin.
      origin: optional(string({ min: ORIGIN_TAG_LENGTH, max: ORIGIN_TAG_LENGTH, pattern: BASE64URL_RE })),
    },
    LENIENT,
  ),
  error: object(
    {
      t: literal('error'),
      code: string({ max: 32 }),
      message: string({ max: 300 }),
      ref: optional(string({ max: 64 })),
    },
    LENIENT,
  ),
});
export type ServerMessage = Infer<typeof serverMessage>;

/** What a hello signs: the protocol version and this socket's challenge nonce, domain-separated. */
export function helloMessage(nonce: Uint8Array): Uint8Array {
  return domainMessage(`mycel signal hello v${SIGNAL_VERSION}`, nonce);
}

/** The nonce of a challenge, or undefined if it is not base64url of 16 bytes or more. */
export function challengeNonce(text: string): Uint8Array | undefined {
  const bytes = fromBase64Url(text);
  return bytes && bytes.length >= 16 ? bytes : undefined;
}
