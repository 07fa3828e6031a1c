// Two peers in this process, a real signaling server on loopback, real WebRTC (node-datachannel)
// between them: connecting again and again, both sides offering at once, and the basic requests.
import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SignalingServer } from '../../signaling/server.js';
import { createLogger } from '../../src/node/log.js';
import { ephemeralIdentity } from '../../src/net/identity.js';
import { Swarm } from '../../src/net/swarm.js';
import { nodeSocketFactory } from '../../src/node/seed.js';
import { nodeWrtc } from '../../src/node/wrtc.js';
import { createMemoryBlockStore } from '../../src/store/memory.js';
import { StoreRefusedError } from '../../src/errors.js';
import { block } from '../contracts/block-store.js';
import type { BlockStore } from '../../src/store/block-store.js';
import { sealFile } from '../../src/content/seal.js';
import { openRemoteFile } from '../../src/net/transfer.js';
import type { FetchProgress } from '../../src/net/fetch.js';
import type { WebSocketFactory } from '../../src/net/signal-client.js';
import type { Logger } from '../../src/log.js';

/** A signaling socket that loses the first `n` offers it is asked to send (a lossy path, a restart). */
function losingOffers(n: number): WebSocketFactory {
  let lost = 0;
  return (socketUrl) => {
    const socket = nodeSocketFactory(socketUrl);
    const send = socket.send.bind(socket);
    socket.send = (text: string) => {
      const message = JSON.parse(text) as { t: string; data?: { sig?: { type?: string } } };
      if (message.t === 'signal' && message.data?.sig?.type === 'offer' && lost < n) {
        lost++;
        return;
      }
      send(text);
    };
    return socket;
  };
}

/** A logger that keeps what it is given, for asserting why an attempt failed. */
function recordingLog(into: { msg: string; fields: Record<string, unknown> }[]): Logger {
  const log: Logger = {
    debug: (msg, fields = {}) => void into.push({ msg, fields }),
    info: (msg, fields = {}) => void into.push({ msg, fields }),
    warn: (msg, fields = {}) => void into.push({ msg, fields }),
    error: (msg, fields = {}) => void into.push({ msg, fields }),
    child: () => log,
  };
  return log;
}

let http: Server;
let signaling: SignalingServer;
let url: string;
const swarms: Swarm[] = [];

beforeAll(async () => {
  signaling = new SignalingServer({ log: createLogger({ level: 'warn' }) });
  http = createServer((req, res) => signaling.handleHttp(req, res) || res.end());
  signaling.attach(http);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  url = `ws://127.0.0.1:${(http.address() as { port: number }).port}/signal`;
});

afterEach(() => {
  for (const swarm of swarms.splice(0)) swarm.close();
});

afterAll(async () => {
  await signaling.close();
  http.closeAllConnections();
  await new Promise((resolve) => http.close(resolve));
});

async function peer(
  store: BlockStore = createMemoryBlockStore(),
  extra: { createSocket?: WebSocketFactory; log?: Logger } = {},
): Promise<Swarm> {
  const swarm = new Swarm({
    identity: ephemeralIdentity(),
    signalUrl: url,
    createSocket: extra.createSocket ?? nodeSocketFactory,
    wrtc: nodeWrtc,
    host: { store },
    log: extra.log,
  });
  swarms.push(swarm);
  swarm.start();
  await swarm.signaling.ready();
  return swarm;
}

