// Every tab works: one tab runs the peer over the shared IndexedDB, every other tab uses it through
// that tab (list, add, open, view, download), and takes over when it closes, without a reload.
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { formatLink } from '../../src/content/share-link.js';
import { runMycel, tempDir } from '../helpers/processes.js';
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

test('a second tab opens a collection link through the first: it lists its entries and downloads one exactly', async ({
  context,
  server,
}) => {
  const dir = await tempDir('e2e-tabs-collection');
  const tree: Record<string, Buffer> = {
    'trip/photos/beach.jpg': bytesOf(600_000, 41),
    'trip/notes.txt': Buffer.from('notes\n'),
  };
  for (const [name, bytes] of Object.entries(tree)) {
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), bytes);
  }
  const put = await runMycel(['put', path.join(dir, 'trip'), '--server', server.url]);
  expect(put.code, put.stderr).toBe(0);
  const link = put.stdout.trim();

  const first = await context.newPage();
  await openApp(first);
  const second = await context.newPage();
  await openApp(second, link);
  const list = second.getByRole('list', { name: 'Files in' });
  await expect(list.getByRole('listitem')).toHaveCount(2, { timeout: 60_000 });
  await expect(second.getByTestId('collection-count')).toHaveText('2 files');
  await expect(list.getByRole('listitem', { name: 'notes.txt' })).toContainText('6 B');
  await second.waitForFunction(() => navigator.serviceWorker.controller !== null);

  const saved = second.waitForEvent('download', { timeout: 60_000 });
  await second.getByRole('button', { name: 'Download photos/beach.jpg' }).click();
  const file = await fs.readFile(await (await saved).path());
  expect(sha256(file)).toBe(sha256(tree['trip/photos/beach.jpg']!));
  // The first tab ran the peer all along: it remembered the collection opened in the second.
  await expect(first.getByRole('listitem', { name: '2 files' })).toBeVisible();
  await fs.rm(dir, { recursive: true, force: true });
});

test('a second tab says at once that nobody holding a link is online', async ({ context, server }) => {
  const first = await context.newPage();
  await openApp(first);
  const second = await context.newPage();
  await openApp(second, formatLink(server.url, randomBytes(32).toString('hex'), randomBytes(32)));
  await expect(second.getByTestId('link-problem')).toHaveText(/Nobody holding this file is online now/);
  await expect(second.getByRole('button', { name: 'Retry' })).toBeVisible();
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
    await expect(second.getByTestId('signaling-status')).toHaveText('Online');
    const file = await fs.readFile(await started.path());
    expect(file.length).toBe(size);
    expect(sha256(file)).toBe(sha256(bytes));
  });
});

test('a tab loaded past the service worker (a hard reload) is taken under the worker’s control without another reload (downloads and views need it)', async ({
  context,
}) => {
  const page = await context.newPage();
  await openApp(page);
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
  // A hard reload bypasses the worker: the page loads uncontrolled, as one still loading when the
  // worker activated does (clients.claim() skips it). The page must ask to be claimed.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Page.reload', { ignoreCache: true });
  await expect(page.getByTestId('signaling-status')).toHaveText('Online');
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: 15_000 });
});
