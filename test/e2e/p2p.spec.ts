// No seed at all (only the signaling server runs): the second browser gets the file from the first,
// browser to browser over WebRTC.
import { addFile, blockPlaces, bytesOf, download, expect, newContext, openApp, test } from './fixtures.js';

test.use({ serverKind: 'signal' });

test('with no seed, a browser gets the file from the browser that added it', async ({ browser, server }) => {
  const original = bytesOf(2 * 1024 * 1024 + 321, 11);
  const alice = await newContext(browser, server.url);
  const alicePage = await alice.newPage();
  await openApp(alicePage);
  const link = await addFile(alicePage, 'notes.txt', original, 'text/plain');
  await expect(alicePage.getByText(/No seed reached: only this device holds it/)).toBeVisible();

  const bob = await newContext(browser, server.url);
  const bobPage = await bob.newPage();
  await openApp(bobPage);
  const received = await download(bobPage, link);
  expect(received.equals(original)).toBe(true);
  // The blocks Bob received are in OPFS segment files, none in IndexedDB's `blocks` table.
  const placed = await blockPlaces(bobPage);
  expect(placed.total).toBeGreaterThan(0);
  expect(placed).toMatchObject({ inSegments: placed.total, inTable: 0 });
  expect(placed.segmentFiles).toBeGreaterThan(0);
  await expect(bobPage.getByTestId('copies')).toHaveText(/\(1 peer \+ this device\)/);
  await expect(alicePage.getByTestId('peer-count')).toHaveText('1 peer connected');

  // Bob now holds it whole and serves it too: a third browser finds two copies.
  const carol = await newContext(browser, server.url);
  const carolPage = await carol.newPage();
  await openApp(carolPage);
  await carolPage.goto(link);
  await expect(carolPage.getByTestId('copies')).toHaveText(/2 live copies \(2 peers\)/);
  await Promise.all([alice.close(), bob.close(), carol.close()]);
});
