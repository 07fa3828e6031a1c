// Node only (real disk). Reading a folder someone shares (src/node/folder-walk.ts): files and empty
// folders become collection paths, names cleaned the way the path rules say; links and special
// files are skipped and reported, never followed; names that would collide on macOS or Windows
// are refused before anything is sealed.
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PathError } from '../../src/errors.js';
import { walkFolder } from '../../src/node/folder-walk.js';

let scratch: string;
let shared: string;
beforeEach(async () => {
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'mycel-folder-walk-'));
  shared = path.join(scratch, 'shared');
  await fs.mkdir(shared);
});
afterEach(async () => {
  await fs.rm(scratch, { recursive: true, force: true });
});

async function put(relative: string, content = 'x') {
  const at = path.join(shared, relative);
  await fs.mkdir(path.dirname(at), { recursive: true });
  await fs.writeFile(at, content);
}

describe('walking a shared folder', () => {
  it('lists files and empty folders in name order, hidden ones included, with their sizes', async () => {
    await put('b/two.txt', 'two');
    await put('a.txt', '');
    await put('.hidden', 'h');
    await put('b/été/三.txt', 'three');
    await fs.mkdir(path.join(shared, 'c/empty'), { recursive: true });
    const { items, skipped } = await walkFolder(shared);
    expect(items.map((i) => [i.kind, i.path, i.size])).toEqual([
      ['file', '.hidden', 1],
      ['file', 'a.txt', 0],
      ['file', 'b/two.txt', 3],
      ['file', 'b/été/三.txt', 5],
      ['folder', 'c/empty', 0],
    ]);
    expect(items[3]!.absolute).toBe(path.join(shared, 'b', 'été', '三.txt'));
    expect(skipped).toEqual([]);
  });

  it('cleans names the way the path rules say (forbidden characters, device names, trailing dots)', async () => {
    await put('notes/a?b:c.txt');
    await put('con.txt');
    await put('draft.');
    expect((await walkFolder(shared)).items.map((i) => i.path)).toEqual(['_con.txt', 'draft', 'notes/a_b_c.txt']);
  });

  it('skips symbolic links and special files without following them, and says so', async () => {
    const outside = path.join(scratch, 'outside');
    await fs.mkdir(outside);
    await fs.writeFile(path.join(outside, 'secret'), 'do not share');
    await put('kept.txt');
    await fs.symlink(outside, path.join(shared, 'to-outside'));
    await fs.symlink(path.join(outside, 'secret'), path.join(shared, 'secret-link'));
    execFileSync('mkfifo', [path.join(shared, 'pipe')]);
    const { items, skipped } = await walkFolder(shared);
    expect(items.map((i) => i.path)).toEqual(['kept.txt']);
    expect(skipped.map((s) => [path.basename(s.absolute), s.why])).toEqual([
      ['pipe', 'not-a-file'],
      ['secret-link', 'symbolic-link'],
      ['to-outside', 'symbolic-link'],
    ]);
  });

  it('refuses names that would be one file on macOS or Windows, before anything is sealed', async () => {
    await put('Report.pdf');
    await put('report.pdf');
    const error = await walkFolder(shared).catch((e) => e);
    expect(error).toBeInstanceOf(PathError);
    expect(error).toMatchObject({ problem: 'collision' });
  });

  it('refuses names that collide only once cleaned', async () => {
    await put('a?.txt');
    await put('a*.txt');
    await expect(walkFolder(shared)).rejects.toMatchObject({ problem: 'duplicate' });
  });
});
