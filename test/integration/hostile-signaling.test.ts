// Hostile signaling clients against a real `mycel serve`: invalid JSON, unknown types, messages
// before hello, oversized messages, floods and many sockets. Each gets a typed error and, when it
// keeps on, its socket closed; the server stays up, answers /health, counts what it rejected in
// /metrics, and an honest put/get works meanwhile. Attackers connect from 127.0.0.2 (a different
// address on loopback) so the per-address socket limit they trip is theirs alone. No proxy is
// trusted here, so a forged X-Forwarded-For changes nothing; and the embedded seed, which joins
// from 127.0.0.1, takes none of that address's sockets.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMycel, startServe, tempDir, type MycelProcess } from '../helpers/processes.js';
import { sameFiles, writeGeneratedFile } from '../helpers/files.js';

let dir: string;
let serve: { proc: MycelProcess; url: string; port: number };
let wsUrl: string;
const sockets: WebSocket[] = [];

interface Raw {
  ws: WebSocket;
  messages: { t: string; code?: string }[];
  next(match?: (m: { t: string; code?: string }) => boolean, timeoutMs?: number): Promise<{ t: string; code?: string }>;
  closed: Promise<number>;
}

function raw(localAddress = '127.0.0.2', headers?: Record<string, string>): Promise<Raw> {
  const ws = new WebSocket(wsUrl, { localAddress, headers });
  sockets.push(ws);
  const messages: { t: string; code?: string }[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (data) => {
    messages.push(JSON.parse(data.toString()));
    waiters.splice(0).forEach((w) => w());
  });
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  ws.on('error', () => {});
  const next: Raw['next'] = (match = () => true, timeoutMs = 10_000) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching message; got ${JSON.stringify(messages)}`)), timeoutMs);
      const check = () => {
        const found = messages.find(match);
        if (found) {
          clearTimeout(timer);
          resolve(found);
        } else waiters.push(check);
      };
      check();
    });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, messages, next, closed }));
    ws.once('error', reject);
  });
}

async function hello(client: Raw, peer = `attacker-${Math.random().toString(36).slice(2, 12)}`) {
  client.ws.send(JSON.stringify({ t: 'hello', v: 1, peer }));
  await client.next((m) => m.t === 'welcome');
}

const code = (c: string) => (m: { t: string; code?: string }) => m.t === 'error' && m.code === c;

beforeAll(async () => {
  dir = await tempDir('signal-hostile');
  serve = await startServe(path.join(dir, 'seed'));
  wsUrl = `ws://127.0.0.1:${serve.port}/signal`;
});

