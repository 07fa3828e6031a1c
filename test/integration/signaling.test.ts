// The signaling server in this process, real WebSockets on loopback: announcing many topics,
// the per-socket, per-address and total topic limits, trusted peers' own topic cap, the embedded
// seed's internal token, silent sockets forgotten by ping, the hello deadline, and a peer id
// moving to a newer socket that proves it.
import { createHash, createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_LIMITS,
  INTERNAL_TOKEN_HEADER,
  SignalingServer,
  type SignalingLimits,
  type SignalingOptions,
} from '../../signaling/server.js';
import { createLogger } from '../../src/node/log.js';
import { ephemeralIdentity } from '../../src/net/identity.js';
import { SignalClient } from '../../src/net/signal-client.js';
import { nodeSocketFactory } from '../../src/node/seed.js';
import { block } from '../contracts/block-store.js';
import {
  errorCode,
  hexTopics,
  namedIdentity,
  rawSocket,
  peerIdFor,
  sayHello,
  type RawSocket,
} from '../helpers/signal.js';
import { MAX_BATCHED_HOLDERS, MAX_TOPICS_PER_LOOKUP } from '../../src/net/signal-messages.js';
import { BadInputError } from '../../src/errors.js';

const running: { server: SignalingServer; http: Server }[] = [];
const clients: SignalClient[] = [];
const raws: RawSocket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const r of raws.splice(0)) r.ws.terminate();
  for (const { server, http } of running.splice(0)) {
    await server.close();
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  }
});

async function start(limits: Partial<SignalingLimits> = {}, options: SignalingOptions = {}): Promise<string> {
  const server = new SignalingServer({ limits, log: createLogger({ level: 'silent' }), ...options });
  const http = createServer((req, res) => server.handleHttp(req, res) || res.end());
  server.attach(http);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  running.push({ server, http });
  return `ws://127.0.0.1:${(http.address() as { port: number }).port}/signal`;
}

async function client(url: string, identity = ephemeralIdentity()): Promise<SignalClient> {
  const c = new SignalClient({ url, identity, createSocket: nodeSocketFactory });
  clients.push(c);
  c.start();
  await c.ready();
  return c;
}

const topics = (n: number, from = 0) => Array.from({ length: n }, (_, i) => block(8, from + i + 1).id);

async function raw(url: string, localAddress: string, headers?: Record<string, string>): Promise<RawSocket> {
  const r = await rawSocket(url, { localAddress, headers });
  raws.push(r);
  return r;
}

let lookups = 0;
/** Announces `list` 100 at a time, then waits for a lookup's answer: the server has handled them. */
async function announce(client: RawSocket, list: string[]): Promise<void> {
  for (let i = 0; i < list.length; i += 100) client.send({ t: 'announce', topics: list.slice(i, i + 100) });
  const id = ++lookups;
  client.send({ t: 'lookup', id, topic: list[0] });
  await client.next((m) => m.t === 'holders' && m.id === id);
}

/** The holders the server names for `topic`, asked through `client` (never named itself). */
async function holders(client: RawSocket, topic: string): Promise<string[]> {
  const id = ++lookups;
  client.send({ t: 'lookup', id, topic });
  return (await client.next((m) => m.t === 'holders' && m.id === id)).peers!;
}

