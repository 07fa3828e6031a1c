// Two browsers on two home networks (issue 9, scenarios 1 and 2): Chromium runs inside each home's
// namespace (test/helpers/net/chromium.ts) and opens the app at the public https address of a
// signal-only `mycel signal` (no seed: the bytes can only come from the other browser), which
// serves TLS itself with a certificate from a throw-away CA trusted through an NSS db, and hands
// out STUN and TURN (coturn). Behind cone NATs the download goes direct; behind symmetric NATs
// only through the relay. Each asserts equal bytes and the path the page shows. Needs root,
// `ip netns` and a built app; skips with one line where namespaces are missing.
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from '@playwright/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  REPO_ROOT,
  chromiumInNamespace,
  createNetwork,
  makeTestCertificates,
  netnsAvailable,
  startTurn,
  type Home,
  type TestCertificates,
  type TestNetwork,
} from '../helpers/net/index.js';
import { pseudoRandomBytes } from '../helpers/data.js';
import { logged } from '../helpers/processes.js';

const WEB_ROOT = path.join(REPO_ROOT, 'dist', 'web');
const PORT = 443;
const FILE_BYTES = 3 * 1024 * 1024 + 17;
/** Adding, finding the other browser, connecting and downloading, on a shared machine. */
const STEP_TIMEOUT_MS = 90_000;

// Skipped only where network namespaces cannot be made (not root, no `ip netns`): real NATs need them.
describe.skipIf(!netnsAvailable())('two browsers on two home networks, one file', () => {
  let net: TestNetwork;
  let certs: TestCertificates;
  let origin: string;
  const browsers: Browser[] = [];

  beforeAll(async () => {
    expect(existsSync(path.join(WEB_ROOT, 'index.html')), 'the app is built (npm run build)').toBe(true);
    net = await createNetwork({
      homes: [{ nat: 'cone' }, { nat: 'cone' }, { nat: 'symmetric' }, { nat: 'symmetric' }],
    });
    const [turn, madeCerts] = await Promise.all([
      startTurn(net),
      makeTestCertificates(net.dir, { ips: [net.public.address] }),
    ]);
    certs = madeCerts;
    const secretFile = path.join(net.dir, 'turn-secret');
    await fs.writeFile(secretFile, turn.secret, { mode: 0o600 });
    origin = `https://${net.public.address}`;
    const signal = net.startMycel(net.public.ns, [
      'signal',
      '--host',
      net.public.address,
      '--port',
      String(PORT),
      '--web',
      WEB_ROOT,
      '--tls-cert',
      certs.cert,
      '--tls-key',
      certs.key,
      '--public-url',
      origin,
      '--stun',
      turn.stunUrl,
      '--turn',
      turn.turnUrl,
      '--turn-secret-file',
      secretFile,
    ]);
    await signal.waitForLine(logged('listening'));
  }, 120_000);

  afterAll(async () => {
    for (const browser of browsers) await browser.close().catch(() => undefined);
    await net?.destroy();
  });

  async function pageIn(home: Home): Promise<Page> {
    const browser = await chromium.launch(await chromiumInNamespace(net, home.host.ns, { home: certs.chromiumHome }));
    browsers.push(browser);
    const page = await browser.newPage({ acceptDownloads: true });
    await page.goto(`${origin}/`);
    await page.getByTestId('signaling-status').filter({ hasText: 'Online' }).waitFor({ timeout: STEP_TIMEOUT_MS });
    return page;
  }

  /** A adds a file; B opens its link and downloads it; the bytes B saved and the path B's page shows. */
  async function share(a: Home, b: Home, seed: number) {
    const bytes = Buffer.from(pseudoRandomBytes(FILE_BYTES, seed));
    const [pageA, pageB] = await Promise.all([pageIn(a), pageIn(b)]);
    await pageA
      .getByLabel('Add files')
      .setInputFiles({ name: 'far.bin', mimeType: 'application/octet-stream', buffer: bytes });
    const linkBox = pageA.getByRole('textbox', { name: 'Share link' }).first();
    await pageA.waitForFunction(
      () =>
        /#[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/.test(
          document.querySelector<HTMLInputElement>('input[aria-label^="Share link"]')?.value ?? '',
        ),
      undefined,
      { timeout: STEP_TIMEOUT_MS },
    );
    const link = await linkBox.inputValue();
    expect(link.startsWith(`${origin}/#`)).toBe(true);
    await pageB.goto(link);
    await pageB.getByRole('button', { name: 'Download', exact: true }).waitFor({ timeout: STEP_TIMEOUT_MS });
    const saved = pageB.waitForEvent('download', { timeout: STEP_TIMEOUT_MS });
    await pageB.getByRole('button', { name: 'Download', exact: true }).click();
    const got = await fs.readFile(await (await saved).path());
    await pageB.getByTestId('peer-paths').waitFor({ timeout: STEP_TIMEOUT_MS });
    const shown = await pageB.getByTestId('peer-paths').textContent();
    return { same: got.equals(bytes), shown };
  }

  it('downloads straight from the other browser across two cone NATs', async () => {
    const { same, shown } = await share(net.home(1), net.home(2), 1);
    console.log(`[netns] browser → browser across cone NATs: ${shown}`);
    expect(same).toBe(true);
    expect(shown).toBe('direct');
  }, 240_000);

  it('downloads through the relay across two symmetric NATs', async () => {
    const { same, shown } = await share(net.home(3), net.home(4), 2);
    console.log(`[netns] browser → browser across symmetric NATs: ${shown}`);
    expect(same).toBe(true);
    expect(shown).toBe('via relay');
  }, 240_000);

  it('served over https at the public address, registers its service worker, pins a file and opens it offline', async () => {
    const page = await pageIn(net.home(1));
    const worker = await page.evaluate(async () => (await navigator.serviceWorker.ready).active?.scriptURL);
    expect(worker).toBe(`${origin}/sw.js`);
    const bytes = Buffer.from(pseudoRandomBytes(512 * 1024 + 5, 3));
    await page
      .getByLabel('Add files')
      .setInputFiles({ name: 'kept.bin', mimeType: 'application/octet-stream', buffer: bytes });
    await page.waitForFunction(
      () =>
        /#[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/.test(
          document.querySelector<HTMLInputElement>('input[aria-label^="Share link"]')?.value ?? '',
        ),
      undefined,
      { timeout: STEP_TIMEOUT_MS },
    );
    const link = await page.getByRole('textbox', { name: 'Share link' }).first().inputValue();
    await page.getByRole('button', { name: 'Pin kept.bin' }).click();
    await page
      .getByRole('listitem', { name: 'kept.bin' })
      .filter({ hasText: 'Pinned' })
      .waitFor({ timeout: STEP_TIMEOUT_MS });
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, {
      timeout: STEP_TIMEOUT_MS,
    });
    await page.context().setOffline(true);
    await page.reload();
    await page.goto(link);
    await page.getByRole('button', { name: 'Download', exact: true }).waitFor({ timeout: STEP_TIMEOUT_MS });
    const saved = page.waitForEvent('download', { timeout: STEP_TIMEOUT_MS });
    await page.getByRole('button', { name: 'Download', exact: true }).click();
    expect((await fs.readFile(await (await saved).path())).equals(bytes)).toBe(true);
  }, 240_000);
});
