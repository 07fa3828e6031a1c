// A seed whose own disk fails, handled the way a database would: a real `mycel serve` whose data
// folder is a small tmpfs made read-only or filled up, or has a directory where a block should be;
// a peer in this process putting and getting over real data channels, with one Swarm throughout
// (as a page would), so a ban would show.
//
// In each case the peer gets a generic refusal (no path, no error text of the seed's), the seed
// logs one error-level line with the cause, the peer keeps trusting the seed (a later put works
// once the fault is gone), the failed upload is released (no pin left, no blocks left behind), and
// files stored before read back equal.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreRefusedError } from '../../src/errors.js';
import { sealFile } from '../../src/content/seal.js';
import { open as openLmdb } from 'lmdb';
import { LEDGER_DIR, blockPath, fsStoreLayout } from '../../src/store/fs.node.js';
import { pseudoRandomBytes, sameBytes } from '../helpers/data.js';
import { freePort, logged, seedIdOf, startMycel, tempDir, type MycelProcess } from '../helpers/processes.js';
import { bindReadOnly, freeBytes, mountTmpfs, tmpfsUnavailable, unmount } from '../helpers/tmpfs.js';
import { startUploader, type Uploader } from '../helpers/uploader.js';

const MiB = 2 ** 20;
const running: MycelProcess[] = [];
const dirs: string[] = [];
const mounts: string[] = [];
const closers: (() => void)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await Promise.all(running.splice(0).map((p) => p.kill('SIGKILL')));
  for (const dir of mounts.splice(0).reverse()) unmount(dir);
  await Promise.all(dirs.splice(0).map((d) => fs.rm(d, { recursive: true, force: true })));
});

interface FaultySeed {
  readonly data: string;
  readonly seedId: string;
  readonly proc: MycelProcess;
  readonly up: Uploader;
}

/** `mycel serve` on a data folder (a tmpfs of `tmpfsMiB` if given), and an uploader in this process. */
async function start(options: { tmpfsMiB?: number; minFree: string }): Promise<FaultySeed> {
  const dir = await tempDir('disk-faults');
  dirs.push(dir);
  const data = path.join(dir, 'seed');
  await fs.mkdir(data);
  if (options.tmpfsMiB) {
    mountTmpfs(data, options.tmpfsMiB);
    mounts.push(data);
  }
  const seedId = await seedIdOf(data);
  const port = await freePort();
  const proc = startMycel([
    'serve',
    '--port',
    String(port),
    '--host',
    '127.0.0.1',
    '--data',
    data,
    '--min-free',
    options.minFree,
  ]);
  running.push(proc);
  await proc.waitForLine(logged('seed ready'), 30_000);
  const up = await startUploader(`ws://127.0.0.1:${port}/signal`);
  closers.push(() => up.close());
  return { data, seedId, proc, up };
}

/** The seed's log lines at error level, parsed. */
function errorLines(proc: MycelProcess): Record<string, unknown>[] {
  return proc.stderr
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((r) => r.level === 'error');
}

