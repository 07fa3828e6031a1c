// Downloads as a person follows them: a page left waiting for a link nobody held starts the download
// by itself when a seed holding it comes online; a download shows its percentage, bytes and sources
// and says when it is saved; Cancel stops it (the browser keeps no file) and the page stops asking
// peers for its blocks. Against real `mycel` processes and Chromium.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeGeneratedFile } from '../helpers/files.js';
import { freePort, logged, runMycel, seedIdOf, startMycel, tempDir, type MycelProcess } from '../helpers/processes.js';
import { blocksHeld, bytesOf, expect, newContext, openApp, putOnSeed, test } from './fixtures.js';

const MiB = 1024 * 1024;

test('a page waiting for a file nobody held downloads it by itself once a seed holding it is online', async ({
  browser,
}) => {
  const dir = await tempDir('e2e-auto-download');
  const running: MycelProcess[] = [];
  try {
    const seedData = path.join(dir, 'seed');
    const port = await freePort();
    const signal = startMycel([
      'signal',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--seed',
      await seedIdOf(seedData),
    ]);
    running.push(signal);
    await signal.waitForLine(logged('listening'));
    // localhost (not 127.0.0.1) is a secure context: service workers and WebCrypto are available.
    const url = `http://localhost:${port}`;
    const startSeed = async () => {
      const seed = startMycel(['seed', '--signal', `ws://127.0.0.1:${port}/signal`, '--data', seedData]);
      running.push(seed);
      await seed.waitForLine(logged('seed ready'));
      return seed;
    };
    const seed = await startSeed();
    const bytes = bytesOf(700_000, 61);
    const file = path.join(dir, 'waited for.bin');
    await fs.writeFile(file, bytes);
    const put = await runMycel(['put', file, '--server', url]);
    expect(put.code, put.stderr).toBe(0);
    const link = put.stdout.trim();
    // The seed goes away: nobody holding the file is online.
    await seed.kill();

    const context = await newContext(browser, url);
    const page = await context.newPage();
    await openApp(page);
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    await page.goto(link);
    await expect(page.getByTestId('link-problem')).toHaveText(/Nobody holding this file is online now/);

    // The seed comes back with the file; nobody presses Download.
    const saved = page.waitForEvent('download', { timeout: 90_000 });
    await startSeed();
    const got = await saved;
    expect((await fs.readFile(await got.path())).equals(bytes)).toBe(true);
    await expect(page.getByTestId('download-done')).toHaveText('Saved waited for.bin');
    await context.close();
  } finally {
    await Promise.all(running.map((p) => p.kill('SIGKILL')));
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test.describe('from a slow seed', () => {
  test.use({ serveDelayMs: 150 });

  test('a download shows its percentage, bytes and sources, then says it is saved', async ({ page, server }) => {
    const bytes = bytesOf(3 * MiB, 62);
    const link = await putOnSeed(server, 'progress.bin', bytes);
    await openApp(page, link);
    await expect(page.getByRole('heading', { level: 2, name: 'progress.bin' })).toBeVisible({ timeout: 60_000 });
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);

    const saved = page.waitForEvent('download', { timeout: 90_000 });
    await page.getByRole('button', { name: 'Download', exact: true }).click();
    await expect(page.getByTestId('download-progress')).toHaveText(/^\d+% · .+ of 3\.00 MiB/);
    await expect(page.getByTestId('download-sources')).toHaveText('from 1 source');
    await expect(page.getByRole('progressbar', { name: 'Downloading progress.bin' })).toBeVisible();
    const got = await saved;
    expect((await fs.readFile(await got.path())).equals(bytes)).toBe(true);
    await expect(page.getByTestId('download-done')).toHaveText('Saved progress.bin');
    await expect(page.getByTestId('download-progress')).toHaveCount(0);
  });

  test('Cancel stops a download: the browser keeps no file and the page stops fetching its blocks', async ({
    page,
    server,
  }) => {
    test.setTimeout(240_000);
    const size = 16 * MiB;
    const bytes = bytesOf(size, 63);
    const link = await putOnSeed(server, 'too long.bin', bytes);
    await openApp(page, link);
    await expect(page.getByRole('heading', { level: 2, name: 'too long.bin' })).toBeVisible({ timeout: 60_000 });
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    const before = await blocksHeld(page);

    const started = page.waitForEvent('download', { timeout: 90_000 });
    await page.getByRole('button', { name: 'Download', exact: true }).click();
    await expect(page.getByTestId('download-progress')).not.toHaveText(/^0%/);
    await page.getByRole('button', { name: 'Cancel downloading too long.bin' }).click();
    await expect(page.getByTestId('download-cancelled')).toBeVisible();
    // The browser's download fails rather than completing with part of the file.
    expect(await (await started).failure()).not.toBeNull();

    // Blocks asked for before Cancel may still land; then the count settles.
    let settled = -1;
    await expect
      .poll(
        async () => {
          const now = await blocksHeld(page);
          const same = now === settled;
          settled = now;
          return same;
        },
        { intervals: [1_000], timeout: 30_000 },
      )
      .toBe(true);
    // A window in which the seed (one block per 150 ms) would have sent about 20 more blocks, had
    // the page kept asking: waiting to see that nothing happens cannot wait for an event.
    await page.waitForTimeout(3_000);
    const after = await blocksHeld(page);
    expect(after).toBe(settled);
    const fileBlocks = size / (256 * 1024);
    expect(after - before).toBeLessThan(fileBlocks);

    // What was fetched stays as cache, and nothing corrupt: downloading again gives the exact bytes.
    const again = page.waitForEvent('download', { timeout: 120_000 });
    await page.getByRole('button', { name: 'Download', exact: true }).click();
    expect((await fs.readFile(await (await again).path())).equals(bytes)).toBe(true);
  });

  test('Download all of a collection shows its fetch, then its zip, says it is saved; Cancel stops a fetch', async ({
    page,
    server,
  }) => {
    test.setTimeout(180_000);
    const dir = await tempDir('e2e-download-all');
    await fs.mkdir(path.join(dir, 'trip'));
    await fs.writeFile(path.join(dir, 'trip', 'a.bin'), bytesOf(2 * MiB, 64));
    await fs.writeFile(path.join(dir, 'trip', 'b.bin'), bytesOf(MiB, 65));
    const put = await runMycel(['put', path.join(dir, 'trip'), '--server', server.url]);
    expect(put.code, put.stderr).toBe(0);
    await openApp(page, put.stdout.trim());
    await expect(page.getByTestId('collection-count')).toHaveText('2 files', { timeout: 60_000 });
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);

    // One entry: its fetch is cancelled part way; nothing is saved.
    await page.getByRole('button', { name: 'Download a.bin' }).click();
    await expect(page.getByRole('progressbar', { name: 'Fetching a.bin' })).toBeVisible();
    await page.getByRole('button', { name: 'Cancel downloading a.bin' }).click();
    await expect(page.getByTestId('download-cancelled')).toContainText('Download of a.bin cancelled');

    // All of it: the fetch shows, then the zip, and the page says it is saved.
    const saved = page.waitForEvent('download', { timeout: 120_000 });
    await page.getByRole('button', { name: 'Download all' }).click();
    await expect(page.getByTestId('download-progress')).toHaveText(/^\d+% · .+ of 3\.00 MiB/);
    const zip = await saved;
    expect(zip.suggestedFilename()).toBe('2 files.zip');
    await expect(page.getByTestId('download-done')).toHaveText('Saved 2 files.zip', { timeout: 60_000 });
    await fs.rm(dir, { recursive: true, force: true });
  });
});

test('an add shows its speed and time left', async ({ page }) => {
  const dir = await tempDir('e2e-add-speed');
  const big = path.join(dir, 'big add.bin');
  await writeGeneratedFile(big, 300 * MiB, 66);
  await openApp(page);
  await page.getByLabel('Add files').setInputFiles(big);
  await expect(page.getByTestId('add-speed')).toHaveText(/^[\d.]+ (B|KiB|MiB|GiB)\/s$/, { timeout: 60_000 });
  await expect(page.getByTestId('add-time-left')).toHaveText(/^\d+ (s|min)|^\d+ h/);
  await page.getByRole('button', { name: 'Cancel adding big add.bin' }).click();
  await expect(page.getByText('Cancelled: nothing of big add.bin was kept.')).toBeVisible({ timeout: 30_000 });
  await fs.rm(dir, { recursive: true, force: true });
});
