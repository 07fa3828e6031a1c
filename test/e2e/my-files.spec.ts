// Links never lost: after a reload, My files still shows the link of every file and collection
// this browser added, with Copy (which puts that very link on the clipboard) and a QR code.
import { addFile, bytesOf, expect, openApp, test } from './fixtures.js';

test.use({ permissions: ['clipboard-read', 'clipboard-write'] });

test('after a reload My files offers Copy and a QR code for every added file and collection', async ({ page }) => {
  await openApp(page);
  const single = await addFile(page, 'report.pdf', bytesOf(10_000, 2), 'application/pdf');
  await page.getByLabel('Add files').setInputFiles([
    { name: 'a.txt', mimeType: 'text/plain', buffer: Buffer.from('a\n') },
    { name: 'b.txt', mimeType: 'text/plain', buffer: Buffer.from('b\n') },
  ]);
  const newest = page.getByRole('textbox', { name: 'Share link' }).first();
  await expect(newest).not.toHaveValue(single, { timeout: 60_000 });
  await expect(newest).toHaveValue(/#[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/);
  const collection = await newest.inputValue();

  await page.reload();
  await expect(page.getByTestId('signaling-status')).toHaveText('Online');
  await expect(page.getByRole('textbox', { name: 'Share link' })).toHaveCount(0);
  for (const [name, link] of [
    ['report.pdf', single],
    ['2 files', collection],
  ] as const) {
    await expect(page.getByRole('textbox', { name: `Link to ${name}` })).toHaveValue(link);
    await page.getByRole('button', { name: `Copy the link to ${name}` }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(link);
    await page.getByRole('button', { name: `QR code to ${name}` }).click();
    await expect(page.getByRole('img', { name: `QR code of the link to ${name}` })).toBeVisible();
  }
});
