// A swarm under a flood of dead offers: real SDP offers from real RTCPeerConnections (which then
// never send a candidate), delivered through a fake signaling socket so the test can say which
// address ("origin") each came from. The swarm builds a real connection for every offer it takes.
// What the hostile side tries: hold every connection slot with attempts that never complete ICE.
import SimplePeer from 'simple-peer';
import { afterEach, describe, expect, it } from 'vitest';
import { toBase64Url } from '../../src/content/bytes.js';
import { ephemeralIdentity } from '../../src/net/identity.js';
import type { WebSocketLike } from '../../src/net/signal-client.js';
import { Swarm } from '../../src/net/swarm.js';
import { nodeWrtc } from '../../src/node/wrtc.js';
import { MAX_ATTEMPTS_PER_PEER } from '../../src/net/limits.js';
import { createMemoryBlockStore } from '../../src/store/memory.js';

interface Sent {
  to: string;
  data: { cid: string; sig: { type: string } };
}

/** A signaling server in the test's hands: it welcomes the swarm and relays what the test says. */
class FakeSignaling {
  socket: (WebSocketLike & { deliver(message: object): void }) | undefined;
  readonly sent: Sent[] = [];
  private readonly waiters: (() => void)[] = [];

  factory = (): WebSocketLike => {
    const fake = {
      readyState: 1,
      onopen: null as WebSocketLike['onopen'],
      onclose: null as WebSocketLike['onclose'],
      onerror: null as WebSocketLike['onerror'],
      onmessage: null as WebSocketLike['onmessage'],
      send: (text: string) => {
        const message = JSON.parse(text);
        if (message.t === 'hello') fake.deliver({ t: 'welcome', v: 2, peer: message.peer, maxTopics: 1000 });
        if (message.t === 'signal') {
          this.sent.push({ to: message.to, data: message.data });
          this.waiters.splice(0).forEach((wake) => wake());
        }
      },
      close: () => undefined,
      deliver: (message: object) => fake.onmessage?.({ data: JSON.stringify(message) }),
    };
    this.socket = fake;
    queueMicrotask(() => {
      fake.onopen?.({});
      fake.deliver({ t: 'challenge', v: 2, nonce: toBase64Url(new Uint8Array(32).fill(7)) });
    });
    return fake;
  };

  offer(from: string, origin: string, sdp: object, cid = Math.random().toString(36).slice(2, 12)): string {
    this.socket!.deliver({ t: 'signal', from, origin, data: { cid, sig: sdp } });
    return cid;
  }

  /** Resolves once a signal to `to` of type `type` has been sent (or rejects after `ms`). */
  async sentTo(to: string, type: string, ms = 10_000): Promise<Sent> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.sent.find((s) => s.to === to && s.data.sig.type === type);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no ${type} sent to ${to}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }
}

/** A real offer from a real RTCPeerConnection, which is closed at once: it will never do ICE. */
async function deadOffer(): Promise<object> {
  const peer = new SimplePeer({ initiator: true, trickle: true, wrtc: nodeWrtc });
  const offer = await new Promise<object>((resolve) => {
    peer.on('signal', (signal: { type?: string }) => signal.type === 'offer' && resolve(signal));
  });
  peer.destroy();
  return offer;
}

// These tests make real RTCPeerConnections: on a loaded machine that alone can take seconds, more
// than the unit project's default test timeout. Each test still waits only for its own events.
const REAL_PEERS_TIMEOUT_MS = 30_000;

const swarms: Swarm[] = [];
afterEach(() => {
  for (const swarm of swarms.splice(0)) swarm.close();
});

async function target(
  signaling: FakeSignaling,
  options: { maxTotal: number; maxPerOrigin: number; iceTimeoutMs?: number },
) {
  const swarm = new Swarm({
    identity: ephemeralIdentity(),
    signalUrl: 'ws://fake/signal',
    createSocket: signaling.factory,
    wrtc: nodeWrtc,
    host: { store: createMemoryBlockStore() },
    iceTimeoutMs: options.iceTimeoutMs ?? 30_000,
    admission: { maxTotal: options.maxTotal, maxPerOrigin: options.maxPerOrigin },
  });
  swarms.push(swarm);
  swarm.start();
  await swarm.signaling.ready();
  return swarm;
}

