// Hostile peers on real data channels. Against a seed: malformed frames, oversized frames and
// request floods each get that peer dropped, nobody else is affected and nothing stored changes.
// At the door: a peer that does not prove its id on the channel (no auth, an auth over the wrong
// fingerprints, an auth replayed from another channel, frames before auth) is dropped before the
// seed answers anything.
// Against a getter: a holder that answers with bytes that are not the block asked for is dropped
// and banned, and the file still arrives whole from the honest seed.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBlockStore } from '../../src/store/memory.js';
import type { BlockStore } from '../../src/store/block-store.js';
import { ephemeralIdentity } from '../../src/net/identity.js';
import { channelAuthMessage } from '../../src/net/channel-auth.js';
import { AUTH_TIMEOUT_MS } from '../../src/net/limits.js';
import { Swarm } from '../../src/net/swarm.js';
import { nodeSocketFactory } from '../../src/node/seed.js';
import { nodeWrtc } from '../../src/node/wrtc.js';
import { parseLink } from '../../src/content/share-link.js';
import { FrameType, MAX_FRAME_BYTES, WIRE_VERSION, decodeFrame } from '../../src/net/wire.js';
import {
  freePort,
  logged,
  runMycel,
  seedIdOf,
  startMycel,
  startServeHoldingFile,
  type MycelProcess,
} from '../helpers/processes.js';
import { sameFiles } from '../helpers/files.js';
import { errorFrames, openRawLink, within } from '../helpers/hostile.js';
import { pseudoRandomBytes } from '../helpers/data.js';
import { mib, sampleRss } from '../helpers/memory.js';

let dir: string;
let serve: { proc: MycelProcess; url: string; port: number };
let signalUrl: string;
let seedPeer: string;
let file: string;
let link: string;
let seedData: string;

async function countBlocks(): Promise<number> {
  let n = 0;
  const root = path.join(seedData, 'blocks');
  for (const a of await fs.readdir(root))
    for (const b of await fs.readdir(path.join(root, a))) n += (await fs.readdir(path.join(root, a, b))).length;
  return n;
}

async function someDataBlockId(): Promise<string> {
  const root = path.join(seedData, 'blocks');
  for (const a of await fs.readdir(root)) {
    for (const b of await fs.readdir(path.join(root, a))) {
      for (const id of await fs.readdir(path.join(root, a, b))) {
        if ((await fs.stat(path.join(root, a, b, id))).size > 100_000) return id;
      }
    }
  }
  throw new Error('no data block');
}

beforeAll(async () => {
  ({ dir, seedData, serve, signalUrl, seedPeer, file, link } = await startServeHoldingFile('hostile', 3));
});

