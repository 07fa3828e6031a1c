// Fast, honest answers for a link that cannot be opened now, against a real signaling server with
// no seed (so only browsers hold files): nobody holding it is said within 5 s; a page that goes
// offline says so; and the waiting page opens the file by itself once its holder comes back.
import { addFile, bytesOf, expect, newContext, openApp, test } from './fixtures.js';

test.use({ serverKind: 'signal' });

/** What the signaling server answers within a few seconds: the page must say it within this. */
const ANSWER_WITHIN_MS = 5_000;

test('a link nobody holds says so within 5 s, says offline when offline, and opens by itself when a holder returns', async ({
  browser,
  server,
}) => {
  const alice = await newContext(browser, server.url);
  const alicePage = await alice.newPage();
  await openApp(alicePage);
  const link = await addFile(alicePage, 'only here.txt', bytesOf(5_000, 8), 'text/plain');
  // Alice's tab goes away: nobody holding the file is online. Her storage stays.
  await alicePage.close();

  const bob = await newContext(browser, server.url);
  const bobPage = await bob.newPage();
  await openApp(bobPage);
  await bobPage.goto(link);
  const problem = bobPage.getByTestId('link-problem');
  await expect(problem).toHaveText(/Nobody holding this file is online now/, { timeout: ANSWER_WITHIN_MS });
  await expect(bobPage.getByRole('button', { name: 'Retry' })).toBeVisible();

  await bob.setOffline(true);
  await bobPage.getByRole('button', { name: 'Retry' }).click();
  await expect(problem).toHaveText(/You are offline/, { timeout: ANSWER_WITHIN_MS });
  await bob.setOffline(false);

  // Alice opens Mycel again: her peer announces the file, and Bob's waiting page opens it.
  const aliceAgain = await alice.newPage();
  await openApp(aliceAgain);
  await expect(bobPage.getByRole('heading', { name: 'only here.txt' })).toBeVisible({ timeout: 60_000 });
  await alice.close();
  await bob.close();
});
