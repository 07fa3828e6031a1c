// Placement prefers durable holders: seeds, then browsers whose storage the browser promised to
// keep (navigator.storage.persist() granted), then other browsers. Headless Chromium declines
// persist() in a throwaway profile, so the persisted keeper here runs in a profile on disk with the
// durable-storage permission granted through the DevTools protocol, as a browser that has decided
// to keep a site's data would; its person then presses "Keep storage". Two more keepers whose
// storage is not persisted stand beside it. A file put with 2 copies on a one-seed deployment has
// one copy too few: the seed's repair must give it to the persisted keeper, whichever way the
// rendezvous order among browsers falls.
import { chromium, type Page } from '@playwright/test';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../chromium.js';
import { bytesOf, expect, newContext, openApp, test } from './fixtures.js';
import { freePort, logged, runMycel, startMycel, tempDir } from '../helpers/processes.js';

test.setTimeout(180_000);

/** What a test started, closed after it even when it times out (a finally block would not run). */
const cleanups: (() => Promise<unknown>)[] = [];
test.afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

interface Status {
  readonly live: number;
  readonly byKind: { seed: number; 'persisted-browser': number; browser: number };
  readonly holders: { peer: string; kind: string; state: string }[];
}

async function keepCopies(page: Page): Promise<void> {
  const keep = page.getByRole('checkbox', { name: 'Keep copies of files for others' });
  await expect(keep).toBeEnabled();
  await keep.check();
  await expect(keep).toBeChecked();
}

function peerIdOf(page: Page): Promise<string> {
  return page.evaluate(() => {
    const raw = Object.keys(localStorage).find((k) => k.startsWith('mycel:canary:'));
    return (JSON.parse(localStorage.getItem(raw!)!) as { peer: string }).peer;
  });
}

test('a file short of copies goes to the keeper whose storage is persisted before any other browser', async ({
  browser,
}) => {
  const dir = await tempDir('e2e-persisted');
  const port = await freePort();
  cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
  const serve = startMycel([
    'serve',
    '--port',
    String(port),
    '--host',
    '127.0.0.1',
    '--data',
    path.join(dir, 'seed'),
    '--grace',
    '6s',
  ]);
  cleanups.push(() => serve.kill());
  await serve.waitForLine(logged('seed ready'));
  const url = `http://localhost:${port}`;

  const durable = await chromium.launchPersistentContext(path.join(dir, 'profile'), {
    executablePath: CHROMIUM_PATH,
    args: CHROMIUM_ARGS,
    headless: true,
    baseURL: url,
  });
  cleanups.push(() => durable.close());
  const page = await durable.newPage();
  await openApp(page);
  // Keeping first (announced as an ordinary keeper); then the browser comes to keep the site's
  // data and the person presses "Keep storage": the page moves its announcement to the
  // persisted keepers.
  await keepCopies(page);
  const cdp = await durable.newCDPSession(page);
  await cdp.send('Browser.grantPermissions', { origin: url, permissions: ['durableStorage'] });
  await page.getByRole('button', { name: 'Keep storage' }).click({ timeout: 30_000 });
  await expect(page.getByTestId('persistence')).toHaveText('Storage is persistent');
  const persistedId = await peerIdOf(page);

  for (let i = 0; i < 2; i++) {
    const context = await newContext(browser, url);
    cleanups.push(() => context.close());
    const other = await context.newPage();
    await openApp(other);
    await keepCopies(other);
  }

  const file = path.join(dir, 'kept.bin');
  const original = bytesOf(2 * 2 ** 20 + 5, 77);
  await fs.writeFile(file, original);
  const put = await runMycel(['put', file, '--server', url, '--copies', '2']);
  expect(put.code, put.stderr).toBe(0);
  expect(put.stderr).toMatch(/1 of 2 copies placed/);
  const link = put.stdout.trim();

  let latest: Status | undefined;
  await expect
    .poll(
      async () => {
        const result = await runMycel(['status', link, '--json', '--server', url], { timeoutMs: 60_000 });
        latest = result.code === 0 ? (JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Status) : undefined;
        return latest?.live;
      },
      { timeout: 90_000 },
    )
    .toBe(2);
  expect(latest!.byKind).toEqual({ seed: 1, 'persisted-browser': 1, browser: 0 });
  const kept = latest!.holders.find((h) => h.kind === 'persisted-browser');
  expect(kept).toMatchObject({ peer: persistedId, state: 'live' });
  await page.goto('/');
  await expect(page.getByTestId('kept-file')).toHaveCount(1);
});
