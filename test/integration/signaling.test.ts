// The signaling server in this process, real WebSockets on loopback: announcing many topics,
// the per-socket topic limit, silent sockets forgotten by ping, the hello deadline, and a peer id
// moving to a newer socket that proves it.
import { createServer, type Server } from 'node:http';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { SignalingServer, type SignalingLimits } from '../../signaling/server.js';
import { createLogger } from '../../src/node/log.js';
import { ephemeralIdentity } from '../../src/net/identity.js';
import { rawSocket } from '../helpers/signal.js';
import { SignalClient } from '../../src/net/signal-client.js';
import { nodeSocketFactory } from '../../src/node/seed.js';
import { block } from '../contracts/block-store.js';

const running: { server: SignalingServer; http: Server }[] = [];
const clients: SignalClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const { server, http } of running.splice(0)) {
    await server.close();
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  }
});

async function start(limits: Partial<SignalingLimits> = {}): Promise<string> {
  const server = new SignalingServer({ limits, log: createLogger({ level: 'silent' }) });
  const http = createServer((req, res) => server.handleHttp(req, res) || res.end());
  server.attach(http);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  running.push({ server, http });
  return `ws://127.0.0.1:${(http.address() as { port: number }).port}/signal`;
}

async function client(url: string): Promise<SignalClient> {
  const c = new SignalClient({ url, identity: ephemeralIdentity(), createSocket: nodeSocketFactory });
  clients.push(c);
  c.start();
  await c.ready();
  return c;
}

const topics = (n: number, from = 0) => Array.from({ length: n }, (_, i) => block(8, from + i + 1).id);

describe('signaling server', () => {
  it('takes a peer announcing thousands of files (a seed), in messages under the size limit', async () => {
    const url = await start();
    const seed = await client(url);
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
    mute.on('message', (data) => messages.push(String(data)));
    const code = await new Promise((resolve) => mute.once('close', resolve));
    expect(code).toBe(1008);
    expect(messages.some((m) => JSON.parse(m).code === 'hello-first')).toBe(true);
  });
});