afterAll(async () => {
  for (const ws of sockets) ws.terminate();
  await serve?.proc.kill();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('hostile signaling clients', () => {
  it('get a typed error for invalid JSON, unknown types, and anything before hello', async () => {
    const client = await raw();
    /** Sends `message` and waits for one more error of `expected` than there was. */
    const rejects = async (message: string, expected: string) => {
      const before = client.messages.filter(code(expected)).length;
      client.ws.send(message);
      await client.next(() => client.messages.filter(code(expected)).length > before);
    };
    await rejects('{not json', 'bad-json');
    await rejects(JSON.stringify({ t: 'lookup', id: 1, topic: 'a'.repeat(64) }), 'hello-first');
    await hello(client);
    await rejects(JSON.stringify({ t: 'teleport', to: 'mars' }), 'bad-message');
    await rejects(JSON.stringify({ t: 'announce', topics: ['../../etc/passwd'] }), 'bad-message');
    await rejects(JSON.stringify({ t: 'lookup', id: 1, topic: 'a'.repeat(64), extra: true }), 'bad-message');
    await rejects(JSON.stringify(['hello']), 'bad-message');
    await rejects(JSON.stringify({ t: 'hello', v: 1, peer: 'another-identity' }), 'bad-message');
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
    // Still a working client: a valid lookup is answered.
    client.ws.send(JSON.stringify({ t: 'lookup', id: 7, topic: 'seeds' }));
    await client.next((m) => m.t === 'holders');
  });

  it('get too-large for oversized messages, and are cut off past the hard frame limit', async () => {
    const client = await raw();
    await hello(client);
    client.ws.send(JSON.stringify({ t: 'signal', to: 'x'.repeat(10), data: { sdp: 'x'.repeat(10_000) } }));
    await client.next(code('too-large'));
    client.ws.send('x'.repeat(100_000));
    expect(await client.closed).toBe(1009);
  });

  it('cannot take a peer id that is in use', async () => {
    const first = await raw();
    await hello(first, 'the-same-peer-id');
    const second = await raw();
    second.ws.send(JSON.stringify({ t: 'hello', v: 1, peer: 'the-same-peer-id' }));
    await second.next(code('peer-id-taken'));
    expect(await second.closed).toBe(1008);
    expect(first.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('are rate-limited and then closed for a flood, while an honest put and get go through', async () => {
    // Flooders keep coming back until the honest transfer is over.
    let honestDone = false;
    const closeCodes: number[] = [];
    let rateLimited = 0;
    const flooder = async () => {
      while (!honestDone) {
        const client = await raw();
        await hello(client);
        for (let i = 0; client.ws.readyState === WebSocket.OPEN && !honestDone; i++) {
          client.ws.send(JSON.stringify({ t: 'lookup', id: i, topic: 'b'.repeat(64) }));
          if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
        if (honestDone) client.ws.terminate();
        closeCodes.push(await client.closed);
        rateLimited += client.messages.filter(code('rate-limited')).length;
      }
    };
    const flooders = [flooder(), flooder(), flooder()];
    const file = path.join(dir, 'during-flood.bin');
    await writeGeneratedFile(file, 2 * 1024 * 1024, 1);
    const put = await runMycel(['put', file, '--server', serve.url]);
    const out = path.join(dir, 'during-flood.out');
    const get = await runMycel(['get', put.stdout.trim(), '-o', out, '--cache', path.join(dir, 'cache')]);
    const health = await fetch(`${serve.url}/health`);
    honestDone = true;
    await Promise.all(flooders);
    expect(put.code, put.stderr).toBe(0);
    expect(get.code, get.stderr).toBe(0);
    expect(await sameFiles(file, out)).toBe(true);
    expect(health.status).toBe(200);
    expect(rateLimited).toBeGreaterThan(0);
    expect(closeCodes.filter((c) => c === 1008).length).toBeGreaterThan(0);
  }, 60_000);

  it('cannot open more sockets from one address than the limit', async () => {
    const opened = await Promise.all(Array.from({ length: 70 }, () => raw().catch(() => undefined)));
    const live = opened.filter((c): c is Raw => c !== undefined);
    const refused = await Promise.all(
      live.map((c) => Promise.race([c.closed.then((closeCode) => closeCode === 1008 && c.messages.some(code('too-many-sockets'))), new Promise<boolean>((r) => setTimeout(() => r(false), 2000))])),
    );
    expect(refused.filter(Boolean).length).toBeGreaterThanOrEqual(6);
    const health = await fetch(`${serve.url}/health`);
    expect(health.status).toBe(200);
    expect((await health.json()).ok).toBe(true);
    for (const c of live) c.ws.terminate();
  });

  it('cannot get more sockets by forging X-Forwarded-For when no proxy is trusted', async () => {
    const opened = await Promise.all(
      Array.from({ length: 70 }, (_, i) => raw('127.0.0.3', { 'x-forwarded-for': `203.0.113.${i + 1}` }).catch(() => undefined)),
    );
    const live = opened.filter((c): c is Raw => c !== undefined);
    const outcomes = await Promise.all(
      live.map((c, i) => {
        c.ws.send(JSON.stringify({ t: 'hello', v: 1, peer: `forged-xff-${i}-peer` }));
        return c.next((m) => m.t === 'welcome' || code('too-many-sockets')(m)).then((m) => m.t);
      }),
    );
    expect(outcomes.filter((t) => t === 'welcome')).toHaveLength(64);
    for (const c of live) c.ws.terminate();
  });

  it('can take all 64 sockets of 127.0.0.1, where the embedded seed holds none, and a put still works', async () => {
    // The seed joined from 127.0.0.1 at start. Others now take every socket that address may
    // have; if the seed's counted, one of these is refused.
    const mine = await Promise.all(Array.from({ length: 64 }, () => raw('127.0.0.1')));
    const outcomes = await Promise.all(
      mine.map((c, i) => {
        c.ws.send(JSON.stringify({ t: 'hello', v: 1, peer: `local-filler-${i}` }));
        return c.next((m) => m.t === 'welcome' || code('too-many-sockets')(m)).then((m) => m.t);
      }),
    );
    expect(outcomes.filter((t) => t === 'welcome')).toHaveLength(64);
    const extra = await raw('127.0.0.1');
    await extra.next(code('too-many-sockets'));
    // One socket freed for `mycel put` (also from 127.0.0.1); the seed is still there to take it.
    mine[0]!.ws.close();
    await mine[0]!.closed;
    const file = path.join(dir, 'address-full.bin');
    await writeGeneratedFile(file, 256 * 1024, 3);
    const put = await runMycel(['put', file, '--server', serve.url]);
    expect(put.code, put.stderr).toBe(0);
    for (const c of mine) c.ws.terminate();
  });

  it('leave the server up, healthy, and counting what it rejected', async () => {
    const health = await fetch(`${serve.url}/health`);
    expect(health.status).toBe(200);
    const body = await health.json();
    expect(body).toMatchObject({ ok: true });
    expect(body.peers).toBeGreaterThanOrEqual(1); // the seed
    const metrics = await (await fetch(`${serve.url}/metrics`)).text();
    for (const reason of ['bad-json', 'bad-message', 'hello-first', 'too-large', 'rate-limited', 'peer-id-taken', 'too-many-sockets']) {
      expect(metrics).toMatch(new RegExp(`mycel_signal_rejected_total\\{reason="${reason}"\\} [1-9]`));
    }
    expect(metrics).toMatch(/^mycel_signal_relayed_total [1-9]/m);
    expect(metrics).toMatch(/^# TYPE mycel_signal_sockets gauge$/m);
    expect(serve.proc.child.exitCode).toBeNull();
  });
});