describe('signaling server', () => {
  it('takes a peer announcing thousands of files (a seed), in messages under the size limit', async () => {
    // A seed holds more files than a browser may announce: the deployment grants its id a cap.
    const seedIdentity = ephemeralIdentity();
    const url = await start({}, { topicCap: (peer) => (peer === seedIdentity.id ? 5_000 : undefined) });
    const seed = await client(url, seedIdentity);
    const mine = topics(2_000);
    const rejected: string[] = [];
    seed.on('rejected', (r) => rejected.push(r.code));
    seed.announce(mine);
    const other = await client(url);
    await expect.poll(() => other.lookup(mine.at(-1)!), { timeout: 10_000 }).toEqual([seed.peerId]);
    expect(await other.lookup(mine[0]!)).toEqual([seed.peerId]);
    expect(rejected).toEqual([]);
  });

  it('refuses topics past the per-socket limit and keeps the ones before it', async () => {
    const url = await start({ maxTopicsPerSocket: 150 });
    const greedy = await client(url);
    const rejected = new Promise((resolve) => greedy.on('rejected', resolve));
    const mine = topics(200, 5000);
    greedy.announce(mine);
    expect(await rejected).toMatchObject({ code: 'too-many-topics' });
    const other = await client(url);
    expect(await other.lookup(mine[99]!)).toEqual([greedy.peerId]);
    expect(await other.lookup(mine[199]!)).toEqual([]);
  });

  it('shares one topic allowance among all sockets from one address', async () => {
    const url = await start({ maxTopicsPerSocket: 100, maxTopicsPerAddress: 150 });
    const first = await raw(url, '127.0.0.3');
    await sayHello(first, 'same-address-1');
    const second = await raw(url, '127.0.0.3');
    await sayHello(second, 'same-address-2');
    await announce(first, hexTopics(100, 1));
    const mine = hexTopics(100, 2);
    await announce(second, mine);
    expect(second.messages.filter(errorCode('too-many-topics'))).toHaveLength(1);
    // Another address has its own allowance.
    const elsewhere = await raw(url, '127.0.0.4');
    await sayHello(elsewhere, 'other-address');
    await announce(elsewhere, hexTopics(100, 3));
    expect(elsewhere.messages.filter((m) => m.t === 'error')).toEqual([]);
    expect(await holders(elsewhere, mine[49]!)).toEqual([peerIdFor('same-address-2')]);
    expect(await holders(elsewhere, mine[50]!)).toEqual([]);
  });

  it('refuses topics past the total budget with server-busy, keeps the socket, and has room again once others leave', async () => {
    const url = await start({ maxTopicsPerSocket: 100, maxTopicEntries: 200 });
    const hogs = [await raw(url, '127.0.0.5'), await raw(url, '127.0.0.6')];
    for (const [i, hog] of hogs.entries()) {
      await sayHello(hog, `hog-peer-${i}`);
      await announce(hog, hexTopics(100, 10 + i));
    }
    const late = await raw(url, '127.0.0.7');
    await sayHello(late, 'late-peer');
    const mine = hexTopics(10, 20);
    await announce(late, mine);
    await late.next(errorCode('server-busy'));
    expect(await holders(hogs[1]!, mine[0]!)).toEqual([]);
    expect(late.ws.readyState).toBe(WebSocket.OPEN);
    hogs[0]!.ws.close();
    await hogs[0]!.closed;
    await expect
      .poll(async () => {
        await announce(late, mine);
        return holders(hogs[1]!, mine[9]!);
      })
      .toEqual([peerIdFor('late-peer')]);
  });

  it('gives a peer the deployment trusts its own topic cap, outside a full budget', async () => {
    const url = await start(
      { maxTopicsPerSocket: 50, maxTopicEntries: 50 },
      { topicCap: (peer) => (peer === peerIdFor('trusted-seed') ? 300 : undefined) },
    );
    const hog = await raw(url, '127.0.0.8');
    await sayHello(hog, 'budget-hog');
    await announce(hog, hexTopics(50, 30));
    const seed = await raw(url, '127.0.0.9');
    expect((await sayHello(seed, 'trusted-seed')).maxTopics).toBe(300);
    const held = hexTopics(300, 31);
    await announce(seed, held);
    expect(seed.messages.filter((m) => m.t === 'error')).toEqual([]);
    expect(await holders(hog, held[299]!)).toEqual([peerIdFor('trusted-seed')]);
  });

  it('lets the embedded seed in by its internal token when its address has no sockets left', async () => {
    const url = await start({ maxSocketsPerAddress: 3 }, { internalToken: 'the-process-secret' });
    for (let i = 0; i < 3; i++) await sayHello(await raw(url, '127.0.0.10'), `filler-${i}-peer`);
    const seed = await raw(url, '127.0.0.10', { [INTERNAL_TOKEN_HEADER]: 'the-process-secret' });
    const welcome = await sayHello(seed, 'embedded-seed');
    expect(welcome.maxTopics).toBe(DEFAULT_LIMITS.maxTopicsPerTrustedPeer);
  });

  it('treats a socket with a wrong internal token like any other', async () => {
    const url = await start({ maxSocketsPerAddress: 3 }, { internalToken: 'the-process-secret' });
    for (let i = 0; i < 3; i++) await sayHello(await raw(url, '127.0.0.11'), `filler-${i}-peer`);
    const impostor = await raw(url, '127.0.0.11', { [INTERNAL_TOKEN_HEADER]: 'a-guessed-secret' });
    await impostor.next(errorCode('too-many-sockets'));
    expect(await impostor.closed).toBe(1008);
  });

  it('does not rate-limit the embedded seed announcing everything it holds at once', async () => {
    const url = await start({ messageBurst: 5, messagesPerSecond: 1 }, { internalToken: 'the-process-secret' });
    const seed = await raw(url, '127.0.0.12', { [INTERNAL_TOKEN_HEADER]: 'the-process-secret' });
    await sayHello(seed, 'embedded-seed');
    const held = hexTopics(2_000, 40);
    await announce(seed, held);
    expect(seed.messages.filter((m) => m.t === 'error')).toEqual([]);
    const other = await raw(url, '127.0.0.13');
    await sayHello(other, 'other-peer');
    expect(await holders(other, held[1_999]!)).toEqual([peerIdFor('embedded-seed')]);
  });

  it('forgets a socket that stops answering pings, with everything it announced', async () => {
    const url = await start({ pingIntervalMs: 100 });
    const silentClient = await rawSocket(url, { autoPong: false });
    const silent = silentClient.ws;
    const { id: peer } = await silentClient.hello();
    const topic = topics(1, 9000)[0]!;
    silent.send(JSON.stringify({ t: 'announce', topics: [topic] }));
    const other = await client(url);
    await expect.poll(() => other.lookup(topic), { timeout: 5_000 }).toEqual([peer]);
    const closed = new Promise((resolve) => silent.once('close', resolve));
    await expect.poll(() => other.lookup(topic), { timeout: 5_000 }).toEqual([]);
    await closed;
  });

  it('moves a peer id to a new socket that proves it: the old one is told and closed, signals follow', async () => {
    const url = await start();
    const identity = ephemeralIdentity();
    const old = await rawSocket(url);
    await old.hello(identity);
    const fresh = await rawSocket(url);
    await fresh.hello(identity);
    expect(await old.next((m) => m.t === 'error')).toMatchObject({ code: 'replaced' });
    expect(await old.closed).toBe(4001);
    const sender = await client(url);
    sender.signal(identity.id, { hello: 'there' });
    expect(await fresh.next((m) => m.t === 'signal')).toMatchObject({ from: sender.peerId, data: { hello: 'there' } });
    expect(old.messages.some((m) => m.t === 'signal')).toBe(false);
  });

  it('tags each relayed signal with an opaque origin: one per address, naming no address, new for each server', async () => {
    const tagsFrom = async (url: string) => {
      const receiver = await raw(url, '127.0.0.1');
      await sayHello(receiver, 'origin-receiver');
      const tagOf = async (localAddress: string, n: number) => {
        const sender = await raw(url, localAddress);
        await sayHello(sender);
        sender.send({ t: 'signal', to: peerIdFor('origin-receiver'), data: { n } });
        const got = (await receiver.next(
          (m) => m.t === 'signal' && (m as { data?: { n?: number } }).data?.n === n,
        )) as { origin?: string };
        return got.origin!;
      };
      return [await tagOf('127.0.0.2', 1), await tagOf('127.0.0.2', 2), await tagOf('127.0.0.3', 3)];
    };
    const [a1, a2, b] = await tagsFrom(await start());
    expect(a1).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(a2).toBe(a1);
    expect(b).not.toBe(a1);
    // Keyed: nobody can compute it from an address they guess (an unkeyed hash would allow that).
    const unkeyed = (address: string) => createHash('sha256').update(address).digest('base64url').slice(0, 16);
    expect(a1).not.toBe(unkeyed('127.0.0.2'));
    // Another server (another key): the same address gets another tag.
    const [other] = await tagsFrom(await start());
    expect(other).not.toBe(a1);
  });

  it('stops a client whose id another connection proved, rather than taking it back', async () => {
    const url = await start();
    const identity = ephemeralIdentity();
    const first = new SignalClient({ url, identity, createSocket: nodeSocketFactory });
    clients.push(first);
    first.start();
    await first.ready();
    const replaced = new Promise((resolve) => first.once('replaced', resolve));
    const second = new SignalClient({ url, identity, createSocket: nodeSocketFactory });
    clients.push(second);
    second.start();
    await second.ready();
    await replaced;
    const looker = await client(url);
    const topic = topics(1, 7000)[0]!;
    second.announce([topic]);
    await expect.poll(() => looker.lookup(topic), { timeout: 5_000 }).toEqual([identity.id]);
    expect(first.connected).toBe(false);
    expect(second.connected).toBe(true);
  });

  it('closes a socket that never says hello', async () => {
    const url = await start({ helloTimeoutMs: 100 });
    const mute = new WebSocket(url);
    const messages: string[] = [];
    mute.on('message', (data: Buffer) => messages.push(data.toString()));
    const code = await new Promise((resolve) => mute.once('close', resolve));
    expect(code).toBe(1008);
    expect(messages.some((m) => JSON.parse(m).code === 'hello-first')).toBe(true);
  });
});

