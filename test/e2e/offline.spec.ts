// A pinned file opens offline from the installed app: the app shell comes from the service
// worker's precache, the file from the block store's OPFS segments (read by the service worker
// beside the page's block log), decrypted on the fly, with Range support.
import { addFile, blockPlaces, bytesOf, expect, openApp, test } from './fixtures.js';

test('a pinned file opens and downloads offline, and serves byte ranges', async ({ page, context }) => {
  const original = bytesOf(1024 * 1024 + 99_999, 23);
  await openApp(page);
  const link = await addFile(page, 'field recording.bin', original);
  await page.getByRole('button', { name: 'Pin field recording.bin' }).click();
  await expect(page.getByRole('listitem', { name: 'field recording.bin' })).toContainText('Pinned');
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
  // Its blocks are in OPFS segment files, not in IndexedDB's `blocks` table.
  const placed = await blockPlaces(page);
  expect(placed.total).toBeGreaterThan(0);
  expect(placed).toMatchObject({ inSegments: placed.total, inTable: 0 });

  await context.setOffline(true);
  await page.reload();
  await expect(page.getByRole('heading', { name: 'Share files' })).toBeVisible();
  await expect(page.getByTestId('signaling-status')).toHaveText('Offline');

  await page.goto(link);
  await expect(page.getByRole('heading', { name: 'field recording.bin' })).toBeVisible();
  await expect(page.getByText('Pinned: kept on this device, opens offline.')).toBeVisible();
  const saved = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download', exact: true }).click();
  const file = await saved;
  const { readFile } = await import('node:fs/promises');
  expect((await readFile(await file.path())).equals(original)).toBe(true);

  const root = Buffer.from(link.split('#')[1]!.split('.')[0]!, 'base64url').toString('hex');
  const ranged = await page.evaluate(async (url) => {
    const response = await fetch(url, { headers: { Range: 'bytes=500000-699999' } });
    return {
      status: response.status,
      range: response.headers.get('content-range'),
      length: response.headers.get('content-length'),
      bytes: Array.from(new Uint8Array(await response.arrayBuffer())),
    };
  }, `/mycel/file/${root}/field%20recording.bin`);
  expect(ranged.status).toBe(206);
  expect(ranged.range).toBe(`bytes 500000-699999/${original.length}`);
  expect(ranged.length).toBe('200000');
  expect(Buffer.from(ranged.bytes).equals(original.subarray(500000, 700000))).toBe(true);

  const tail = await page.evaluate(async (url) => {
    const response = await fetch(url, { headers: { Range: 'bytes=-10' } });
    return { status: response.status, bytes: Array.from(new Uint8Array(await response.arrayBuffer())) };
  }, `/mycel/file/${root}/x`);
  expect(tail.status).toBe(206);
  expect(Buffer.from(tail.bytes).equals(original.subarray(original.length - 10))).toBe(true);

  const beyond = await page.evaluate(
    async (url) => (await fetch(url, { headers: { Range: 'bytes=99999999-' } })).status,
    `/mycel/file/${root}/x`,
  );
  expect(beyond).toBe(416);
});
