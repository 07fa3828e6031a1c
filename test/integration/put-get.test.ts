// Real processes on loopback: `mycel serve` in one, `mycel put` in another, `mycel get` in a third,
// real WebRTC data channels between them, the seed's blocks on a real disk.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMycel, startServe, tempDir, type MycelProcess } from '../helpers/processes.js';
import { sameFiles, writeGeneratedFile } from '../helpers/files.js';

const MiB = 1024 * 1024;

describe('mycel serve, put and get', () => {
  let dir: string;
  let serve: { proc: MycelProcess; url: string };

  beforeAll(async () => {
    dir = await tempDir('put-get');
    serve = await startServe(path.join(dir, 'seed-data'));
  });
  afterAll(async () => {
    await serve?.proc.kill();
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function putAndGet(name: string, size: number) {
    const file = path.join(dir, name);
    await writeGeneratedFile(file, size, size + 3);
    const put = await runMycel(['put', file, '--server', serve.url]);
    expect(put.code, put.stderr).toBe(0);
    const link = put.stdout.trim();
    expect(link).toMatch(new RegExp(`^${serve.url}/#[A-Za-z0-9_-]{43}\\.[A-Za-z0-9_-]{43}$`));
    const out = path.join(dir, `${name}.out`);
    const get = await runMycel(['get', link, '-o', out, '--cache', path.join(dir, `cache-${name}`), '--json']);
    expect(get.code, get.stderr).toBe(0);
    expect(await sameFiles(file, out)).toBe(true);
    return { link, summary: JSON.parse(get.stdout.trim().split('\n').pop()!) };
  }

  it('moves an empty file', async () => {
    const { summary } = await putAndGet('empty.bin', 0);
    expect(summary.bytes).toBe(0);
  });

  it('moves a one-byte file', async () => {
    await putAndGet('one.bin', 1);
  });

  it('moves a 100 MiB file from the seed alone', async () => {
    const { summary } = await putAndGet('big.bin', 100 * MiB);
    expect(Object.keys(summary.sources)).toHaveLength(1);
    // On loopback the connection is direct: local addresses (host, or prflx when a check found one first).
    expect(['host', 'prflx']).toContain((Object.values(summary.sources)[0] as { candidate: string }).candidate);
  }, 180_000);

  it('saves under the name in the manifest by default and will not overwrite without --force', async () => {
    const file = path.join(dir, 'named report.txt');
    await fs.writeFile(file, 'hello peers\n');
    const put = await runMycel(['put', file, '--server', serve.url]);
    const link = put.stdout.trim();
    const cwd = await tempDir('get-cwd');
    const first = await runMycel(['get', link, '--cache', path.join(cwd, '.cache')], { cwd });
    expect(first.code, first.stderr).toBe(0);
    expect(await fs.readFile(path.join(cwd, 'named report.txt'), 'utf8')).toBe('hello peers\n');
    const second = await runMycel(['get', link, '--cache', path.join(cwd, '.cache')], { cwd });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/exists: not overwriting it \(use --force\)/);
    const forced = await runMycel(['get', link, '--force', '--cache', path.join(cwd, '.cache')], { cwd });
    expect(forced.code, forced.stderr).toBe(0);
    expect((await fs.readdir(cwd)).filter((f) => f.includes('mycel-partial'))).toEqual([]);
    await fs.rm(cwd, { recursive: true, force: true });
  });

  it('fails with one clear line for a bad link, a wrong key, and no holder', async () => {
    const file = path.join(dir, 'k.bin');
    await fs.writeFile(file, 'secret');
    const link = (await runMycel(['put', file, '--server', serve.url])).stdout.trim();
    const cache = path.join(dir, 'cache-errors');

    const bad = await runMycel(['get', `${serve.url}/#not-a-link`, '--cache', cache]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^mycel: the file id is \d+ bytes, it must be 32/);

    const dot = link.lastIndexOf('.');
    const [prefix, key] = [link.slice(0, dot), link.slice(dot + 1)];
    const wrongKey = `${prefix}.${key.startsWith('A') ? 'B' : 'A'}${key.slice(1)}`;
    const wrong = await runMycel(['get', wrongKey, '--cache', cache, '-o', path.join(dir, 'wrong.out')]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/key does not open manifest/);
    await expect(fs.stat(path.join(dir, 'wrong.out'))).rejects.toThrow();
    expect((await fs.readdir(dir)).filter((f) => f.includes('mycel-partial'))).toEqual([]);

    const nobody = `${serve.url}/#${'A'.repeat(43)}.${key}`;
    const missing = await runMycel(['get', nobody, '--cache', cache, '--timeout', '2']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no peer holding .* was found within 2 s/);
  });

  it('says clearly when there is no server to reach', async () => {
    const file = path.join(dir, 'x.bin');
    await fs.writeFile(file, 'x');
    const result = await runMycel(['put', file, '--server', 'http://127.0.0.1:9', '--timeout', '2']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe('mycel: could not reach the Mycel server at http://127.0.0.1:9');
  });
});
