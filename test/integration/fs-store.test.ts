import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { blockStoreContract, block } from '../contracts/block-store.js';
import { blockPath, fsStoreLayout, openFsBlockStore } from '../../src/store/fs.node.js';

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

  it('ignores stray files and half-written pin lines at open', async () => {
    const dir = await tempDir();
    const store = await openFsBlockStore({ dir });
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
