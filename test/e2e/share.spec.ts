// Two people: one adds a file and sends the link, the other downloads it; after the first leaves,
// a third still gets it from the seed.
import { addFile, bytesOf, download, expect, newContext, openApp, test } from './fixtures.js';

test('a file added in one browser downloads in another, and from the seed after the first leaves', async ({
  browser,
  server,
}) => {
  const original = bytesOf(3 * 1024 * 1024 + 5, 7);

  const alice = await newContext(browser, server.url);
  const alicePage = await alice.newPage();
  await openApp(alicePage);
  const link = await addFile(alicePage, 'holiday photos.zip', original, 'application/zip');
  expect(link.startsWith(server.url)).toBe(true);
  await expect(alicePage.getByText('Stored on 1 seed and this device.')).toBeVisible();

  const bob = await newContext(browser, server.url);
  const bobPage = await bob.newPage();
  await openApp(bobPage);
  const received = await download(bobPage, link);
  expect(received.equals(original)).toBe(true);
  await expect(bobPage.getByRole('heading', { name: 'holiday photos.zip' })).toBeVisible();
  await expect(bobPage.getByTestId('file-size')).toHaveText('3.00 MiB');

  await alice.close();
  await bob.close();

  const carol = await newContext(browser, server.url);
  const carolPage = await carol.newPage();
  await openApp(carolPage);
  const again = await download(carolPage, link);
  expect(again.equals(original)).toBe(true);
  await expect(carolPage.getByTestId('copies')).toHaveText(/live cop/);
  await carol.close();
});
