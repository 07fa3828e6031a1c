// Nobody can take a seed's peer id, and the seed itself gets it back at once: real `mycel signal`,
// `mycel seed`, `mycel put` and `mycel get` processes on loopback.
//
// The attacker knows the seed's id (it is public) and keeps saying hello with it, replaying even a
// hello signature the seed made; it is refused each time ('bad-proof') and never sees a signal. A
// seed restarted while its old process still holds its socket (frozen with SIGSTOP, as a hung or
// half-dead process would) proves its id on a new socket and replaces the old one immediately; the
// old process, once it runs again, is told so and stays off rather than fighting back.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64Url, toBase64Url } from '../../src/content/bytes.js';
import { ephemeralIdentity, identityFromSecret } from '../../src/net/identity.js';
import { IDENTITY_FILE } from '../../src/node/identity-file.js';
import { SIGNAL_VERSION, helloMessage } from '../../src/net/signal-messages.js';
import { freePort, logged, runMycel, seedIdOf, startMycel, tempDir, type MycelProcess } from '../helpers/processes.js';
import { sameFiles, writeGeneratedFile } from '../helpers/files.js';
import { rawSocket, type RawMessage } from '../helpers/signal.js';

let dir: string;
let seedData: string;
let seedId: string;
let url: string;
let wsUrl: string;
let signal: MycelProcess;
const running: MycelProcess[] = [];

beforeAll(async () => {
  dir = await tempDir('seed-id');
  seedData = path.join(dir, 'seed');
  seedId = await seedIdOf(seedData);
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  wsUrl = `ws://127.0.0.1:${port}/signal`;
  signal = startMycel(['signal', '--port', String(port), '--host', '127.0.0.1', '--seed', seedId]);
  running.push(signal);
  await signal.waitForLine(logged('listening'));
});

afterAll(async () => {
  for (const proc of running) {
    proc.child.kill('SIGCONT');
    await proc.kill('SIGKILL');
  }
  await fs.rm(dir, { recursive: true, force: true });
});

/** The seed's own key, read from its folder (to make a hello an eavesdropper could have seen). */
async function seedIdentity() {
  const text = await fs.readFile(path.join(seedData, IDENTITY_FILE), 'utf8');
  return identityFromSecret(fromBase64Url(text.trim().split(' ')[1]!)!);
}

function startSeed(): MycelProcess {
  const proc = startMycel(['seed', '--signal', wsUrl, '--data', seedData]);
  running.push(proc);
  return proc;
}

/** Resolves once the signaling server logs that `peer` joined, counting from line `from`. */
function joined(peer: string, from: number): Promise<string> {
  return signal.waitForLine(
    (line) => logged('peer joined')(line) && JSON.parse(line).peer === peer && signal.stderr.indexOf(line) >= from,
  );
}

describe("a seed's peer id", () => {
  it('cannot be taken without its key: every such hello is refused, and no signal meant for the seed reaches it', async () => {
    const seed = startSeed();
    await seed.waitForLine(logged('seed ready'));
    await joined(seedId, 0);
    const file = path.join(dir, 'during-attack.bin');
    await writeGeneratedFile(file, 3 * 1024 * 1024, 41);

    // The attacker says hello as the seed again and again while an honest put and get run.
    let honestDone = false;
    const seen: RawMessage[] = [];
    let refused = 0;
    const stranger = ephemeralIdentity();
    // A hello the seed really signed, as an eavesdropper on some earlier connection could have it.
    const captured = toBase64Url(await (await seedIdentity()).sign(helloMessage(new Uint8Array(32).fill(9))));
    const attacker = (async () => {
      for (let attempt = 0; !honestDone; attempt++) {
        const socket = await rawSocket(wsUrl);
        const nonce = await socket.challenge();
        // Signed by another key, or the seed's own signature over a nonce that is not this socket's.
        const sig = attempt % 2 ? captured : toBase64Url(await stranger.sign(helloMessage(nonce)));
        socket.ws.send(JSON.stringify({ t: 'hello', v: SIGNAL_VERSION, peer: seedId, sig }));
        await socket.next((m) => m.t === 'error' && m.code === 'bad-proof');
        expect(await socket.closed).toBe(1008);
        refused++;
        seen.push(...socket.messages);
      }
    })();
    const put = await runMycel(['put', file, '--server', url]);
    const out = path.join(dir, 'during-attack.out');
    const get = await runMycel(['get', put.stdout.trim(), '-o', out, '--cache', path.join(dir, 'cache-1')]);
    honestDone = true;
    await attacker;

    expect(put.code, put.stderr).toBe(0);
    expect(put.stderr).toMatch(/on 1 seed\b/);
    expect(get.code, get.stderr).toBe(0);
    expect(await sameFiles(file, out)).toBe(true);
    expect(refused).toBeGreaterThan(0);
    expect(seen.filter((m) => m.t !== 'challenge' && !(m.t === 'error' && m.code === 'bad-proof'))).toEqual([]);
    await seed.kill('SIGKILL');
  }, 90_000);

  it('is back with the restarted seed at once, even while the old process still holds its socket', async () => {
    const started = signal.stderr.length;
    const old = startSeed();
    await old.waitForLine(logged('seed ready'));
    await joined(seedId, started);
    // The old process hangs: its socket stays open, and the server still lists it under the id.
    old.child.kill('SIGSTOP');

    const mark = signal.stderr.length;
    const restarted = startSeed();
    await restarted.waitForLine(logged('seed ready'));
    await joined(seedId, mark);
    const replaced = await signal.waitForLine(logged('peer id proven on a new socket; the old one is closed'));
    expect(JSON.parse(replaced).peer).toBe(seedId);

    const file = path.join(dir, 'after-restart.bin');
    await writeGeneratedFile(file, 2 * 1024 * 1024, 42);
    const put = await runMycel(['put', file, '--server', url]);
    expect(put.code, put.stderr).toBe(0);
    expect(put.stderr).toMatch(/on 1 seed\b/);

    // The old process wakes up: it is told its id moved, and stays off the network.
    old.child.kill('SIGCONT');
    await old.waitForLine(
      logged("another process proved this seed's id to the signaling server; this one is off the network"),
    );
    const out = path.join(dir, 'after-restart.out');
    const get = await runMycel(['get', put.stdout.trim(), '-o', out, '--cache', path.join(dir, 'cache-2')]);
    expect(get.code, get.stderr).toBe(0);
    expect(await sameFiles(file, out)).toBe(true);
    // Only the restarted seed joined under the id since the restart: the old one did not come back.
    expect(
      signal.stderr.slice(mark).filter((line) => logged('peer joined')(line) && JSON.parse(line).peer === seedId),
    ).toHaveLength(1);
    await old.kill('SIGKILL');
    await restarted.kill('SIGKILL');
  }, 90_000);
});
