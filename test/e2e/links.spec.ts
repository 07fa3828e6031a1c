// Bad links get a clear message, not a blank page.
import { addFile, bytesOf, expect, openApp, test } from './fixtures.js';

test('a malformed link says what is wrong with it', async ({ page }) => {
  await openApp(page);
  await page.goto('/#this-is-not.a-mycel-link');
  await expect(page.getByRole('heading', { name: 'This link cannot be opened' })).toBeVisible();
  await expect(page.getByRole('alert')).toHaveText(/This link is not valid: the file id is \d+ bytes, it must be 32/);
  await page.goto('/#' + 'A'.repeat(43));
  await expect(page.getByRole('alert')).toHaveText(/the link has no key/);
});

test('a link with a wrong key says the key does not open the file', async ({ page }) => {
  await openApp(page);
  const link = await addFile(page, 'secret.txt', bytesOf(5000, 3), 'text/plain');
  const dot = link.lastIndexOf('.');
  const key = link.slice(dot + 1);
  const wrong = `${link.slice(0, dot)}.${key.startsWith('A') ? 'B' : 'A'}${key.slice(1)}`;
  await page.goto(wrong);
  await expect(page.getByRole('alert')).toHaveText(/key does not open the file/);
  await expect(page.getByRole('button', { name: 'Download', exact: true })).toHaveCount(0);
});
