// The app on a phone-sized screen: everything reachable, nothing wider than the screen.
import { addFile, bytesOf, expect, openApp, test } from './fixtures.js';

test.use({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });

test('works on a phone-sized screen', async ({ page }) => {
  await openApp(page);
  await addFile(
    page,
    'a-rather-long-file-name-that-could-overflow-a-small-screen.pdf',
    bytesOf(20_000, 5),
    'application/pdf',
  );
  for (const name of ['Copy link']) await expect(page.getByRole('button', { name })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'My files' })).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.getByRole('textbox', { name: 'Share link' }).click();
  await page.goto(await page.getByRole('textbox', { name: 'Share link' }).inputValue());
  await expect(page.getByRole('button', { name: 'View' })).toBeVisible();
  expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
});
