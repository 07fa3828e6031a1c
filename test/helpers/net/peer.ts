// A Node WebRTC peer the harness runs inside a home namespace (through tsx): the product's own
// SignalClient and PeerLink on node-datachannel (src/node/wrtc.ts), with the ICE servers the test
// gives it. It connects to one other such peer, sends it deterministic bytes, and reports on
// stdout, one JSON line each:
//   {"event":"ready"}                                     welcomed by the signaling server
//   {"event":"candidate","attempt":n,"candidate":"…"}     a local ICE candidate, as signalled
//   {"event":"attempt-failed","attempt":n,"error":"…"}    a connect attempt failed; next one starts
//   {"event":"connected","attempt":n,"connectMs":n,"local":{type,ip,port},"remote":{type,ip,port}}
//        the selected candidate pair from getStats() on node-datachannel's RTCPeerConnection
//   {"event":"sent","bytes":n,"sha256":"…"}  /  {"event":"received","bytes":n,"sha256":"…"}
// It stays up (so the pair stays up) until killed.
//
// usage: peer.ts '<PeerConfig as JSON>'

import { createHash } from 'node:crypto';
import WebSocket from 'ws';
import { PeerLink } from '../../../src/net/peer-link.js';
import { SignalClient, type WebSocketLike } from '../../../src/net/signal-client.js';
import { nodeWrtc } from '../../../src/node/wrtc.js';
import { pseudoRandomBytes } from '../data.js';
import { namedIdentity, peerIdFor } from '../signal.js';

export interface PeerConfig {
  /** ws://…/signal of a `mycel signal` the peer can reach. */
  readonly signal: string;
  /** This peer's name (it stands for a fixed test key; see namedIdentity) and the other's. */
  readonly id: string;
  readonly remote: string;
  /** The initiator starts each attempt; the other side follows whichever attempt it is signalled. */
  readonly initiator: boolean;
  readonly iceServers: RTCIceServer[];
  /** Bytes to send once connected. */
  readonly bytes: number;
  /** Bytes to expect from the remote before reporting "received". */
  readonly expectBytes: number;
  readonly attempts?: number;
  readonly connectTimeoutMs?: number;
}

export interface SelectedCandidate {
  readonly type: string;
  readonly ip: string;
  readonly port: number;
}

/** Frames of this size: a few data-channel messages each, well under the largest frame. */
const FRAME_BYTES = 200 * 1024;
const DEFAULT_ATTEMPTS = 3;

const config = JSON.parse(process.argv[2] ?? '') as PeerConfig;
const print = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);

// Peers are named in the config; each name stands for a fixed test key, and ids are those keys.
const remoteId = peerIdFor(config.remote);

const client = new SignalClient({
  url: config.signal,
  identity: namedIdentity(config.id),
  createSocket: (url) => new WebSocket(url) as unknown as WebSocketLike,
});

let link: PeerLink | undefined;
let received: Uint8Array[] = [];
let receivedBytes = 0;

function open(cid: string, initiator: boolean): PeerLink {
  link?.close();
  const started = performance.now();
  const current = new PeerLink({
    remote: remoteId,
    initiator,
    cid,
    sendSignal: (data) => {
      const candidate = (data.candidate as { candidate?: string } | undefined)?.candidate;
      if (candidate) print({ event: 'candidate', attempt, candidate });
      client.signal(remoteId, { cid, data });
    },
    wrtc: nodeWrtc,
    iceServers: config.iceServers,
    connectTimeoutMs: config.connectTimeoutMs,
  });
  link = current;
  received = [];
  receivedBytes = 0;
  current.receive((frame) => {
    received.push(frame);
    receivedBytes += frame.length;
    if (receivedBytes === config.expectBytes) {
      const hash = createHash('sha256');
      for (const piece of received) hash.update(piece);
      print({ event: 'received', bytes: receivedBytes, sha256: hash.digest('hex') });
    }
  });
  current.once('connect', () => {
    onConnect(current, Math.round(performance.now() - started)).catch((error: unknown) =>
      current.close(error as Error),
    );
  });
  return current;
}

async function onConnect(current: PeerLink, connectMs: number): Promise<void> {
  const pair = await selectedPair(current);
  print({ event: 'connected', attempt: attempt, connectMs, ...pair });
  const bytes = pseudoRandomBytes(config.bytes, seedOf(config.id));
  for (let offset = 0; offset < bytes.length; offset += FRAME_BYTES) {
    await current.send(bytes.subarray(offset, offset + FRAME_BYTES));
  }
  print({ event: 'sent', bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
}

/** The selected pair as node-datachannel's getStats() reports it (transport → candidate pair). */
async function selectedPair(current: PeerLink): Promise<{ local?: SelectedCandidate; remote?: SelectedCandidate }> {
  const pc = (current as unknown as { peer: { _pc: RTCPeerConnection } }).peer._pc;
  const stats = [...(await pc.getStats()).values()] as Array<Record<string, unknown>>;
  const byId = new Map(stats.map((entry) => [entry.id, entry]));
  const transport = stats.find((entry) => entry.type === 'transport');
  const pair = byId.get(transport?.selectedCandidatePairId);
  const candidate = (id: unknown): SelectedCandidate | undefined => {
    const entry = byId.get(id);
    return entry && { type: String(entry.candidateType), ip: String(entry.ip), port: Number(entry.port) };
  };
  return { local: candidate(pair?.localCandidateId), remote: candidate(pair?.remoteCandidateId) };
}

function seedOf(id: string): number {
  return createHash('sha256').update(id).digest().readUInt32BE(0);
}

let attempt = 0;

async function initiate(): Promise<void> {
  const attempts = config.attempts ?? DEFAULT_ATTEMPTS;
  while (attempt < attempts) {
    attempt++;
    const current = open(`${config.id}-${attempt}`, true);
    try {
      await current.opened;
      return;
    } catch (error) {
      print({ event: 'attempt-failed', attempt, error: (error as Error).message });
    }
  }
}

client.on('signal', ({ from, data }) => {
  if (from !== remoteId) return;
  const cid = String(data.cid);
  if (!config.initiator && link?.cid !== cid) {
    attempt++;
    open(cid, false);
  }
  if (link?.cid === cid) link.signal(data.data as Record<string, unknown>);
});

process.on('SIGTERM', () => {
  link?.close();
  client.close();
  // node-datachannel lets the process go once its connections are closed.
  setTimeout(() => process.exit(0), 500).unref();
});

client.start();
await client.ready();
print({ event: 'ready' });
if (config.initiator) await initiate();
