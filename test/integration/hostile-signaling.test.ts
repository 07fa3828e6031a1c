// Hostile signaling clients against a real `mycel serve`: invalid JSON, unknown types, messages
// before hello, hellos that do not prove their id, oversized messages, floods and many sockets.
// Each gets a typed error and, when it keeps on, its socket closed; the server stays up, answers /health, counts what it rejected in
// /metrics, and an honest put/get works meanwhile. Attackers connect from 127.0.0.2 (a different
// address on loopback) so the per-address socket limit they trip is theirs alone. No proxy is
// trusted here, so a forged X-Forwarded-For changes nothing; and the embedded seed, which joins
// from 127.0.0.1, takes none of that address's sockets.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64Url } from '../../src/content/bytes.js';
import { ephemeralIdentity, type PeerIdentity } from '../../src/net/identity.js';
import { SIGNAL_VERSION, helloMessage } from '../../src/net/signal-messages.js';
import { rawSocket, type RawSocket } from '../helpers/signal.js';
import { runMycel, startServe, tempDir, type MycelProcess } from '../helpers/processes.js';
import { sameFiles, writeGeneratedFile } from '../helpers/files.js';

let dir: string;
let serve: { proc: MycelProcess; url: string; port: number };
let wsUrl: string;
const sockets: WebSocket[] = [];

type Raw = RawSocket;

function raw(localAddress = '127.0.0.2', headers?: Record<string, string>): Promise<Raw> {
  return rawSocket(wsUrl, { localAddress, headers }).then((client) => {
    sockets.push(client.ws);
    return client;
  });
}

/** Says a proven hello if the server took the socket; 'welcome', or the code it was refused with. */
async function helloOrRefused(c: Raw): Promise<string> {
  const first = await c.next((m) => m.t === 'challenge' || code('too-many-sockets')(m));
  if (first.t !== 'challenge') return first.code!;
  await c.hello();
  return 'welcome';
}

async function hello(client: Raw, identity?: PeerIdentity) {
  return client.hello(identity);
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
    const other = ephemeralIdentity();
    const otherSig = toBase64Url(await other.sign(helloMessage(await client.challenge())));
    await rejects(JSON.stringify({ t: 'hello', v: SIGNAL_VERSION, peer: other.id, sig: otherSig }), 'bad-message');
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
    // Still a working client: a valid lookup is answered.
    client.ws.send(JSON.stringify({ t: 'lookup', id: 7, topic: 'seeds' }));
    await client.next((m) => m.t === 'holders');
  });

  it('get too-large for oversized messages, and are cut off past the hard frame limit', async () => {
    const client = await raw();
    await hello(client);
    client.ws.send(JSON.stringify({ t: 'signal', to: ephemeralIdentity().id, data: { sdp: 'x'.repeat(10_000) } }));
    await client.next(code('too-large'));
    client.ws.send('x'.repeat(100_000));
    expect(await client.closed).toBe(1009);
  });

  it('cannot take a peer id that is in use without its key', async () => {
    const first = await raw();
    const owner = await hello(first);
    // The second socket knows the id, and even a signature the owner made (for the first
    // socket's challenge), but not the key.
    const second = await raw();
    const replayed = toBase64Url(await owner.sign(helloMessage(await first.challenge())));
    await second.challenge();
    second.ws.send(JSON.stringify({ t: 'hello', v: SIGNAL_VERSION, peer: owner.id, sig: replayed }));
    await second.next(code('bad-proof'));
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
      live.map((c) =>
        Promise.race([
          c.closed.then((closeCode) => closeCode === 1008 && c.messages.some(code('too-many-sockets'))),
          new Promise<boolean>((r) => setTimeout(() => r(false), 2000)),
        ]),
      ),
    );
    expect(refused.filter(Boolean).length).toBeGreaterThanOrEqual(6);
    const health = await fetch(`${serve.url}/health`);
    expect(health.status).toBe(200);
    expect((await health.json()).ok).toBe(true);
    for (const c of live) c.ws.terminate();
  });

  it('cannot get more sockets by forging X-Forwarded-For when no proxy is trusted', async () => {
    const opened = await Promise.all(
      Array.from({ length: 70 }, (_, i) =>
        raw('127.0.0.3', { 'x-forwarded-for': `203.0.113.${i + 1}` }).catch(() => undefined),
      ),
    );
    const live = opened.filter((c): c is Raw => c !== undefined);
    const outcomes = await Promise.all(live.map((c) => helloOrRefused(c)));
    expect(outcomes.filter((t) => t === 'welcome')).toHaveLength(64);
    for (const c of live) c.ws.terminate();
  });

  it('can take all 64 sockets of 127.0.0.1, where the embedded seed holds none, and a put still works', async () => {
    // The seed joined from 127.0.0.1 at start. Others now take every socket that address may
    // have; if the seed's counted, one of these is refused.
    const mine = await Promise.all(Array.from({ length: 64 }, () => raw('127.0.0.1')));
    const outcomes = await Promise.all(mine.map((c) => helloOrRefused(c)));
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
    for (const reason of [
      'bad-json',
      'bad-message',
      'hello-first',
      'too-large',
      'rate-limited',
      'bad-proof',
      'too-many-sockets',
    ]) {
      expect(metrics).toMatch(new RegExp(`mycel_signal_rejected_total\\{reason="${reason}"\\} [1-9]`));
    }
    expect(metrics).toMatch(/^mycel_signal_relayed_total [1-9]/m);
    expect(metrics).toMatch(/^# TYPE mycel_signal_sockets gauge$/m);
    expect(serve.proc.child.exitCode).toBeNull();
  });
});
