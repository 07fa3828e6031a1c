// Cancel mid-add: the add stops, says so, and the blocks it had already stored (in OPFS segments
// or IndexedDB) are released, so the store holds exactly what it held before (counted in the real
// database).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/processes.js';
import { writeGeneratedFile } from '../helpers/files.js';
import { blocksHeld as heldBlocks, expect, openApp, test } from './fixtures.js';

test('Cancel mid-add stops the add and leaves the block store as it was', async ({ page }) => {
  const dir = await tempDir('e2e-cancel');
  const big = path.join(dir, 'long video.bin');
  await writeGeneratedFile(big, 300 * 1024 * 1024, 12);
  await openApp(page);
  const before = await heldBlocks(page);

  await page.getByLabel('Add files').setInputFiles(big);
  // Some blocks are sealed and stored, and the add is still running.
  await expect(page.getByTestId('add-percent')).not.toHaveText('0%', { timeout: 60_000 });
  // Polled: the OPFS store records a block as held once its worker has flushed it (FLUSH_MS).
  await expect.poll(() => heldBlocks(page), { timeout: 30_000 }).toBeGreaterThan(before);
  await page.getByRole('button', { name: 'Cancel adding long video.bin' }).click();
  await expect(page.getByText('Cancelled: nothing of long video.bin was kept.')).toBeVisible({ timeout: 30_000 });
  expect(await heldBlocks(page)).toBe(before);
  await expect(page.getByRole('textbox', { name: 'Share link' })).toHaveCount(0);
  await fs.rm(dir, { recursive: true, force: true });
});