describe('a swarm taking offers', () => {
  it(
    'holds no more attempts from one address than its share, however many peer ids offer',
    async () => {
      const signaling = new FakeSignaling();
      const swarm = await target(signaling, { maxTotal: 8, maxPerOrigin: 2 });
      const sdp = await deadOffer();
      const senders = Array.from({ length: 10 }, () => ephemeralIdentity().id);
      for (const from of senders) signaling.offer(from, 'flooder-origin-1', sdp);
      expect(swarm.stats().connecting).toBe(2);
      expect(swarm.stats().offersRefused).toBe(8);
      // The refused are told at once, so an honest one among them would try again rather than wait.
      await signaling.sentTo(senders[9]!, 'mycel-abandon');
    },
    REAL_PEERS_TIMEOUT_MS,
  );

  it(
    'takes an offer from a new address into a full table by dropping a flooder, and answers it',
    async () => {
      const signaling = new FakeSignaling();
      const swarm = await target(signaling, { maxTotal: 4, maxPerOrigin: 2 });
      const sdp = await deadOffer();
      for (let i = 0; i < 4; i++) signaling.offer(ephemeralIdentity().id, `flooder-origin-${i % 2}`, sdp);
      expect(swarm.stats()).toMatchObject({ connecting: 4, attemptsEvicted: 0 });
      const honest = ephemeralIdentity().id;
      signaling.offer(honest, 'honest-origin-01', await deadOffer());
      expect(swarm.stats().connecting).toBe(4);
      expect(swarm.stats().attemptsEvicted).toBe(1);
      await signaling.sentTo(honest, 'answer');
      expect(swarm.stats().connectingPeak).toBe(4);
    },
    REAL_PEERS_TIMEOUT_MS,
  );

  it(
    'gives up an attempt whose ICE never connects at the ICE deadline, and frees its slot',
    async () => {
      const signaling = new FakeSignaling();
      const swarm = await target(signaling, { maxTotal: 4, maxPerOrigin: 2, iceTimeoutMs: 500 });
      const from = ephemeralIdentity().id;
      signaling.offer(from, 'flooder-origin-1', await deadOffer());
      expect(swarm.stats().connecting).toBe(1);
      await signaling.sentTo(from, 'mycel-abandon');
      expect(swarm.stats().connecting).toBe(0);
    },
    REAL_PEERS_TIMEOUT_MS,
  );

  it(
    'holds at most MAX_ATTEMPTS_PER_PEER attempts from one peer id, however many attempt ids it offers',
    async () => {
      const signaling = new FakeSignaling();
      // Room for every offer by origin and in all: only the per-peer cap can hold the line.
      const swarm = await target(signaling, { maxTotal: 64, maxPerOrigin: 64 });
      const sdp = await deadOffer();
      const from = ephemeralIdentity().id;
      const rss = process.memoryUsage().rss;
      // What the hostile peer tries: one attempt id after another, to keep a connection built for each.
      for (let i = 0; i < 40; i++) {
        signaling.offer(from, 'one-origin-00001', sdp, `attempt-${i}`);
        expect(swarm.stats().connecting).toBeLessThanOrEqual(MAX_ATTEMPTS_PER_PEER);
      }
      expect(swarm.stats().connecting).toBe(MAX_ATTEMPTS_PER_PEER);
      // The newest are the ones kept: both are answered.
      await signaling.sentTo(from, 'answer');
      const answered = new Set(signaling.sent.filter((m) => m.data.sig.type === 'answer').map((m) => m.data.cid));
      expect([...answered].every((cid) => cid === 'attempt-38' || cid === 'attempt-39')).toBe(true);
      // 40 RTCPeerConnections built and 38 torn down: what stays is two connections' worth, not 40.
      console.log(
        `rss after 40 attempt ids from one peer: +${((process.memoryUsage().rss - rss) / 2 ** 20).toFixed(1)} MiB`,
      );
    },
    REAL_PEERS_TIMEOUT_MS,
  );
});