describe('swarm', () => {
  it('connects to the same peer many times in a row', async () => {
    const a = await peer();
    const b = await peer();
    for (let i = 0; i < 12; i++) {
      const session = await a.connect(b.peerId);
      expect(session.closed).toBe(false);
      const closed = new Promise((resolve) => session.on('close', resolve));
      session.close();
      await closed;
    }
  }, 120_000);

  it('gives up on an offer that gets no answer and offers again at once, rather than waiting out ICE', async () => {
    const records: { msg: string; fields: Record<string, unknown> }[] = [];
    const a = await peer(createMemoryBlockStore(), { createSocket: losingOffers(1), log: recordingLog(records) });
    const b = await peer();
    const session = await a.connect(b.peerId);
    expect(session.closed).toBe(false);
    const failures = records.filter((r) => r.msg === 'connect attempt failed');
    expect(failures).toHaveLength(1);
    expect(failures[0]!.fields.error).toMatch(/an answer from peer .* timed out/);
  }, 60_000);

  it('ends with one session on each side when both offer at once', async () => {
    const a = await peer();
    const b = await peer();
    const [sa, sb] = await Promise.all([a.connect(b.peerId), b.connect(a.peerId)]);
    expect(sa.peer).toBe(b.peerId);
    expect(sb.peer).toBe(a.peerId);
    expect(a.sessions()).toHaveLength(1);
    expect(b.sessions()).toHaveLength(1);
    expect(await sa.want(block(10, 1).id)).toBeUndefined();
  }, 60_000);

  it('serves held blocks by id, says not-found otherwise, and refuses stores it does not take', async () => {
    const store = createMemoryBlockStore();
    const held = block(300_000, 2);
    await store.put(held.id, held.bytes);
    const server = await peer(store);
    const client = await peer();
    const session = await client.connect(server.peerId);
    expect(await session.want(held.id)).toEqual(held.bytes);
    expect(await session.want(block(5, 3).id)).toBeUndefined();
    const refusal = await session.store(new Uint8Array(16), held.bytes).catch((e) => e);
    expect(refusal).toBeInstanceOf(StoreRefusedError);
    expect(refusal.reason).toBe('not-allowed');
    expect(session.stats.blocksFetched).toBe(1);
  }, 60_000);

  it('gives up on a peer the signaling server does not know, without waiting out the deadline', async () => {
    const a = await peer();
    const error = await a.connect(ephemeralIdentity().id).catch((e) => e);
    expect(error.code).toBe('CLOSED');
    expect(error.message).toMatch(/who is not on the network/);
  }, 120_000);

  it('tells a peer that asked for a root it lacked once it holds that file, and of nothing else it gains', async () => {
    const store = createMemoryBlockStore();
    const holder = await peer(store);
    const asker = await peer();
    const session = await asker.connect(holder.peerId);
    const wanted = block(1000, 5);
    const unasked = block(1000, 6);
    expect(await session.want(wanted.id)).toBeUndefined();
    const heard = new Promise<string[]>((resolve) => asker.once('have', ({ topics }) => resolve(topics)));
    await store.put(unasked.id, unasked.bytes);
    await store.put(wanted.id, wanted.bytes);
    holder.announce([unasked.id, wanted.id]);
    expect(await heard).toEqual([wanted.id]);
  }, 60_000);

  it("reports a download's progress from none to all of its data blocks, never past them", async () => {
    const store = createMemoryBlockStore();
    const holder = await peer(store);
    const asker = await peer();
    const chunkSize = 1024;
    const sealed = await sealFile([new Uint8Array(20 * chunkSize).fill(7)], (b) => store.put(b.id, b.bytes), {
      name: 'twenty.bin',
      chunkSize,
    });
    holder.announce([sealed.root]);
    const reports: FetchProgress[] = [];
    const remote = await openRemoteFile(sealed.root, sealed.key, {
      swarm: asker,
      store: createMemoryBlockStore(),
      noHolderTimeoutMs: 15_000,
      onProgress: (p) => reports.push(p),
    });
    try {
      await remote.fetchAll();
    } finally {
      remote.close();
    }
    const counted = reports.filter((p) => p.blocksTotal > 0);
    expect(counted[0]).toMatchObject({ blocksDone: 0, blocksTotal: 20 });
    expect(counted.at(-1)).toMatchObject({ blocksDone: 20, blocksTotal: 20 });
    expect(reports.every((p) => p.blocksDone <= p.blocksTotal)).toBe(true);
  }, 60_000);

  it('finds holders through the signaling server', async () => {
    const a = await peer();
    const b = await peer();
    const topic = block(1, 9).id;
    a.announce([topic]);
    await expect.poll(() => b.holders(topic), { timeout: 5_000 }).toEqual([a.peerId]);
    a.withdraw([topic]);
    await expect.poll(() => b.holders(topic), { timeout: 5_000 }).toEqual([]);
  });
});