/** Puts `bytes` and expects the seed's generic refusal: no path, nothing of the seed's error. */
async function expectRefused(
  seed: FaultySeed,
  bytes: Uint8Array,
  detail: string,
  fileKey?: Uint8Array,
): Promise<StoreRefusedError> {
  const error = await seed.up.put(bytes, { fileKey }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(StoreRefusedError);
  const refusal = error as StoreRefusedError;
  expect(refusal.reason).toBe('unavailable');
  expect(refusal.detail).toBe(detail);
  // What the seed said (its words, not its peer id, which is base64url and may spell anything).
  expect(refusal.message).not.toContain(seed.data);
  expect(refusal.detail).not.toMatch(/\/|E[A-Z]{3,}/);
  return refusal;
}

/** Puts `bytes`, expecting the seed to take it; returns what reads it back. */
async function putOk(seed: FaultySeed, bytes: Uint8Array, fileKey?: Uint8Array) {
  const result = await seed.up.put(bytes, { fileKey });
  expect(result.seeds).toEqual([seed.seedId]);
  return { root: result.file.root, key: result.file.key, bytes };
}

async function readsBackEqual(
  seed: FaultySeed,
  file: { root: string; key: Uint8Array; bytes: Uint8Array },
): Promise<void> {
  expect(sameBytes(await seed.up.get(file.root, file.key), file.bytes)).toBe(true);
}

/** Whole block files under blocks/ (what the failed upload must not leave behind). */
async function blocksOnDisk(data: string): Promise<number> {
  let count = 0;
  const root = fsStoreLayout(data).blocks;
  for (const a of await fs.readdir(root)) {
    for (const b of await fs.readdir(path.join(root, a))) count += (await fs.readdir(path.join(root, a, b))).length;
  }
  return count;
}

/** Pin sets of uploads in progress ("upload:…"), read from the running seed's ledger (read-only). */
async function uploadPins(data: string): Promise<string[]> {
  const env = openLmdb<Buffer, Buffer>({
    path: path.join(data, LEDGER_DIR),
    readOnly: true,
    maxDbs: 12,
    keyEncoding: 'binary',
    encoding: 'binary',
  });
  try {
    const names = env.openDB<Buffer, Buffer>({ name: 'pinNames', keyEncoding: 'binary', encoding: 'binary' });
    // A pin set's key is its name's UTF-8 length (u16) and the name.
    return [...names.getKeys()].map((key) => key.subarray(2).toString('utf8')).filter((n) => n.startsWith('upload:'));
  } finally {
    await env.close();
  }
}

/**
 * The block folders made read-only (the ledger beside them stays writable: a file system with a
 * database open for writing cannot be remounted read-only as a whole), and made writable again.
 */
function blocksReadOnly(data: string): void {
  for (const dir of [fsStoreLayout(data).blocks, fsStoreLayout(data).tmp]) {
    bindReadOnly(dir);
    mounts.push(dir);
  }
}
function blocksWritable(data: string): void {
  for (const dir of [fsStoreLayout(data).tmp, fsStoreLayout(data).blocks]) {
    unmount(dir);
    mounts.splice(mounts.indexOf(dir), 1);
  }
}

const unavailable = tmpfsUnavailable();
if (unavailable) console.warn(`seed disk-fault tests on tmpfs skipped: ${unavailable}`);

// Skipped only where a small tmpfs cannot be mounted (not root): a real full disk needs one.
describe.skipIf(unavailable)('a seed whose disk fails (tmpfs)', () => {
  it('read-only block folders: refuses generically, logs EROFS once, keeps what it had, and takes puts again once writable', async () => {
    const seed = await start({ tmpfsMiB: 64, minFree: '1MiB' });
    const first = await putOk(seed, pseudoRandomBytes(2 * MiB, 1));
    const blocksBefore = await blocksOnDisk(seed.data);

    blocksReadOnly(seed.data);
    const second = pseudoRandomBytes(2 * MiB, 2);
    await expectRefused(seed, second, 'the seed cannot store this now');
    await seed.proc.waitForLine((l) => logged('upload released')(l) && JSON.parse(l).reason === 'unavailable');
    const errors = errorLines(seed.proc);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ msg: 'local storage fault', code: 'EROFS' });
    expect(String(errors[0]!.path)).toContain(seed.data); // the details stay in the operator's log
    expect(seed.up.swarm.isBanned(seed.seedId)).toBe(false);
    await readsBackEqual(seed, first);

    blocksWritable(seed.data);
    const stored = await putOk(seed, second);
    await readsBackEqual(seed, stored);
    await readsBackEqual(seed, first);
    expect(await uploadPins(seed.data)).toEqual([]);
    expect(await blocksOnDisk(seed.data)).toBe(blocksBefore * 2);
  }, 120_000);

  it('full disk: refuses generically, logs ENOSPC once (any other cause once too), drops the blocks the failed upload wrote, and takes puts again once there is room', async () => {
    const seed = await start({ tmpfsMiB: 32, minFree: '0' });
    const first = await putOk(seed, pseudoRandomBytes(2 * MiB, 3));
    const blocksBefore = await blocksOnDisk(seed.data);

    // Another program fills the disk but for 1 MiB: the next put runs into ENOSPC part way.
    const filler = path.join(seed.data, 'filler');
    await fs.writeFile(filler, new Uint8Array((await freeBytes(seed.data)) - MiB));
    const second = pseudoRandomBytes(4 * MiB, 4);
    await expectRefused(seed, second, 'the seed cannot store this now');
    const released = await seed.proc.waitForLine(
      (l) => logged('upload released')(l) && JSON.parse(l).reason === 'unavailable',
    );
    // Once per cause: the block write's ENOSPC, and any other fault the full disk caused (the
    // ledger's database can need a page the disk no longer has), each once.
    const errors = errorLines(seed.proc);
    const seen = JSON.stringify([...errors, JSON.parse(released)]);
    expect(
      errors.filter((e) => e.code === 'ENOSPC'),
      seen,
    ).toHaveLength(1);
    expect(
      errors.every((e) => e.msg === 'local storage fault'),
      seen,
    ).toBe(true);
    expect(new Set(errors.map((e) => e.code)).size, seen).toBe(errors.length);
    if (!errors.some((e) => e.code === 'LOCAL_STORAGE')) {
      // The ledger recorded the release: the blocks the upload wrote are deleted, and those still
      // in flight when it stopped are dropped as they land.
      await expect.poll(() => blocksOnDisk(seed.data), { timeout: 20_000, message: seen }).toBe(blocksBefore);
      expect(await uploadPins(seed.data), seen).toEqual([]);
    } else {
      // The disk was too full for the ledger to commit the release (it needs a page the disk no
      // longer had; it races the upload's other block writes for the last bytes, about 1 run in 10
      // under load). The seed said so once (above), and nothing is deleted that the ledger cannot
      // record as gone: the blocks stay, unpinned, and are collected later, and the unpin is
      // committed with the ledger's next write (checked below, after the next put).
      expect(await blocksOnDisk(seed.data), seen).toBeGreaterThanOrEqual(blocksBefore);
    }
    expect(seed.up.swarm.isBanned(seed.seedId)).toBe(false);
    await readsBackEqual(seed, first);

    await fs.rm(filler);
    const stored = await putOk(seed, second);
    await readsBackEqual(seed, stored);
    await readsBackEqual(seed, first);
    await expect.poll(() => uploadPins(seed.data), { timeout: 20_000 }).toEqual([]);
  }, 120_000);

  it('no room at all, for the ledger either: the seed refuses, stays up, and takes puts again once there is room', async () => {
    const seed = await start({ tmpfsMiB: 32, minFree: '0' });
    const first = await putOk(seed, pseudoRandomBytes(2 * MiB, 13));
    let exited = false;
    seed.proc.exited.then(
      () => (exited = true),
      () => (exited = true),
    );

    // Every last byte taken: the ledger's own commits (its database grows page by page) fail too.
    const filler = path.join(seed.data, 'filler');
    await fs.writeFile(filler, new Uint8Array(await freeBytes(seed.data))).catch(() => undefined);
    const second = pseudoRandomBytes(4 * MiB, 14);
    await expectRefused(seed, second, 'the seed cannot store this now');
    await seed.proc.waitForLine((l) => logged('upload released')(l) && JSON.parse(l).reason === 'unavailable');
    expect(errorLines(seed.proc).length).toBeGreaterThan(0);
    expect(exited).toBe(false);
    await readsBackEqual(seed, first);

    await fs.rm(filler);
    const stored = await putOk(seed, second);
    await readsBackEqual(seed, stored);
    await readsBackEqual(seed, first);
    expect(exited).toBe(false);
    await expect.poll(() => uploadPins(seed.data), { timeout: 20_000 }).toEqual([]);
  }, 120_000);

  it('below --min-free: refuses before the disk is full, says why without a path, logs it once', async () => {
    const seed = await start({ tmpfsMiB: 32, minFree: '8MiB' });
    const first = await putOk(seed, pseudoRandomBytes(2 * MiB, 5));
    const filler = path.join(seed.data, 'filler');
    await fs.writeFile(filler, new Uint8Array((await freeBytes(seed.data)) - 10 * MiB));
    const second = pseudoRandomBytes(4 * MiB, 6);
    await expectRefused(seed, second, 'the seed is low on disk space');
    const errors = errorLines(seed.proc);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ msg: 'disk space low: refusing stores', minFree: 8 * MiB });
    expect(await freeBytes(seed.data)).toBeGreaterThan(7 * MiB); // the reserve held
    await expect.poll(() => uploadPins(seed.data), { timeout: 20_000 }).toEqual([]);
    await readsBackEqual(seed, first);

    await fs.rm(filler);
    await readsBackEqual(seed, await putOk(seed, second));
  }, 120_000);
});

