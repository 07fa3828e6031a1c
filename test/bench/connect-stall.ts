// How long two Node peers wait between ICE connected and the data channel's open, over a real
// signaling server on loopback: the ~1 s stall a `mycel get` used to show before its first byte.
//
//   npx tsx test/bench/connect-stall.ts [connects per variant = 30] [variants = all, comma-separated]
//
// Variants:
//   link          PeerLink (simple-peer 9 on nodeWrtc), as Mycel connects
//   link-actpass  the same, with the offer left at a=setup:actpass (how nodeWrtc offered before)
//   bare          plain polyfill RTCPeerConnection both ends, offer left at a=setup:actpass
//   bare-active   plain polyfill, the offer sent with a=setup:active (what nodeWrtc does)
//
// The cause (libdatachannel 0.24.5, node-datachannel 0.33.4): the answerer's ICE usually connects
// first; with actpass it takes the DTLS client role and sends its ClientHello at once. That datagram
// reaches the offerer before its DTLS transport exists; libdatachannel keeps it and hands it over
// when the transport registers, but the receive task can run before the transport marks itself
// connecting and then drops out, leaving the ClientHello unread. A DTLS server arms no timer, so
// nothing happens until the client retransmits after its initial 1 s timeout. With the offer at
// a=setup:active the offerer (whose ICE connects last) is the DTLS client, and its ClientHello
// reaches a server that is already listening. See libdatachannel pull request #1554.
//
// Both peers live in this process (the stall shows the same there as across processes; the
// cross-process figure, against a real `mycel serve`, is connect-times.ts). Prints, per variant
// and side, the ICE-connected → open distribution and how many connects stalled ≥ 900 ms.
import { createServer } from 'node:http';
import { RTCPeerConnection } from 'node-datachannel/polyfill';
import { DEFAULT_LIMITS, SignalingServer } from '../../signaling/server.js';
import { ephemeralIdentity } from '../../src/net/identity.js';
import { PeerLink, normalizeSignal, type WrtcImplementation } from '../../src/net/peer-link.js';
import { SignalClient } from '../../src/net/signal-client.js';
import { nodeSocketFactory } from '../../src/node/seed.js';
import { nodeWrtc } from '../../src/node/wrtc.js';
import { bareSignaling, type BarePeer } from './bare-signals.js';

type Variant = 'link' | 'link-actpass' | 'bare' | 'bare-active';
const VARIANTS: readonly Variant[] = ['link', 'link-actpass', 'bare', 'bare-active'];
const [connectsArg = '30', variantsArg = VARIANTS.join(',')] = process.argv.slice(2);
const CONNECTS = Number(connectsArg);
const variants = variantsArg.split(',') as Variant[];
for (const v of variants) if (!VARIANTS.includes(v)) throw new Error(`unknown variant ${v}`);
/** A wait this long between ICE connected and open is a retransmit, not work. */
const STALL_MS = 900;
/** A connect that has not opened by then failed (node-datachannel loses ~5 %): it is counted and skipped. */
const CONNECT_DEADLINE_MS = 10_000;

// Two sockets carry every signal of the run: the per-socket rate is not what is measured.
const server = new SignalingServer({ limits: { ...DEFAULT_LIMITS, messagesPerSecond: 10_000, messageBurst: 10_000 } });
const http = createServer((req, res) => server.handleHttp(req, res) || res.end());
server.attach(http);
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
const url = `ws://127.0.0.1:${(http.address() as { port: number }).port}/signal`;

async function client(): Promise<{ client: SignalClient; id: string }> {
  const c = new SignalClient({ url, identity: ephemeralIdentity(), createSocket: nodeSocketFactory });
  const ready = new Promise<string>((resolve) => c.once('ready', ({ peer }) => resolve(peer)));
  c.on('rejected', ({ code, message }) => console.error(`signaling rejected a message: ${code} ${message}`));
  c.start();
  await c.ready();
  return { client: c, id: await ready };
}

/** The previous nodeWrtc: the same wrapper, but the offer goes out as libdatachannel wrote it. */
const polyfillPrototype = Object.getPrototypeOf(nodeWrtc.RTCPeerConnection.prototype) as object;
const rawLocal = (pc: object) => Reflect.get(polyfillPrototype, 'localDescription', pc) as RTCSessionDescription;
class ActpassPeerConnection extends (nodeWrtc.RTCPeerConnection as unknown as typeof RTCPeerConnection) {
  override get localDescription() {
    return rawLocal(this);
  }
}
const actpassWrtc = { ...nodeWrtc, RTCPeerConnection: ActpassPeerConnection } as unknown as WrtcImplementation;

/** ICE connected → open on the offering and the answering side, in ms. */
type Sample = [offerer: number, answerer: number];

function withDeadline<T>(work: Promise<T>, cleanup: () => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    work,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error('connect deadline')), CONNECT_DEADLINE_MS);
    }),
  ]).finally(() => {
    clearTimeout(timer);
    cleanup();
  });
}