afterAll(async () => {
  await serve?.proc.kill();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('a hostile peer against a seed', () => {
  const attacks: [string, (send: (m: Uint8Array) => void) => void, RegExp][] = [
    ['a fragment with an unknown flag', (send) => send(new Uint8Array([7, 1, 2, 3])), /unknown fragment flag/],
    [
      'a text message instead of bytes',
      (send) => (send as unknown as (text: string) => void)('\u0000hello'),
      /a text message is not a fragment/,
    ],
    ['a frame shorter than its header', (send) => send(new Uint8Array([0, WIRE_VERSION, 2])), /shorter than a header/],
    [
      'a frame of an unknown type',
      (send) => send(new Uint8Array([0, WIRE_VERSION, 99, 0, 0, 0, 1])),
      /unknown frame type 99/,
    ],
    [
      'a frame of another protocol version',
      (send) => send(new Uint8Array([0, 42, 2, 0, 0, 0, 1])),
      /unsupported wire version/,
    ],
    [
      'a want whose id is cut short',
      (send) => send(new Uint8Array([0, WIRE_VERSION, FrameType.Want, 0, 0, 0, 1, ...new Uint8Array(31)])),
      /want carries one block id/,
    ],
    [
      'a frame that never ends (oversized)',
      (send) => {
        const more = new Uint8Array(64 * 1024);
        more[0] = 1;
        for (let sent = 0; sent <= MAX_FRAME_BYTES; sent += more.length - 1) send(more);
      },
      /frame grew past/,
    ],
    [
      'a block nobody asked for',
      (send) => send(new Uint8Array([0, WIRE_VERSION, FrameType.Block, 0, 0, 0, 77, 1, 2, 3])),
      /answer .* to no request/,
    ],
  ];

  for (const [what, attack, reason] of attacks) {
    it(`is dropped for ${what}`, async () => {
      const blocksBefore = await countBlocks();
      const hostile = await openRawLink(signalUrl, seedPeer);
      attack((message) => hostile.send(message));
      expect(await within(hostile.closed, 15_000)).toBe(true);
      expect(errorFrames(hostile.received).join('\n')).toMatch(reason);
      expect(await countBlocks()).toBe(blocksBefore);
    });
  }

  it('is dropped for flooding it with requests', async () => {
    const id = await someDataBlockId();
    const hostile = await openRawLink(signalUrl, seedPeer);
    const want = new Uint8Array(7 + 32);
    want.set([0, WIRE_VERSION, FrameType.Want]);
    want.set(Buffer.from(id, 'hex'), 7);
    for (let i = 1; i <= 300; i++) {
      new DataView(want.buffer).setUint32(3, i);
      hostile.send(want);
    }
    expect(await within(hostile.closed, 15_000)).toBe(true);
    expect(errorFrames(hostile.received).join('\n')).toMatch(/more than 64 requests/);
  });

  it('is dropped for flooding it with audits, as with wants, within bounded memory', async () => {
    // Audits of a real block with a fresh nonce each, never waiting for an answer: each costs the
    // seed a block read and a hash, so they queue like wants, and past the queue's bound the peer is
    // cut off rather than growing the queue. Five flooders in turn, 5,000 audits each.
    const id = await someDataBlockId();
    const rss = await sampleRss(serve.proc.child.pid!);
    for (let flooder = 0; flooder < 5; flooder++) {
      const hostile = await openRawLink(signalUrl, seedPeer);
      const audit = new Uint8Array(7 + 64);
      audit.set([0, WIRE_VERSION, FrameType.Audit]);
      audit.set(Buffer.from(id, 'hex'), 7);
      try {
        for (let i = 1; i <= 5_000; i++) {
          new DataView(audit.buffer).setUint32(3, i);
          audit.set(pseudoRandomBytes(32, i), 7 + 32);
          hostile.send(audit);
        }
      } catch {
        // The seed closed the channel mid-flood: sending fails from then on.
      }
      expect(await within(hostile.closed, 15_000)).toBe(true);
      expect(errorFrames(hostile.received).join('\n')).toMatch(/more than 64 requests/);
    }
    const after = await rss.stop();
    process.stderr.write(
      `[figure] audit flood: ${JSON.stringify({ rssBefore: mib(rss.before), rssPeak: mib(rss.peak()), rssAfter: mib(after) })}\n`,
    );
  });

  it('is banned afterwards: its offers are ignored for a while', async () => {
    const hostile = await openRawLink(signalUrl, seedPeer);
    hostile.send(new Uint8Array([0, WIRE_VERSION, 99, 0, 0, 0, 1]));
    expect(await within(hostile.closed, 15_000)).toBe(true);
    await serve.proc.waitForLine((line) => line.includes('peer banned') && line.includes(hostile.peerId));
  });

  it('leaves honest peers unaffected: a get after the attacks returns equal bytes', async () => {
    const out = path.join(dir, 'after-attacks.bin');
    const get = await runMycel(['get', link, '-o', out, '--cache', path.join(dir, 'cache-honest')]);
    expect(get.code, get.stderr).toBe(0);
    expect(await sameFiles(file, out)).toBe(true);
    expect(serve.proc.child.exitCode).toBeNull();
  }, 60_000);
});

describe('a peer that does not prove its id on the channel', () => {
  const want = (id: number) => {
    const frame = new Uint8Array(7 + 32);
    frame.set([0, WIRE_VERSION, FrameType.Want, 0, 0, 0, id]);
    return frame;
  };

  it('is dropped for a want before its auth, unanswered', async () => {
    const hostile = await openRawLink(signalUrl, seedPeer, { auth: async () => undefined });
    hostile.send(want(1));
    expect(await within(hostile.closed, 15_000)).toBe(true);
    expect(errorFrames(hostile.received).join('\n')).toMatch(/before proving its id/);
    expect(hostile.received.some((m) => m[2] === FrameType.NotFound || m[2] === FrameType.Block)).toBe(false);
  });

  it('is dropped and banned for an auth over fingerprints that are not this channel as the seed sees it', async () => {
    // Signed by its own key, but over (the seed's fingerprints, its own): the pair the other way round.
    const hostile = await openRawLink(signalUrl, seedPeer, {
      auth: (fingerprints, identity) => identity.sign(channelAuthMessage(fingerprints.remote, fingerprints.local)),
    });
    hostile.send(want(1));
    expect(await within(hostile.closed, 15_000)).toBe(true);
    expect(errorFrames(hostile.received).join('\n')).toMatch(/channel auth does not verify/);
    await serve.proc.waitForLine((line) => line.includes('peer banned') && line.includes(hostile.peerId));
  });

  it('is dropped for an auth it made on another channel, even with the same key', async () => {
    const identity = ephemeralIdentity();
    const first = await openRawLink(signalUrl, seedPeer, { identity });
    // Ed25519 is deterministic: this is the very auth the first channel carried, and the seed took.
    const firstAuth = await identity.sign(channelAuthMessage(first.fingerprints.local, first.fingerprints.remote));
    first.destroy();
    const second = await openRawLink(signalUrl, seedPeer, { identity, auth: async () => firstAuth });
    expect(second.fingerprints.local).not.toBe(first.fingerprints.local);
    expect(await within(second.closed, 15_000)).toBe(true);
    expect(errorFrames(second.received).join('\n')).toMatch(/channel auth does not verify/);
  });

  it('is dropped when it never sends its auth', { timeout: AUTH_TIMEOUT_MS + 20_000 }, async () => {
    const hostile = await openRawLink(signalUrl, seedPeer, { auth: async () => undefined });
    expect(await within(hostile.closed, AUTH_TIMEOUT_MS + 10_000)).toBe(true);
    // The only frame it ever got is the seed's own auth.
    expect(hostile.received.map((m) => decodeFrame(m.subarray(1)).type).filter((t) => t !== FrameType.Auth)).toEqual(
      [],
    );
  });
});

describe('a hostile holder against a getter', () => {
  it('is dropped and banned for blocks that do not match their ids; the get completes from the seed', async () => {
    // Its own network, so the liar can be the only holder when the get starts (it is surely asked),
    // and the honest seed comes back only after the getter has banned the liar.
    const port = await freePort();
    const own = `http://127.0.0.1:${port}`;
    const ownSignal = `ws://127.0.0.1:${port}/signal`;
    const data = path.join(dir, 'honest-seed');
    const signal = startMycel([
      'signal',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--seed',
      await seedIdOf(data),
    ]);
    await signal.waitForLine(logged('listening'));
    let seed = startMycel(['seed', '--signal', ownSignal, '--data', data]);
    await seed.waitForLine(logged('seed ready'));
    const put = await runMycel(['put', file, '--server', own]);
    expect(put.code, put.stderr).toBe(0);
    await seed.kill('SIGTERM');

    const honest = createMemoryBlockStore();
    let asked = 0;
    const lying: BlockStore = {
      ...honest,
      get: async () => {
        asked++;
        return pseudoRandomBytes(256 * 1024, asked);
      },
      has: async () => true,
    };
    const root = parseLink(put.stdout.trim()).root;
    const liar = new Swarm({
      identity: ephemeralIdentity(),
      signalUrl: ownSignal,
      createSocket: nodeSocketFactory,
      wrtc: nodeWrtc,
      host: { store: lying },
    });
    liar.announce([root]);
    liar.start();
    await liar.signaling.ready();
    try {
      const out = path.join(dir, 'despite-liar.bin');
      const get = startMycel(
        ['get', put.stdout.trim(), '-o', out, '--cache', path.join(dir, 'cache-liar'), '--timeout', '60'],
        {
          env: { MYCEL_LOG: 'warn' },
        },
      );
      const banned = JSON.parse(await get.waitForLine(logged('peer banned'), 30_000));
      expect(banned.peer).toBe(liar.peerId);
      expect(banned.reason).toMatch(/do not hash to block/);
      expect(asked).toBeGreaterThan(0);
      seed = startMycel(['seed', '--signal', ownSignal, '--data', data]);
      expect(await get.exited).toBe(0);
      expect(await sameFiles(file, out)).toBe(true);
    } finally {
      liar.close();
      await seed.kill();
      await signal.kill();
    }
  }, 90_000);
});
