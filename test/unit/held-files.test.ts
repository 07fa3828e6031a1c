// The seed's durable list of held files, on a real disk: written atomically, read back with checks.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HELD_FILES_NAME, openHeldFileRecords, type HeldFile } from '../../src/node/held-files.js';
import { ephemeralIdentity } from '../../src/net/identity.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mycel-held-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
});

const peer = ephemeralIdentity().id;
const file = (n: number, extra: Partial<HeldFile> = {}): HeldFile => ({
  root: n.toString(16).padStart(64, '0'),
  bytes: 1000 * n,
  kept: false,
  owners: [{ peer, renewedAt: 1_700_000_000_000 + n, expires: true }],
  ...extra,
});

describe('held-file records on disk', () => {
  it('start out empty, and say there was no list before', async () => {
    const dir = await tempDir();
    const loaded = await openHeldFileRecords(dir).load();
    expect(loaded).toEqual({ files: [], existed: false, skipped: 0 });
    // Written at once, so the next start knows a list exists.
    expect((await openHeldFileRecords(dir).load()).existed).toBe(true);
  });

  it('keep owners, renewal times and sizes across a reopen', async () => {
    const dir = await tempDir();
    const records = openHeldFileRecords(dir);
    await records.load();
    await Promise.all([
      records.put(file(1)),
      records.put(file(2)),
      records.put(file(3, { kept: true, owners: [] })),
      records.put(file(4, { copies: 5, expiresAt: 1_900_000_000_000 })),
    ]);
    await records.delete(file(2).root);
    await records.close();
    const again = await openHeldFileRecords(dir).load();
    expect(again.existed).toBe(true);
    // The owner's terms survive a restart: the file's replication target and its expiry.
    expect(again.files.sort((a, b) => a.bytes - b.bytes)).toEqual([
      file(1),
      file(3, { kept: true, owners: [] }),
      file(4, { copies: 5, expiresAt: 1_900_000_000_000 }),
    ]);
  });

  it('never leave a half-written list: the old one stands until the new one is whole', async () => {
    const dir = await tempDir();
    const records = openHeldFileRecords(dir);
    await records.load();
    await records.put(file(1));
    // A crash mid-write leaves a temporary file beside the list: ignored and removed at the next load.
    await fs.writeFile(path.join(dir, `${HELD_FILES_NAME}.abc123.tmp`), '{"format":"mycel-held-files","ver');
    const again = await openHeldFileRecords(dir).load();
    expect(again.files).toEqual([file(1)]);
    expect((await fs.readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('leave out entries that fail their checks, and refuse a damaged list with a clear line', async () => {
    const dir = await tempDir();
    const target = path.join(dir, HELD_FILES_NAME);
    const good = { root: file(1).root, bytes: 1000, kept: false, owners: [{ peer, renewed: 5, expires: true }] };
    const bad = [
      { ...good, root: 'not-a-root' },
      { ...good, bytes: -1 },
      { ...good, owners: [{ peer: 'someone', renewed: 5, expires: true }] },
      { ...good, owners: [] }, // nobody's and not kept: nothing to keep it for
      { ...good, copies: 17 }, // more copies than anyone may ask for
    ];
    await fs.writeFile(target, JSON.stringify({ format: 'mycel-held-files', version: 1, files: [good, ...bad] }));
    const loaded = await openHeldFileRecords(dir).load();
    expect(loaded.files.map((f) => f.root)).toEqual([good.root]);
    expect(loaded.skipped).toBe(5);

    await fs.writeFile(target, '{"format":"mycel-held-files","version":1,"files":[');
    await expect(openHeldFileRecords(dir).load()).rejects.toThrow(
      /held-files.json is damaged \(not JSON\)\. Move it aside/,
    );
  });
});
