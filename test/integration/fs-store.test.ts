import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { blockStoreContract, block } from '../contracts/block-store.js';
import {
  LEDGER_DIR,
  blockPath,
  fsStoreLayout,
  type FsBlockStore,
  openFsBlockStore,
  repairFsBlockStore,
  scanBlockFiles,
} from '../../src/store/fs.node.js';
import { LmdbLedger, isLedgerCommitFailure } from '../../src/store/lmdb-ledger.node.js';
import { LocalStorageError } from '../../src/errors.js';
import type { BlockId } from '../../src/content/format.js';
import { openLegacyFsBlockStore } from '../helpers/legacy-fs-store.js';
import { freeBytes, mountTmpfs, tmpfsUnavailable, unmount } from '../helpers/tmpfs.js';

const roots: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mycel-fs-store-'));
  roots.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(roots.map((dir) => fs.rm(dir, { recursive: true, force: true })));
});

blockStoreContract('file-system', async ({ quota, onEvict }) => {
  const dir = await tempDir();
  const store = await openFsBlockStore({ dir, quota, onEvict });
  return {
    store,
    reopen: async () => {
      await store.close();
      return openFsBlockStore({ dir, quota });
    },
  };
});

describe('file-system block store on a real disk', () => {
  it('lays blocks out as blocks/ab/cd/<id>', async () => {
    const dir = await tempDir();
    const store = await openFsBlockStore({ dir });
    const a = block(777, 1);
    await store.put(a.id, a.bytes);
    const onDisk = await fs.readFile(path.join(dir, 'blocks', a.id.slice(0, 2), a.id.slice(2, 4), a.id));
    expect(new Uint8Array(onDisk)).toEqual(a.bytes);
    await store.close();
  });

  it('survives a crash between write and rename: no half block under a real id, temp cleaned', async () => {
    const dir = await tempDir();
    const kept = block(4096, 2);
    const store = await openFsBlockStore({ dir });
    await store.put(kept.id, kept.bytes);
    await store.close();

    const crashing = block(200_000, 3);
    // A child process writes the block and is killed (SIGKILL) in the instant before the rename.
    const fixture = path.join(import.meta.dirname, 'fixtures', 'crash-before-rename.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, dir, crashing.id], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, sig) => resolve(sig)),
    );
    expect(signal).toBe('SIGKILL');
    const leftovers = await fs.readdir(fsStoreLayout(dir).tmp);
    expect(leftovers.length).toBe(1); // the crash really left a temp file behind
    await expect(fs.stat(blockPath(dir, crashing.id))).rejects.toMatchObject({ code: 'ENOENT' });

    const reopened = await openFsBlockStore({ dir });
    expect(await fs.readdir(fsStoreLayout(dir).tmp)).toEqual([]);
    expect(await reopened.has(crashing.id)).toBe(false);
    expect(new Uint8Array((await reopened.get(kept.id))!)).toEqual(kept.bytes);
    expect(await reopened.usage()).toMatchObject({ blocks: 1, bytes: 4096 });
    await reopened.put(crashing.id, crashing.bytes);
    expect(await reopened.has(crashing.id)).toBe(true);
    await reopened.close();
  });

  it('drops a block that rotted on disk instead of serving it', async () => {
    const dir = await tempDir();
    const corrupt: string[] = [];
    const store = await openFsBlockStore({ dir, onCorrupt: (id) => corrupt.push(id) });
    const a = block(1000, 4);
    await store.put(a.id, a.bytes);
    const file = blockPath(dir, a.id);
    const bytes = await fs.readFile(file);
    bytes[10]! ^= 0xff;
    await fs.writeFile(file, bytes);
    expect(await store.get(a.id)).toBeUndefined();
    expect(corrupt).toEqual([a.id]);
    expect(await store.has(a.id)).toBe(false);
    await expect(fs.stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
    await store.close();
  });

  it('reads the size its ledger recorded: a file cut short is dropped, bytes appended are never served', async () => {
    const dir = await tempDir();
    const corrupt: string[] = [];
    const store = await openFsBlockStore({ dir, onCorrupt: (id) => corrupt.push(id) });
    const short = block(300_000, 5);
    const long = block(1000, 6);
    await store.put(short.id, short.bytes);
    await store.put(long.id, long.bytes);
    await fs.truncate(blockPath(dir, short.id), 200_000);
    await fs.appendFile(blockPath(dir, long.id), Buffer.from('appended by someone else'));
    expect(await store.get(short.id)).toBeUndefined();
    expect(corrupt).toEqual([short.id]);
    // The recorded bytes are the block whole: served as they are, without what follows them.
    expect(Buffer.from((await store.get(long.id))!).equals(Buffer.from(long.bytes))).toBe(true);
    await store.close();
  });
  it('ignores stray files and half-written pin lines when it migrates a folder written before the ledger', async () => {
    const dir = await tempDir();
    const store = await openLegacyFsBlockStore({ dir });
    const a = block(100, 5);
    await store.put(a.id, a.bytes);
    await store.pin('p', [a.id]);
    await store.close();
    await fs.writeFile(path.join(dir, 'blocks', 'README'), 'not a block');
    await fs.writeFile(path.join(path.dirname(blockPath(dir, a.id)), 'junk.tmp'), 'junk');
    const pinFile = path.join(fsStoreLayout(dir).pins, (await fs.readdir(fsStoreLayout(dir).pins))[0]!);
    await fs.appendFile(pinFile, 'ab12'); // a crash mid-append
    const reopened = await openFsBlockStore({ dir });
    expect(await reopened.usage()).toMatchObject({ blocks: 1, pinnedBlocks: 1 });
    await reopened.close();
  });
});

/** Block files on disk, by walking the tree (what the store itself never does at open). */
async function filesOnDisk(dir: string): Promise<Map<BlockId, number>> {
  const found = new Map<BlockId, number>();
  for await (const file of scanBlockFiles(dir)) found.set(file.id, file.size);
  return found;
}

describe('file-system store: its ledger in LMDB', () => {
  it('opens from its ledger without reading the block tree', async () => {
    const dir = await tempDir();
    const store = await openFsBlockStore({ dir });
    const kept = block(1000, 1);
    const vanished = block(1000, 2);
    await store.put(kept.id, kept.bytes);
    await store.put(vanished.id, vanished.bytes);
    await store.close();
    // Behind the store's back: one block file deleted, one well-named file copied in.
    await fs.unlink(blockPath(dir, vanished.id));
    const stray = block(500, 3);
    await fs.mkdir(path.dirname(blockPath(dir, stray.id)), { recursive: true });
    await fs.writeFile(blockPath(dir, stray.id), stray.bytes);

    const reopened = await openFsBlockStore({ dir });
    // The ledger, not the tree, says what is held: a walk would have seen both changes.
    expect(await reopened.has(vanished.id)).toBe(true);
    expect(await reopened.has(stray.id)).toBe(false);
    // A read finds out the truth about the vanished one and forgets it.
    expect(await reopened.get(vanished.id)).toBeUndefined();
    expect(await reopened.has(vanished.id)).toBe(false);
    expect(new Uint8Array((await reopened.get(kept.id))!)).toEqual(kept.bytes);
    await reopened.close();
  });

  it('repairs on request: counts files copied in, drops records whose file is gone', async () => {
    const dir = await tempDir();
    const store = await openFsBlockStore({ dir });
    const blocks = Array.from({ length: 6 }, (_, i) => block(700 + i, 10 + i));
    for (const b of blocks) await store.put(b.id, b.bytes);
    await store.close();
    await fs.unlink(blockPath(dir, blocks[0]!.id));
    await fs.unlink(blockPath(dir, blocks[1]!.id));
    const stray = block(333, 30);
    await fs.mkdir(path.dirname(blockPath(dir, stray.id)), { recursive: true });
    await fs.writeFile(blockPath(dir, stray.id), stray.bytes);

    const report = await repairFsBlockStore(dir);
    expect(report).toMatchObject({ added: 1, dropped: 2, blocks: 5 });
    const disk = await filesOnDisk(dir);
    expect(report.bytes).toBe([...disk.values()].reduce((a, b) => a + b, 0));
    const reopened = await openFsBlockStore({ dir });
    const ids: BlockId[] = [];
    for await (const id of reopened.ids()) ids.push(id);
    expect(new Set(ids)).toEqual(new Set(disk.keys()));
    await reopened.close();
  });

  it('migrates a folder written before the ledger once, at its first open: blocks, recency and pins', async () => {
    const dir = await tempDir();
    const old = await openLegacyFsBlockStore({ dir, quota: 5000 });
    const blocks = Array.from({ length: 4 }, (_, i) => block(1000, 40 + i));
    for (const b of blocks) await old.put(b.id, b.bytes);
    await old.get(blocks[0]!.id); // now the most recently used
    await old.pin('file:a', [blocks[1]!.id]);
    await old.close();
    // The old store kept recency as mtime; make it unambiguous at whole milliseconds.
    const base = Date.now() / 1000 - 100;
    for (const [i, b] of blocks.entries()) {
      const t = base + (i === 0 ? 50 : i);
      await fs.utimes(blockPath(dir, b.id), t, t);
    }

    const store = await openFsBlockStore({ dir, quota: 5000 });
    expect(await store.usage()).toMatchObject({ bytes: 4000, blocks: 4, pinnedBytes: 1000, pinnedBlocks: 1 });
    expect(store.pinSet('file:a')).toEqual(new Set([blocks[1]!.id]));
    // Room for a 3000-byte block: the two least recently used unpinned blocks go.
    expect(store.ledger.planPut(block(3000, 50).id, 3000)).toEqual([blocks[2]!.id, blocks[3]!.id]);
    await store.close();
    // A second open does not import again (a stray file copied in now stays unknown).
    const stray = block(100, 51);
    await fs.mkdir(path.dirname(blockPath(dir, stray.id)), { recursive: true });
    await fs.writeFile(blockPath(dir, stray.id), stray.bytes);
    const again = await openFsBlockStore({ dir, quota: 5000 });
    expect(await again.has(stray.id)).toBe(false);
    await again.close();
  });

  it('leaves disk and ledger as they were when a write fails before its rename', async () => {
    const dir = await tempDir();
    let fail = false;
    const store = await openFsBlockStore({
      dir,
      quota: 2000,
      hooks: {
        beforeRename: () => {
          if (fail) throw new Error('disk went away');
        },
      },
    });
    const a = block(1000, 60);
    const b = block(1000, 61);
    await store.put(a.id, a.bytes);
    await store.put(b.id, b.bytes);
    fail = true;
    const c = block(1000, 62);
    await expect(store.put(c.id, c.bytes)).rejects.toThrow('disk went away');
    expect(await store.has(a.id)).toBe(true); // the planned victim is still held
    expect(await store.has(c.id)).toBe(false);
    expect(await store.usage()).toMatchObject({ bytes: 2000, blocks: 2 });
    await store.close();
    const ledger = await LmdbLedger.open({ path: path.join(dir, LEDGER_DIR) });
    expect(ledger.pendingIds()).toEqual([]);
    await ledger.close();
  });

  it('agrees with the disk after a writer is killed (SIGKILL) in the middle of writes, again and again', async () => {
    const dir = await tempDir();
    const fixture = path.join(import.meta.dirname, 'fixtures', 'store-writer.ts');
    let interrupted = 0;
    for (let round = 0; round < 5; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', fixture, dir, String(round + 1)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise<NodeJS.Signals | null>((resolve) =>
        child.on('exit', (_code, signal) => resolve(signal)),
      );
      // Killed as soon as it reports a number of puts that differs per round: always mid-stream.
      const target = `put ${50 + round * 25}`;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the writer never printed "${target}"`)), 30_000);
        child.stdout.on('data', (chunk: Buffer) => {
          if (!chunk.toString().split('\n').includes(target)) return;
          clearTimeout(timer);
          child.kill('SIGKILL');
          resolve();
        });
      });
      expect(await exited).toBe('SIGKILL');

      const ledger = await LmdbLedger.open({ path: path.join(dir, LEDGER_DIR) });
      interrupted += ledger.pendingIds().length;
      await ledger.close();

      const store = await openFsBlockStore({ dir, quota: 400 * 1024 });
      const listed: BlockId[] = [];
      for await (const id of store.ids()) listed.push(id);
      const disk = await filesOnDisk(dir);
      // No block the ledger lists is missing, no block on disk is unknown, and the totals add up.
      expect(new Set(listed)).toEqual(new Set(disk.keys()));
      for (const id of listed) expect(store.blockSize(id)).toBe(disk.get(id));
      const usage = await store.usage();
      expect(usage.blocks).toBe(disk.size);
      expect(usage.bytes).toBe([...disk.values()].reduce((a, b) => a + b, 0));
      expect(await fs.readdir(fsStoreLayout(dir).tmp)).toEqual([]);
      await store.close();
    }
    // The kills really landed between a ledger change and its file (else this proved nothing).
    expect(interrupted).toBeGreaterThan(0);
  });
});

/**
 * Runs `fn` with lmdb's own rejected promise of a failed commit (one no caller holds: see
 * isLedgerCommitFailure) handled as the seed's process handles it; any other unhandled rejection
 * still reaches the test runner.
 */
async function withLedgerFailuresHandled<T>(fn: () => Promise<T>): Promise<T> {
  const others = process.listeners('unhandledRejection');
  process.removeAllListeners('unhandledRejection');
  const handler = (reason: unknown, promise: Promise<unknown>) => {
    if (!isLedgerCommitFailure(reason)) for (const listener of others) listener(reason, promise);
  };
  process.on('unhandledRejection', handler);
  try {
    return await fn();
  } finally {
    process.off('unhandledRejection', handler);
    for (const listener of others) process.on('unhandledRejection', listener);
  }
}

/** A store on a fresh 16 MiB tmpfs, with one block in it, and a file taking every free byte left. */
async function fullStore(): Promise<{
  dir: string;
  store: FsBlockStore;
  a: { id: BlockId; bytes: Uint8Array };
  free: () => Promise<void>;
}> {
  const dir = await tempDir();
  mountTmpfs(dir, 16);
  mounts.push(dir);
  const store = await openFsBlockStore({ dir });
  const a = block(64 * 1024, 1);
  await store.put(a.id, a.bytes);
  const filler = path.join(dir, 'filler');
  // Every last byte: the ledger's commits (its database grows page by page) fail too.
  await fs.writeFile(filler, new Uint8Array(await freeBytes(dir))).catch(() => undefined);
  return { dir, store, a, free: () => fs.rm(filler) };
}

const mounts: string[] = [];
afterEach(() => {
  for (const dir of mounts.splice(0)) unmount(dir);
});

const noTmpfs = tmpfsUnavailable();
if (noTmpfs) console.warn(`file-system store tests on a full tmpfs skipped: ${noTmpfs}`);

// Skipped only where a small tmpfs cannot be mounted (not root): a real full disk needs one.
describe.skipIf(noTmpfs)('a file-system store whose ledger cannot commit (a full tmpfs)', () => {
  it('finishes a delete that failed once a commit succeeds: the file goes, and a reopen does not bring the block back', async () => {
    await withLedgerFailuresHandled(async () => {
      const { dir, store, a, free } = await fullStore();
      await expect(store.delete(a.id)).rejects.toBeInstanceOf(LocalStorageError);
      // No longer counted; its file stays until the record saying so is on disk (crash protocol).
      expect(await store.has(a.id)).toBe(false);
      expect(existsSync(blockPath(dir, a.id))).toBe(true);
      expect(await store.delete(a.id)).toBe(false);

      await free();
      const c = block(64 * 1024, 3);
      await store.put(c.id, c.bytes);
      expect(existsSync(blockPath(dir, a.id))).toBe(false);
      expect(store.ledger.pendingIds()).toEqual([]);

      await store.close();
      const reopened = await openFsBlockStore({ dir });
      expect(await reopened.has(a.id)).toBe(false);
      expect(await reopened.get(c.id)).toEqual(c.bytes);
      await reopened.close();
    });
  });

  it('keeps a block put again after its delete failed: the delete left behind does not take its new file', async () => {
    await withLedgerFailuresHandled(async () => {
      const { dir, store, a, free } = await fullStore();
      await expect(store.delete(a.id)).rejects.toBeInstanceOf(LocalStorageError);
      await free();
      await store.put(a.id, a.bytes);
      const c = block(64 * 1024, 3);
      await store.put(c.id, c.bytes);
      expect(existsSync(blockPath(dir, a.id))).toBe(true);
      expect(await store.get(a.id)).toEqual(a.bytes);

      await store.close();
      const reopened = await openFsBlockStore({ dir });
      expect(await reopened.get(a.id)).toEqual(a.bytes);
      await reopened.close();
    });
  });
});
