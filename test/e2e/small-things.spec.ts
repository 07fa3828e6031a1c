// The small things people notice (issue 11): a drop anywhere on the window adds the files and never
// replaces the app; no "drop" wording on a touch screen; the share sheet (the manifest's
// share_target) hands files to the app; the status line in plain words; and no two controls on a
// page share an accessible name.
import { addFile, expect, newContext, openApp, test } from './fixtures.js';

test('files dropped anywhere on the window are added, and no drop replaces the app', async ({ page }) => {
  await openApp(page);
  const at = page.url();
  const taken = await page.evaluate(() => {
    const drop = (data: DataTransfer) => {
      document.body.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }));
      // false: the page took the drop (preventDefault), so the browser does not open it in its place.
      return !document.body.dispatchEvent(
        new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }),
      );
    };
    const files = new DataTransfer();
    files.items.add(new File(['dropped on the page\n'], 'dropped.txt', { type: 'text/plain' }));
    const link = new DataTransfer();
    link.setData('text/uri-list', 'https://example.com/elsewhere');
    return { files: drop(files), link: drop(link) };
  });
  expect(taken).toEqual({ files: true, link: true });
  await expect(page.getByRole('listitem', { name: 'dropped.txt' })).toBeVisible({ timeout: 60_000 });
  await expect(page.getByRole('heading', { name: 'Share files' })).toBeVisible();
  expect(page.url()).toBe(at);
});

test('on a touch screen the page does not talk of dropping files', async ({ browser, server, page }) => {
  await openApp(page);
  await expect(page.getByRole('main')).toContainText('Drop files anywhere on this page');
  const phone = await browser.newContext({ baseURL: server.url, hasTouch: true, isMobile: true });
  const touch = await phone.newPage();
  await openApp(touch);
  expect(await touch.evaluate(() => matchMedia('(pointer: coarse)').matches)).toBe(true);
  await expect(touch.getByLabel('Add files')).toBeAttached();
  await expect(touch.getByRole('main')).not.toContainText(/drop/i);
  await phone.close();
});

test("files sent through the share sheet (the manifest's share_target) are added", async ({
  page,
  context,
  server,
}) => {
  await openApp(page);
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
  const target = await page.evaluate(async () => {
    const href = document.querySelector<HTMLLinkElement>('link[rel=manifest]')!.href;
    const manifest = (await (await fetch(href)).json()) as { share_target?: { action: string; method: string } };
    return manifest.share_target;
  });
  expect(target).toMatchObject({ action: '/share-target', method: 'POST', enctype: 'multipart/form-data' });
  // What a phone's share sheet does: a multipart POST navigation to the action, from outside the app
  // (the app's own pages may not submit forms: its CSP says form-action 'none').
  const sheet = await context.newPage();
  await sheet.setContent(
    `<form method="post" action="${server.url}${target!.action}" enctype="multipart/form-data">` +
      '<input type="file" name="files"></form>',
  );
  await sheet.setInputFiles('input', {
    name: 'shared note.txt',
    mimeType: 'text/plain',
    buffer: Buffer.from('sent from another app\n'),
  });
  await sheet.evaluate(() => document.forms[0]!.submit());
  await expect(sheet.getByRole('textbox', { name: 'Share link to shared note.txt' })).toHaveValue(/#/, {
    timeout: 60_000,
  });
  await expect(sheet.getByRole('listitem', { name: 'shared note.txt' })).toBeVisible();
  // The address is the app's own again: a reload does not look for the share.
  expect(new URL(sheet.url()).search).toBe('');
});

test('the status line says in plain words that the page is online and how many seeds are', async ({ page }) => {
  await openApp(page);
  await expect(page.getByTestId('signaling-status')).toHaveText('Online');
  await expect(page.getByTestId('seed-count')).toHaveText('1 seed');
});

test('no two controls share an accessible name on a page with an open file and a My files list', async ({
  browser,
  server,
}) => {
  const context = await newContext(browser, server.url);
  const page = await context.newPage();
  await openApp(page);
  const link = await addFile(page, 'a.txt', Buffer.from('a\n'), 'text/plain');
  await addFile(page, 'b.txt', Buffer.from('b\n'), 'text/plain');
  await page.goto(link);
  await expect(page.getByRole('heading', { level: 2, name: 'a.txt' })).toBeVisible({ timeout: 60_000 });
  await expect(page.getByRole('button', { name: 'Pin', exact: true })).toHaveCount(1);
  await expect(page.getByRole('button', { name: 'Pin a.txt', exact: true })).toHaveCount(1);

  const snapshot = await page.locator('body').ariaSnapshot();
  const names = [...snapshot.matchAll(/- (button|textbox|link|img|progressbar) "([^"]*)"/g)].map(
    ([, role, name]) => `${role} "${name}"`,
  );
  expect(names.length).toBeGreaterThan(10);
  expect(names.filter((name, i) => names.indexOf(name) !== i)).toEqual([]);
  await context.close();
});
