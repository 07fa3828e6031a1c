// One peer putting and getting through the same session with a seed at once: a real `mycel serve`,
// a peer in this process (test/helpers/uploader.ts) over real data channels. An upload keeps more
// blocks on their way (UPLOAD_WINDOW) than a session sends at once (MAX_INFLIGHT_PER_PEER), so while
// it runs every request slot of the session is taken; a get started then must still be served, and
// must not wait forever for a word that slots came free (a session says nothing when they do).
import { promises as fs } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_INFLIGHT_PER_PEER, UPLOAD_WINDOW } from '../../src/net/limits.js';
import { pseudoRandomBytes, sameBytes } from '../helpers/data.js';
import { startServe, tempDir, type MycelProcess } from '../helpers/processes.js';
import { startUploader, type Uploader } from '../helpers/uploader.js';

const MiB = 2 ** 20;
/** Long enough for a hung get to show, far past what a served one takes here. */
const GET_DEADLINE_MS = 60_000;

const running: MycelProcess[] = [];
const dirs: string[] = [];
const peers: Uploader[] = [];

afterEach(async () => {
  for (const peer of peers.splice(0)) peer.close();
  await Promise.all(running.splice(0).map((p) => p.kill('SIGKILL')));
  await Promise.all(dirs.splice(0).map((d) => fs.rm(d, { recursive: true, force: true })));
});

/** `promise`, or a rejection naming `what` once `ms` have passed without it settling. */
function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

describe('a get while the same peer uploads to the seed', () => {
  it('reads the file back equal, though every request slot of the session was taken when it began', async () => {
    expect(UPLOAD_WINDOW).toBeGreaterThan(MAX_INFLIGHT_PER_PEER); // what fills the slots
    const dir = await tempDir('busy-session');
    dirs.push(dir);
    const serve = await startServe(dir, ['--min-free', '1MiB']);
    running.push(serve.proc);
    const peer = await startUploader(`ws://127.0.0.1:${serve.port}/signal`);
    peers.push(peer);
    const bytes = pseudoRandomBytes(2 * MiB, 11);
    const stored = await peer.put(bytes);
    const session = peer.swarm.sessions()[0]!;

    const upload = peer.put(pseudoRandomBytes(24 * MiB, 12));
    upload.catch(() => {
      // Awaited at the end; this only keeps a failure before then from going unhandled.
    });
    await expect.poll(() => session.freeSlots, { timeout: 20_000, interval: 1 }).toBe(0);
    const got = await withDeadline(peer.get(stored.file.root, stored.file.key), GET_DEADLINE_MS, 'the get');
    expect(sameBytes(got, bytes)).toBe(true);
    expect((await upload).seeds).toEqual(stored.seeds);
  }, 120_000);
});
