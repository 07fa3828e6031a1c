// Every tab works: one tab runs the peer over the shared IndexedDB, every other tab uses it through
// that tab (list, add, open, view, download), and takes over when it closes, without a reload.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { addFile, blocksHeld, bytesOf, download, expect, openApp, putOnSeed, test } from './fixtures.js';

const MiB = 1024 * 1024;
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

test('a second tab is a full client: it lists, adds, and opens and downloads a link', async ({ context }) => {
  const first = await context.newPage();
  await openApp(first);
  const kept = await addFile(first, 'kept.txt', Buffer.from('kept in the first tab\n'), 'text/plain');

  const second = await context.newPage();
  await openApp(second);
  await expect(second.getByRole('listitem', { name: 'kept.txt' })).toBeVisible();
  await expect(second.getByLabel('Add files')).toBeEnabled();
  const bytes = bytesOf(3 * MiB + 7, 31);
  await addFile(second, 'from-second.bin', bytes);
  await expect(first.getByRole('listitem', { name: 'from-second.bin' })).toBeVisible();

  const third = await context.newPage();
  const saved = await download(third, kept);
  expect(saved.toString()).toBe('kept in the first tab\n');
});

test.describe('from a slow seed', () => {
  test.use({ serveDelayMs: 100 });

  test('closing the tab that runs Mycel mid-download, the other tab takes over and finishes it', async ({
    context,
    server,
  }) => {
    const size = 12 * MiB + 99;
    const bytes = bytesOf(size, 32);
    const link = await putOnSeed(server, 'handover.bin', bytes);
    const first = await context.newPage();
    await openApp(first);
    const second = await context.newPage();
    await openApp(second, link);
    await expect(second.getByRole('heading', { level: 2, name: 'handover.bin' })).toBeVisible({ timeout: 60_000 });
    await second.waitForFunction(() => navigator.serviceWorker.controller !== null);

    const saved = second.waitForEvent('download', { timeout: 90_000 });
    await second.getByRole('button', { name: 'Download', exact: true }).click();
    const started = await saved;
    // The first tab goes away while the file is still arriving through it.
    expect(await blocksHeld(second)).toBeLessThan(size / (256 * 1024));
    await first.close();
    await expect(second.getByTestId('signaling-status')).toHaveText('Connected');
    const file = await fs.readFile(await started.path());
    expect(file.length).toBe(size);
    expect(sha256(file)).toBe(sha256(bytes));
  });
});
