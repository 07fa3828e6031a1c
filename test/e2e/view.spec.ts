// Viewing a file in the page: an image shown from the service worker's file route, with the app's
// Content-Security-Policy in force and nothing violating it.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { addFile, expect, openApp, test } from './fixtures.js';

test('an image opens in the page, under a strict content security policy', async ({ page }) => {
  await page.addInitScript(() => {
    (window as unknown as { violations: string[] }).violations = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      (window as unknown as { violations: string[] }).violations.push(`${e.violatedDirective} ${e.blockedURI}`),
    );
  });
  const response = await page.goto('/');
  expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
  await openApp(page);
  const png = await readFile(path.join(import.meta.dirname, '..', '..', 'public', 'icons', 'icon-192.png'));
  const link = await addFile(page, 'logo.png', png, 'image/png');
  await page.goto(link);
  await page.getByRole('button', { name: 'View' }).click();
  const image = page.getByRole('img', { name: 'logo.png' });
  await expect(image).toBeVisible();
  await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(192);
  expect(await page.evaluate(() => (window as unknown as { violations: string[] }).violations)).toEqual([]);
});
