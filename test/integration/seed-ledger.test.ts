// The seed's ledger in its data folder, through the real `mycel` processes: a data folder written
// before the ledger (block tree, pins/ files, no ledger/) is migrated at its first start and still
// serves its files; `mycel repair` makes the ledger agree with blocks deleted by hand.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { toHex } from '../../src/content/bytes.js';
import { LEDGER_DIR, blockPath, fsStoreLayout } from '../../src/store/fs.node.js';
import { LmdbLedger } from '../../src/store/lmdb-ledger.node.js';
import { sameFiles, writeGeneratedFile } from '../helpers/files.js';
import { logged, runMycel, startServe, tempDir, type MycelProcess } from '../helpers/processes.js';

const MiB = 1024 * 1024;
const running: MycelProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.kill('SIGKILL')));
  await Promise.all(dirs.splice(0).map((d) => fs.rm(d, { recursive: true, force: true })));
});

/** Rewrites a stopped seed's folder as the store before the ledger left it: pins/ files, no ledger/. */
async function toFormatBeforeLedger(data: string): Promise<{ blocks: number; pins: number }> {
  const ledger = await LmdbLedger.open({ path: path.join(data, LEDGER_DIR) });
  const names = ledger.pinNames();
  const blocks = ledger.usage().blocks;
  await fs.mkdir(fsStoreLayout(data).pins, { recursive: true });
  for (const name of names) {
    const file = path.join(fsStoreLayout(data).pins, toHex(new TextEncoder().encode(name)));
    await fs.writeFile(file, [...ledger.pinSet(name)!].join('\n') + '\n');
  }
  await ledger.close();
  await fs.rm(path.join(data, LEDGER_DIR), { recursive: true });
  return { blocks, pins: names.length };
}

async function seedReady(proc: MycelProcess): Promise<{ blocks: number; files: number }> {
  return JSON.parse(await proc.waitForLine(logged('seed ready'))) as { blocks: number; files: number };
}

describe("the seed's ledger", () => {
  it('migrates a data folder written before the ledger at its first start, and still serves its file', async () => {
    const dir = await tempDir('seed-ledger');
    dirs.push(dir);
    const data = path.join(dir, 'data');
    const file = path.join(dir, 'kept.bin');
    await writeGeneratedFile(file, 3 * MiB, 71);
    const first = await startServe(data);
    running.push(first.proc);
    const put = await runMycel(['put', file, '--server', first.url]);
    expect(put.code, put.stderr).toBe(0);
    await first.proc.kill('SIGTERM');

    const before = await toFormatBeforeLedger(data);
    expect(before.pins).toBeGreaterThan(0);
    const second = await startServe(data);
    running.push(second.proc);
    const ready = await seedReady(second.proc);
    expect(ready).toMatchObject({ blocks: before.blocks, files: 1 });
    await expect(fs.stat(path.join(data, LEDGER_DIR))).resolves.toBeTruthy();
    const out = path.join(dir, 'kept.out');
    // The restarted server has a new port; the link names the file, the origin only where to ask.
    const link = second.url + put.stdout.trim().slice(first.url.length);
    const get = await runMycel(['get', link, '-o', out]);
    expect(get.code, get.stderr).toBe(0);
    expect(await sameFiles(file, out)).toBe(true);
  }, 120_000);

  it('mycel repair drops the records of block files deleted by hand', async () => {
    const dir = await tempDir('seed-repair');
    dirs.push(dir);
    const data = path.join(dir, 'data');
    const file = path.join(dir, 'some.bin');
    await writeGeneratedFile(file, 1 * MiB, 72);
    const serve = await startServe(data);
    running.push(serve.proc);
    expect((await runMycel(['put', file, '--server', serve.url])).code).toBe(0);
    await serve.proc.kill('SIGTERM');

    const ledger = await LmdbLedger.open({ path: path.join(data, LEDGER_DIR) });
    const ids = [...ledger.ids()].slice(0, 2);
    const held = ledger.usage().blocks;
    await ledger.close();
    for (const id of ids) await fs.unlink(blockPath(data, id));
    const repair = await runMycel(['repair', '--data', data]);
    expect(repair.code, repair.stderr).toBe(0);
    expect(JSON.parse(repair.stdout)).toMatchObject({ dropped: 2, added: 0, blocks: held - 2 });
  }, 60_000);
});
