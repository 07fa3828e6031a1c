// A Node peer's key on a real disk: `mycel id` makes it once, owner-only, and the same id comes
// back every time; a key file others can read, or one that is damaged, is refused with a clear line.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ephemeralIdentity, isPeerId } from '../../src/net/identity.js';
import { IDENTITY_FILE } from '../../src/node/identity-file.js';
import { logged, runMycel, startMycel, tempDir } from '../helpers/processes.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
});

async function fresh(): Promise<string> {
  const dir = await tempDir('identity');
  dirs.push(dir);
  return path.join(dir, 'data');
}

describe('a Node peer identity', () => {
  it('is made once, readable by its owner only, and the same id every time', async () => {
    const data = await fresh();
    const first = await runMycel(['id', '--data', data]);
    expect(first.code, first.stderr).toBe(0);
    const id = first.stdout.trim();
    expect(isPeerId(id)).toBe(true);
    expect((await fs.stat(path.join(data, IDENTITY_FILE))).mode & 0o777).toBe(0o600);
    expect((await runMycel(['id', '--data', data])).stdout.trim()).toBe(id);
  });

  it('is one key when several processes make it at once', async () => {
    const data = await fresh();
    const runs = await Promise.all(Array.from({ length: 4 }, () => runMycel(['id', '--data', data])));
    const ids = new Set(runs.map((r) => r.stdout.trim()));
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    expect(ids.size).toBe(1);
    expect((await fs.readdir(data)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('is refused when other users can read its key file', async () => {
    const data = await fresh();
    await runMycel(['id', '--data', data]);
    await fs.chmod(path.join(data, IDENTITY_FILE), 0o644);
    const result = await runMycel(['id', '--data', data]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toMatch(/^mycel: .*identity\.key can be read by other users \(mode 644\).*chmod 600/);
  });

  it('is refused when its key file is damaged, and not replaced', async () => {
    const data = await fresh();
    await fs.mkdir(data, { recursive: true });
    await fs.writeFile(path.join(data, IDENTITY_FILE), 'mycel-ed25519-secret-v1 short\n', { mode: 0o600 });
    const result = await runMycel(['id', '--data', data]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/is not a Mycel key file/);
    expect(await fs.readFile(path.join(data, IDENTITY_FILE), 'utf8')).toBe('mycel-ed25519-secret-v1 short\n');
  });

  it('is taken on the command line even when it begins with a dash', async () => {
    let id = ephemeralIdentity().id;
    while (!id.startsWith('-')) id = ephemeralIdentity().id;
    const signal = startMycel([
      'signal',
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--seed',
      id,
      '--seed',
      ephemeralIdentity().id,
    ]);
    try {
      await signal.waitForLine(logged('listening'));
    } finally {
      await signal.kill();
    }
    const bad = await runMycel(['signal', '--port', '0', '--seed', 'not-a-peer-id']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--seed: not a peer id: not-a-peer-id/);
  });
});
