// The page is the same peer after a reload: the signaling server sees the same proven peer id.
import { expect, openApp, test } from './fixtures.js';
import { logged } from '../helpers/processes.js';

test('the page keeps its peer id across a reload', async ({ page, server }) => {
  const seed = JSON.parse(await server.proc.waitForLine(logged('seed ready'))).peer as string;
  /** Peer ids of pages (not the seed) that the server has welcomed so far. */
  const pagesJoined = () =>
    server.proc.stderr
      .filter(logged('peer joined'))
      .map((line) => JSON.parse(line).peer as string)
      .filter((peer) => peer !== seed);

  await openApp(page);
  await expect.poll(() => pagesJoined().length).toBe(1);
  const [before] = pagesJoined();

  await page.reload();
  await expect(page.getByTestId('signaling-status')).toHaveText('Online');
  await expect.poll(() => pagesJoined().length).toBe(2);
  expect(pagesJoined()).toEqual([before, before]);
});
