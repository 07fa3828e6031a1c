// A signaling server that lies cannot make a peer believe it talks to the seed. The relay here is
// built in the test: it speaks the signaling protocol but checks no proof, answers that the seed
// (by its real, public id) holds the seeds topic, and routes whatever is addressed to the seed to an
// impostor, a real Seed with its own key, while labelling the impostor's signals as the seed's.
// WebRTC connects for real (DTLS between the victim and the impostor); the victim's auth check fails,
// the session is closed and never adopted, and the impostor is handed nothing.
import { promises as fs } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import WebSocket, { WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64Url } from '../../src/content/bytes.js';
import { ProtocolError } from '../../src/errors.js';
import { ephemeralIdentity } from '../../src/net/identity.js';
import { SEEDS_TOPIC, SIGNAL_VERSION } from '../../src/net/signal-messages.js';
import type { PeerSession } from '../../src/net/session.js';
import { Swarm } from '../../src/net/swarm.js';
import { Seed, nodeSocketFactory } from '../../src/node/seed.js';
import { createLogger } from '../../src/node/log.js';
import { nodeWrtc } from '../../src/node/wrtc.js';
import { createMemoryBlockStore } from '../../src/store/memory.js';
import { runMycel, tempDir } from '../helpers/processes.js';
import { writeGeneratedFile } from '../helpers/files.js';

/** The seed's real id: public, so anyone (a lying server included) can name it. */
const seedId = ephemeralIdentity().id;
let dir: string;
let http: Server;
let relayUrl: string;
let impostor: Seed;
const impostorWrites: string[] = [];
const swarms: Swarm[] = [];

/**
 * A lying relay: hello is never checked; `seeds` looks up to the seed's id; signals to the seed go
 * to the impostor (with the sender's true id); the impostor's signals go out as from the seed.
 */
function lyingRelay(): WebSocketServer {
  const wss = new WebSocketServer({ noServer: true });
  const byId = new Map<string, WebSocket>();
  let impostorId: string | undefined;
  wss.on('connection', (ws) => {
    let me: string | undefined;
    ws.send(JSON.stringify({ t: 'challenge', v: SIGNAL_VERSION, nonce: toBase64Url(randomBytes(32)) }));
    ws.on('message', (data) => {
      const m = JSON.parse((data as Buffer).toString());
      if (m.t === 'hello') {
        me = m.peer as string;
        byId.set(me, ws);
        ws.send(JSON.stringify({ t: 'welcome', v: SIGNAL_VERSION, peer: me, maxTopics: 1000 }));
      } else if (m.t === 'announce' && m.topics.includes(SEEDS_TOPIC)) {
        impostorId = me;
      } else if (m.t === 'lookup') {
        ws.send(
          JSON.stringify({ t: 'holders', id: m.id, topic: m.topic, peers: m.topic === SEEDS_TOPIC ? [seedId] : [] }),
        );
      } else if (m.t === 'signal') {
        const to = m.to === seedId ? impostorId : m.to;
        const from = me === impostorId ? seedId : me;
        byId.get(to)?.send(JSON.stringify({ t: 'signal', from, data: m.data }));
      }
    });
  });
  return wss;
}

beforeAll(async () => {
  dir = await tempDir('binding');
  const wss = lyingRelay();
  http = createServer((_req, res) => res.end());
  http.on('upgrade', (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)),
  );
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as { port: number };
  relayUrl = `http://127.0.0.1:${port}`;
  const inner = createMemoryBlockStore();
  const recording = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'put') return (id: string, bytes: Uint8Array) => (impostorWrites.push(id), target.put(id, bytes));
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  impostor = await Seed.start({
    dataDir: path.join(dir, 'impostor'),
    quota: 2 ** 30,
    signalUrl: `ws://127.0.0.1:${port}/signal`,
    store: recording,
    log: createLogger({ level: 'silent' }),
  });
  await impostor.swarm.signaling.ready();
});

afterAll(async () => {
  for (const swarm of swarms) swarm.close();
  await impostor?.close();
  http?.closeAllConnections();
  await new Promise((resolve) => http?.close(resolve));
  await fs.rm(dir, { recursive: true, force: true });
});

describe('a signaling server that lies about who is who', () => {
  it("cannot get a session adopted under the seed's id: the auth fails, the session closes, the id is banned", async () => {
    const victim = new Swarm({
      identity: ephemeralIdentity(),
      signalUrl: `${relayUrl.replace('http', 'ws')}/signal`,
      createSocket: nodeSocketFactory,
      wrtc: nodeWrtc,
      host: { store: createMemoryBlockStore() },
    });
    swarms.push(victim);
    const adopted: PeerSession[] = [];
    victim.on('session', (s) => adopted.push(s));
    const banned = new Promise<{ peer: string; reason: string }>((resolve) => victim.on('banned', resolve));
    victim.start();
    await victim.signaling.ready();
    expect(await victim.holders(SEEDS_TOPIC)).toEqual([seedId]);

    const impostorSessions = new Promise<PeerSession>((resolve) => impostor.swarm.on('session', resolve));
    const error = await victim.connect(seedId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).reason).toBe('bad-auth');
    expect(await banned).toMatchObject({ peer: seedId, reason: expect.stringMatching(/channel auth does not verify/) });
    // A real DTLS channel did open, to the impostor (it even believes the victim, who is honest).
    const theirs = await impostorSessions;
    expect(theirs.peer).toBe(victim.peerId);
    expect(adopted).toEqual([]);
    expect(victim.sessions()).toEqual([]);
    expect(victim.session(seedId)).toBeUndefined();
  }, 60_000);

  it('gets nothing from a put through it: the put finds no seed and the impostor is handed no block', async () => {
    const file = path.join(dir, 'secret.bin');
    await writeGeneratedFile(file, 512 * 1024, 61);
    const put = await runMycel(['put', file, '--server', relayUrl, '--timeout', '5'], { env: { MYCEL_LOG: 'warn' } });
    expect(put.code).toBe(1);
    expect(put.stdout).toBe('');
    expect(put.stderr).toMatch(/"msg":"peer banned".*channel auth does not verify/);
    expect(put.stderr.trim().split('\n').pop()).toMatch(/^mycel: no seed answered at .*: nowhere to keep the file$/);
    expect(impostorWrites).toEqual([]);
  }, 60_000);
});