describe('batched lookups', () => {
  it('answers many topics in one message: a sample of each, the asker left out, only what was asked', async () => {
    const url = await start();
    const asker = await client(url);
    expect(asker.lookupBatch).toBe(MAX_TOPICS_PER_LOOKUP);
    const [crowded, quiet, empty] = topics(3, 9000) as [string, string, string];
    // More holders of one topic than a batch lists for it: the answer is a full sample.
    const crowd = await Promise.all(Array.from({ length: MAX_BATCHED_HOLDERS + 4 }, () => client(url)));
    for (const c of crowd) c.announce([crowded]);
    asker.announce([quiet]);
    crowd[0]!.announce([quiet]);
    await expect.poll(async () => (await asker.lookup(crowded)).length).toBe(crowd.length);

    const found = await asker.lookupMany([crowded, quiet, empty]);
    expect([...found.keys()].sort()).toEqual([crowded, quiet, empty].sort());
    expect(found.get(crowded)).toHaveLength(MAX_BATCHED_HOLDERS);
    expect(crowd.map((c) => c.peerId)).toEqual(expect.arrayContaining(found.get(crowded)!));
    expect(found.get(quiet)).toEqual([crowd[0]!.peerId]);
    expect(found.get(empty)).toEqual([]);
    await expect(asker.lookupMany(topics(MAX_TOPICS_PER_LOOKUP + 1, 9100))).rejects.toBeInstanceOf(BadInputError);
  });

  it('charges a batch what its lookups would cost one by one, and refuses one over the size', async () => {
    // A hostile peer tries to read the state 32 times per message under a per-message rate limit.
    const url = await start({ messageBurst: 40, messagesPerSecond: 1 });
    const greedy = await raw(url, '127.0.0.21');
    await sayHello(greedy, 'greedy-batcher');
    const batch = hexTopics(MAX_TOPICS_PER_LOOKUP, 71);
    greedy.send({ t: 'lookups', id: 1, topics: batch });
    expect((await greedy.next((m) => m.t === 'found' && m.id === 1)).holders).toHaveLength(MAX_TOPICS_PER_LOOKUP);
    // The burst of 40 had room for one batch of 32 (and the hello), not for a second.
    greedy.send({ t: 'lookups', id: 2, topics: batch });
    await greedy.next(errorCode('rate-limited'));
    expect(greedy.messages.some((m) => m.t === 'found' && m.id === 2)).toBe(false);

    const oversized = await raw(url, '127.0.0.22');
    await sayHello(oversized, 'oversized-batcher');
    oversized.send({ t: 'lookups', id: 3, topics: hexTopics(MAX_TOPICS_PER_LOOKUP + 1, 72) });
    await oversized.next(errorCode('bad-message'));
  });

  it('lets a listed seed look up thousands of held files a batch at a time', async () => {
    const seedIdentity = namedIdentity('batch-seed');
    const url = await start({ messageBurst: 5, messagesPerSecond: 1 }, { seeds: [seedIdentity.id] });
    const seed = await client(url, seedIdentity);
    const held = topics(1_000, 20_000);
    seed.announce(held);
    const holder = await client(url);
    holder.announce(held.slice(0, 10));
    await expect.poll(async () => (await seed.lookup(held[9]!)).length).toBe(1);
    let seen = 0;
    for (let i = 0; i < held.length; i += MAX_TOPICS_PER_LOOKUP) {
      const found = await seed.lookupMany(held.slice(i, i + MAX_TOPICS_PER_LOOKUP));
      for (const peers of found.values()) seen += peers.length;
    }
    expect(seen).toBe(10);
  });
});

describe('ICE servers from the signaling server', () => {
  const ice = { stun: ['stun:198.51.100.7:3478'], turn: ['turn:198.51.100.7:3478'], turnSecret: 'shh' };

  it('renews TURN credentials for a peer that stays connected, before they expire', async () => {
    const url = await start({ pingIntervalMs: 100 }, { ice: { ...ice, turnTtlMs: 2_000 } });
    const c = await client(url);
    const first = c.iceServers[1]!;
    const renewed = await new Promise<RTCIceServer>((resolve) => c.once('ice', (servers) => resolve(servers[1]!)));
    expect(c.iceServers[1]).toEqual(renewed);
    const expiry = (server: RTCIceServer) => Number(server.username!.split(':')[0]);
    expect(expiry(renewed)).toBeGreaterThan(expiry(first));
    expect(renewed.username!.endsWith(`:${c.peerId}`)).toBe(true);
    expect(renewed.credential).toBe(createHmac('sha1', 'shh').update(renewed.username!).digest('base64'));
  });

  it('gives a peer no ICE servers when none are configured', async () => {
    const c = await client(await start());
    expect(c.iceServers).toEqual([]);
    expect(c.publicOrigin).toBeUndefined();
  });
});