describe('a seed with a directory where a block should be', () => {
  it('refuses the put that would write there generically, logs EISDIR once, and takes it once the directory is gone', async () => {
    const seed = await start({ minFree: '1MiB' });
    const first = await putOk(seed, pseudoRandomBytes(2 * MiB, 7));
    // The file's key is fixed, so its block ids are known before the put.
    const fileKey = new Uint8Array(32).fill(9);
    const second = pseudoRandomBytes(2 * MiB, 8);
    const ids: string[] = [];
    await sealFile([second], (block) => void ids.push(block.id), { name: 'file.bin', fileKey });
    const blocked = blockPath(seed.data, ids[3]!);
    await fs.mkdir(blocked, { recursive: true });

    await expectRefused(seed, second, 'the seed cannot store this now', fileKey);
    await seed.proc.waitForLine((l) => logged('upload released')(l) && JSON.parse(l).reason === 'unavailable');
    const errors = errorLines(seed.proc);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ msg: 'local storage fault', code: 'EISDIR' });
    expect(seed.up.swarm.isBanned(seed.seedId)).toBe(false);
    await expect.poll(() => uploadPins(seed.data), { timeout: 20_000 }).toEqual([]);
    await readsBackEqual(seed, first);

    await fs.rmdir(blocked);
    const stored = await putOk(seed, second, fileKey);
    await readsBackEqual(seed, stored);
  }, 120_000);

  it('answers a want for a block that became a directory with not-found, logs it once, and stops announcing the file', async () => {
    const seed = await start({ minFree: '1MiB' });
    const ids: string[] = [];
    const fileKey = new Uint8Array(32).fill(3);
    const bytes = pseudoRandomBytes(2 * MiB, 9);
    await sealFile([bytes], (block) => void ids.push(block.id), { name: 'file.bin', fileKey });
    const file = await putOk(seed, bytes, fileKey);
    const lost = ids[2]!;
    await fs.rm(blockPath(seed.data, lost));
    await fs.mkdir(blockPath(seed.data, lost));

    const session = await seed.up.swarm.connect(seed.seedId);
    expect(await session.want(lost)).toBeUndefined();
    expect(session.closed).toBe(false);
    expect(seed.up.swarm.isBanned(seed.seedId)).toBe(false);
    const fault = JSON.parse(await seed.proc.waitForLine(logged('local storage fault')));
    expect(fault).toMatchObject({ op: 'read', code: 'EISDIR', block: lost });
    // No other holder has the block: the seed cannot serve the file whole, so it stops saying so.
    await seed.proc.waitForLine(
      (l) =>
        logged('file withdrawn: blocks of it are lost and no other holder gave them back')(l) &&
        JSON.parse(l).root === file.root,
      40_000,
    );
    await expect.poll(() => seed.up.swarm.holders(file.root), { timeout: 10_000 }).toEqual([]);
    expect(errorLines(seed.proc).filter((r) => r.msg === 'local storage fault')).toHaveLength(1);
  }, 120_000);
});
