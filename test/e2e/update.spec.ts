// The update prompt: a new service worker waits until the person chooses to reload.
import { test as base, expect } from '@playwright/test';
import { cp, rm, appendFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort, logged, startMycel, tempDir } from '../helpers/processes.js';

const test = base;

test('a new version waits, the app says so, and "Reload to update" switches to it', async ({ page }) => {
  // Our own copy of the built app, so a second version can be made in place.
  const dir = await tempDir('e2e-update');
  const web = path.join(dir, 'web');
  await cp(path.join(import.meta.dirname, '..', '..', 'dist', 'web'), web, { recursive: true });
  const port = await freePort();
  const server = startMycel(['signal', '--port', String(port), '--host', '127.0.0.1', '--web', web]);
  try {
    await server.waitForLine(logged('listening'));
    const url = `http://localhost:${port}/`;
    await page.goto(url);
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    await expect(page.getByText('A new version of Mycel is ready.')).toHaveCount(0);

    await appendFile(path.join(web, 'sw.js'), '\n// version 2\n');
    await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())!.update());
    await expect(page.getByText('A new version of Mycel is ready.')).toBeVisible();

    const reloaded = page.waitForEvent('load');
    await page.getByRole('button', { name: 'Reload to update' }).click();
    await reloaded;
    await expect(page.getByText('A new version of Mycel is ready.')).toHaveCount(0);
    expect(await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())!.waiting)).toBeNull();
  } finally {
    await server.kill();
    await rm(dir, { recursive: true, force: true });
  }
});
