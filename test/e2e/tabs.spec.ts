// One tab at a time runs the peer over the shared IndexedDB; another tab can take over.
import { expect, openApp, test } from './fixtures.js';

test('a second tab defers to the first, and can take over', async ({ context }) => {
  const first = await context.newPage();
  await openApp(first);
  const second = await context.newPage();
  await second.goto('/');
  await expect(second.getByRole('heading', { name: 'Mycel is open in another tab' })).toBeVisible();
  await expect(second.getByLabel('Add files')).toBeDisabled();

  await second.getByRole('button', { name: 'Use Mycel here' }).click();
  await expect(second.getByTestId('signaling-status')).toHaveText('Connected');
  await expect(second.getByLabel('Add files')).toBeEnabled();
  await expect(first.getByRole('heading', { name: 'Mycel moved to another tab' })).toBeVisible();
  await expect(first.getByLabel('Add files')).toBeDisabled();
});