async function linkOnce(
  a: { client: SignalClient; id: string },
  b: { client: SignalClient; id: string },
  wrtc: WrtcImplementation,
  round: number,
): Promise<Sample> {
  const cid = `c${round}`;
  const offerer: PeerLink = new PeerLink({
    remote: b.id,
    initiator: true,
    cid,
    wrtc,
    sendSignal: (data) => a.client.signal(b.id, { ...data, cid }),
  });
  const answerer: PeerLink = new PeerLink({
    remote: a.id,
    initiator: false,
    cid,
    wrtc,
    sendSignal: (data) => b.client.signal(a.id, { ...data, cid }),
  });
  const offA = a.client.on('signal', ({ data }) => data.cid === cid && offerer.signal(data));
  const offB = b.client.on('signal', ({ data }) => data.cid === cid && answerer.signal(data));
  return withDeadline(
    Promise.all([offerer.opened, answerer.opened]).then((): Sample => [
      offerer.openedAt! - offerer.iceConnectedAt!,
      answerer.openedAt! - answerer.iceConnectedAt!,
    ]),
    () => {
      offA();
      offB();
      offerer.close();
      answerer.close();
    },
  );
}

/** One bare polyfill connection end: resolves with ICE connected → channel open. */
function bareEnd(
  pc: RTCPeerConnection,
  send: (data: Record<string, unknown>) => void,
  initiator: boolean,
  active: boolean,
): { timing: Promise<number>; onSignal: (data: Record<string, unknown>) => Promise<void> } {
  let iceAt = NaN;
  pc.oniceconnectionstatechange = () => {
    if (Number.isNaN(iceAt) && (pc.iceConnectionState === 'connected' || pc.iceConnectionState === 'completed'))
      iceAt = performance.now();
  };
  const timing = new Promise<number>((resolve) => {
    const opened = (channel: RTCDataChannel) => {
      channel.onopen = () => resolve(performance.now() - iceAt);
    };
    if (initiator) opened(pc.createDataChannel('bench', { ordered: true }));
    else pc.ondatachannel = ({ channel }) => opened(channel);
  });
  // The polyfill is the W3C interface; only its event classes differ from the DOM's in type.
  const onSignal = bareSignaling(pc as unknown as BarePeer, send);
  if (initiator) {
    (async () => {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      const sdp = pc.localDescription.sdp;
      send({ type: 'offer', sdp: active ? sdp.replace(/^a=setup:actpass(?=\r?$)/gm, 'a=setup:active') : sdp });
    })().catch(() => undefined); // a connect whose offer failed runs into the deadline and is counted
  }
  return { timing, onSignal };
}

async function bareOnce(
  a: { client: SignalClient; id: string },
  b: { client: SignalClient; id: string },
  active: boolean,
  round: number,
): Promise<Sample> {
  const cid = `c${round}`;
  const pcA = new RTCPeerConnection({ iceServers: [] });
  const pcB = new RTCPeerConnection({ iceServers: [] });
  const endA = bareEnd(pcA, (data) => a.client.signal(b.id, normalizeSignal({ ...data, cid })), true, active);
  const endB = bareEnd(pcB, (data) => b.client.signal(a.id, normalizeSignal({ ...data, cid })), false, active);
  // Signals are applied one after another per side, as they arrived.
  const relay = (end: typeof endA) => {
    let chain = Promise.resolve();
    return ({ data }: { data: Record<string, unknown> }) => {
      if (data.cid === cid) chain = chain.then(() => end.onSignal(data)).catch(() => undefined); // a failed connect times out
    };
  };
  const offA = a.client.on('signal', relay(endA));
  const offB = b.client.on('signal', relay(endB));
  return withDeadline(Promise.all([endA.timing, endB.timing]), () => {
    offA();
    offB();
    pcA.close();
    pcB.close();
  });
}

const percentile = (xs: number[], p: number) =>
  xs.slice().sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const [a, b] = [await client(), await client()];
for (const variant of variants) {
  const samples: Sample[] = [];
  let failed = 0;
  for (let round = 0; round < CONNECTS; round++) {
    try {
      samples.push(
        variant === 'link' || variant === 'link-actpass'
          ? await linkOnce(a, b, variant === 'link' ? nodeWrtc : actpassWrtc, round)
          : await bareOnce(a, b, variant === 'bare-active', round),
      );
    } catch (error) {
      failed++;
      console.error(`${variant} connect ${round} failed: ${(error as Error).message}`);
    }
  }
  for (const [i, side] of ['offerer', 'answerer'].entries()) {
    const xs = samples.map((s) => Math.round(s[i]!));
    console.log(
      `${variant.padEnd(12)} ${side.padEnd(8)} ICE connected → open: n=${xs.length} p50=${percentile(xs, 50)} p90=${percentile(xs, 90)} max=${Math.max(...xs)} ms; stalls ≥ ${STALL_MS} ms: ${xs.filter((x) => x >= STALL_MS).length}; failed connects: ${failed}`,
    );
  }
}
a.client.close();
b.client.close();
await server.close();
http.close();
process.exit(0);
