// An open seed keeps a stranger's file only while it is renewed: the page renews the files it
// added each time it connects to a seed. A real `mycel serve` and Chromium; the renewal is read
// from the seed's log and from its list of held files on disk.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseLink } from '../../src/content/share-link.js';
import { addFile, bytesOf, expect, openApp, test } from './fixtures.js';

interface HeldFiles {
  files: { root: string; owners: { peer: string; renewed: number }[] }[];
}

test('the page renews the files it added when it connects to the seed again', async ({ page, server }) => {
  await openApp(page);
  const link = await addFile(page, 'kept.bin', bytesOf(300_000, 31));
  const { root } = parseLink(link);
  const logLines = () =>
    server.proc.stderr.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const stored = logLines().find((r) => r.msg === 'file stored' && r.root === root);
  expect(stored).toBeDefined();
  const heldFiles = async () =>
    JSON.parse(await fs.readFile(path.join(server.dataDir, 'seed', 'held-files.json'), 'utf8')) as HeldFiles;
  const ownerAt = async () =>
    (await heldFiles()).files.find((f) => f.root === root)!.owners.find((o) => o.peer === stored!.peer)!;
  const before = await ownerAt();

  await page.reload();
  await expect(page.getByTestId('signaling-status')).toHaveText('Online');
  await expect
    .poll(() => logLines().some((r) => r.msg === 'file renewed' && r.root === root && r.peer === stored!.peer))
    .toBe(true);
  // A renewal so soon after the commit is written with the next batch (within seconds), not at once.
  await expect.poll(async () => (await ownerAt()).renewed).toBeGreaterThan(before.renewed);
});
