// A crafted collection opened in the page: a hostile sender seals entries the sender's own checks
// would refuse (`../`, an absolute path, a duplicate) and pushes them to a real seed. The page
// refuses the whole link with a clear message, lists nothing, offers no Download all, and the
// service worker makes no zip of it (so no zip entry name can climb out or start at `/`).
import { formatLink, parseLink } from '../../src/content/share-link.js';
import { randomBytes } from '../../src/content/crypto.js';
import { connectSeeds } from '../../src/net/transfer.js';
import { UPLOAD_ID_BYTES } from '../../src/net/wire.js';
import { sealHostile } from '../helpers/collections.js';
import { startUploader } from '../helpers/uploader.js';
import { expect, openApp, test } from './fixtures.js';

const CRAFTED: [string, { path: string }[], RegExp][] = [
  ['an entry climbing out with ../', [{ path: 'ok.txt' }, { path: '../escaped.txt' }], /"\.\.\/escaped\.txt"/],
  ['an absolute path', [{ path: '/tmp/absolute.txt' }], /"\/tmp\/absolute\.txt"/],
  ['a duplicated name', [{ path: 'same.txt' }, { path: 'same.txt' }], /"same\.txt"/],
];

test('a crafted collection is refused with a clear message, lists nothing and offers no zip', async ({
  page,
  server,
}) => {
  const sender = await startUploader(`${server.url.replace('http', 'ws')}/signal`);
  try {
    const [seed] = await connectSeeds(sender.swarm, { timeoutMs: 15_000 });
    await openApp(page);
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    for (const [what, items, names] of CRAFTED) {
      await test.step(what, async () => {
        const crafted = await sealHostile(items);
        const upload = randomBytes(UPLOAD_ID_BYTES);
        for (const bytes of crafted.blocks.values()) await seed!.store(upload, bytes);
        await seed!.commit(upload, crafted.collection.root);
        const link = formatLink(server.url, crafted.collection.root, crafted.collection.key);

        await page.goto(link);
        const problem = page.getByTestId('link-problem');
        await expect(problem).toHaveText(/cannot be saved safely, so nothing was opened/, { timeout: 60_000 });
        await expect(problem).toHaveText(names);
        await expect(page.getByRole('heading', { name: 'This link cannot be opened', exact: true })).toBeVisible();
        await expect(page.getByRole('button', { name: 'Download all' })).toHaveCount(0);
        await expect(page.getByRole('list', { name: /^Files in/ })).toHaveCount(0);
        // Nor can a zip of it be had by asking the service worker directly.
        const zip = await page.evaluate(async (root) => {
          const response = await fetch(`/mycel/file/${root}/crafted.zip`);
          return { status: response.status, type: response.headers.get('content-type') };
        }, parseLink(link).root);
        expect(zip.status).toBe(404);
        expect(zip.type).not.toBe('application/zip');
      });
    }
  } finally {
    sender.close();
  }
});
