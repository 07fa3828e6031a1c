// A block of a held file rots on a seed's disk: real `mycel signal`/`mycel seed`/`mycel serve`
// processes, a peer in this process over real data channels, and a byte flipped in the block's file.
//
// With another holder online, the seed fetches the block again and the file stays announced (and
// is served whole by that seed alone afterwards). With none, the seed withdraws the file: a lookup
// no longer names it, also after a restart, until the file is whole again (here: the uploader's
// page-style renewal sends it again from its own copy).
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sealFile } from '../../src/content/seal.js';
import { renewFile } from '../../src/net/transfer.js';
import { blockPath } from '../../src/store/fs.node.js';
import { createMemoryBlockStore } from '../../src/store/memory.js';
import { pseudoRandomBytes, sameBytes } from '../helpers/data.js';
import { freePort, logged, seedIdOf, startMycel, tempDir, type MycelProcess } from '../helpers/processes.js';
import { startUploader } from '../helpers/uploader.js';

const MiB = 2 ** 20;
const running: MycelProcess[] = [];
const dirs: string[] = [];
const closers: (() => void)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await Promise.all(running.splice(0).map((p) => p.kill('SIGKILL')));
  await Promise.all(dirs.splice(0).map((d) => fs.rm(d, { recursive: true, force: true })));
});

function start(args: string[]): MycelProcess {
  const proc = startMycel(args);
  running.push(proc);
  return proc;
}

/** A file sealed with a known key, so its block ids (and their bytes) are known to the test. */
async function knownFile(seed: number) {
  const bytes = pseudoRandomBytes(2 * MiB, seed);
  const fileKey = new Uint8Array(32).fill(seed);
  const blocks = new Map<string, Uint8Array>();
  const sealed = await sealFile([bytes], (block) => void blocks.set(block.id, block.bytes), {
    name: 'file.bin',
    fileKey,
  });
  const dataIds = [...blocks.keys()].filter((id) => id !== sealed.root);
  return { bytes, fileKey, blocks, root: sealed.root, dataIds };
}

async function rot(data: string, id: string): Promise<void> {
  const file = blockPath(data, id);
  const bytes = await fs.readFile(file);
  bytes[100]! ^= 0xff;
  await fs.writeFile(file, bytes);
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('a rotted block on a seed', () => {
  it('is fetched again from another holder: the file stays announced and that seed alone serves it whole', async () => {
    const dir = await tempDir('rot-heal');
    dirs.push(dir);
    const [dataA, dataB] = [path.join(dir, 'a'), path.join(dir, 'b')];
    const [idA, idB] = await Promise.all([seedIdOf(dataA), seedIdOf(dataB)]);
    const port = await freePort();
    const signalUrl = `ws://127.0.0.1:${port}/signal`;
    const signal = start(['signal', '--port', String(port), '--host', '127.0.0.1', '--seed', idA, '--seed', idB]);
    await signal.waitForLine(logged('listening'));
    const seedA = start(['seed', '--signal', signalUrl, '--data', dataA]);
    const seedB = start(['seed', '--signal', signalUrl, '--data', dataB]);
    await Promise.all([seedA.waitForLine(logged('seed ready')), seedB.waitForLine(logged('seed ready'))]);
    const up = await startUploader(signalUrl);
    closers.push(() => up.close());
    const file = await knownFile(21);
    const put = await up.put(file.bytes, { fileKey: file.fileKey });
    expect(put.seeds.sort()).toEqual([idA, idB].sort());

    const victim = file.dataIds[4]!;
    await rot(dataA, victim);
    const session = await up.swarm.connect(idA);
    expect(await session.want(victim)).toBeUndefined(); // dropped on read, never served rotten
    const repaired = JSON.parse(
      await seedA.waitForLine((l) => logged('file repaired')(l) && JSON.parse(l).root === file.root, 40_000),
    );
    expect(repaired.blocks).toBe(1);
    expect(sha256(await fs.readFile(blockPath(dataA, victim)))).toBe(victim);
    expect(seedA.stderr.some(logged('file withdrawn: blocks of it are lost and no other holder gave them back'))).toBe(
      false,
    );
    expect((await up.swarm.holders(file.root)).sort()).toEqual([idA, idB].sort());

    await seedB.kill('SIGKILL');
    expect(sameBytes(await up.get(file.root, file.fileKey), file.bytes)).toBe(true);
  }, 120_000);

  it('with no other holder, withdraws the file (also after a restart) until it is whole again', async () => {
    const dir = await tempDir('rot-withdraw');
    dirs.push(dir);
    const data = path.join(dir, 'seed');
    const seedId = await seedIdOf(data);
    const port = await freePort();
    const serve = (): MycelProcess => start(['serve', '--port', String(port), '--host', '127.0.0.1', '--data', data]);
    let seed = serve();
    await seed.waitForLine(logged('seed ready'));
    const up = await startUploader(`ws://127.0.0.1:${port}/signal`);
    closers.push(() => up.close());
    const file = await knownFile(22);
    await up.put(file.bytes, { fileKey: file.fileKey });
    await expect.poll(() => up.swarm.holders(file.root), { timeout: 10_000 }).toEqual([seedId]);

    const victim = file.dataIds[2]!;
    await rot(data, victim);
    expect(await (await up.swarm.connect(seedId)).want(victim)).toBeUndefined();
    const withdrawn = JSON.parse(
      await seed.waitForLine(
        (l) => logged('file withdrawn: blocks of it are lost and no other holder gave them back')(l),
        40_000,
      ),
    );
    expect(withdrawn).toMatchObject({ root: file.root, missing: 1, level: 'error' });
    await expect.poll(() => up.swarm.holders(file.root), { timeout: 10_000 }).toEqual([]);

    // Restarted, it still knows the file is not whole, and does not announce it.
    await seed.kill('SIGTERM');
    seed = serve();
    const ready = JSON.parse(await seed.waitForLine(logged('seed ready')));
    expect(ready).toMatchObject({ files: 1, incomplete: 1 });
    await seed.waitForLine(
      (l) => logged('file withdrawn: blocks of it are lost and no other holder gave them back')(l),
      40_000,
    );
    expect(await up.swarm.holders(file.root)).toEqual([]);

    // The uploader still has every block (as the page that added it does): its renewal sends the
    // file again, and the seed, whole again, announces it.
    const own = createMemoryBlockStore();
    for (const [id, bytes] of file.blocks) await own.put(id, bytes);
    const session = await up.swarm.connect(seedId);
    expect(await renewFile(session, file.root, { store: own })).toBe('pushed');
    await expect.poll(() => up.swarm.holders(file.root), { timeout: 10_000 }).toEqual([seedId]);
    expect(sameBytes(await up.get(file.root, file.fileKey), file.bytes)).toBe(true);
  }, 150_000);
});
