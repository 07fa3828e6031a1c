// The app reached by name from another machine, played on loopback: Chromium resolves a public
// name to 127.0.0.1 (--host-resolver-rules), so the origin is not localhost and only https makes
// it a secure context. The certificate comes from a throw-away CA that Chromium trusts through an
// NSS database in a temporary HOME: a page with certificate errors would get no service worker.
import { chromium, expect, test, type Browser } from '@playwright/test';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../chromium.js';
import { makeTestCertificates } from '../helpers/net/tls.js';
import { freePort, logged, startMycel, tempDir, type MycelProcess } from '../helpers/processes.js';

const NAME = 'mycel.example';

let dir: string;
let proc: MycelProcess | undefined;
let browser: Browser | undefined;

test.afterEach(async () => {
  await browser?.close();
  await proc?.kill();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
  browser = proc = undefined;
});

async function launch(home?: string): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [...CHROMIUM_ARGS, `--host-resolver-rules=MAP ${NAME} 127.0.0.1`],
    env: { ...process.env, ...(home ? { HOME: home } : {}) },
  });
}

test('over https at a public name: a secure context, the service worker runs, links carry the public URL', async () => {
  dir = await tempDir('e2e-reach-tls');
  const certs = await makeTestCertificates(dir, { hostnames: [NAME] });
  const port = await freePort();
  const publicUrl = `https://${NAME}:${port}`;
  proc = startMycel([
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--data',
    path.join(dir, 'seed'),
    '--tls-cert',
    certs.cert,
    '--tls-key',
    certs.key,
    '--public-url',
    publicUrl,
  ]);
  await proc.waitForLine(logged('seed ready'));
  browser = await launch(certs.chromiumHome);
  const page = await browser.newPage();
  await page.goto(`${publicUrl}/`);
  await expect(page.getByTestId('signaling-status')).toHaveText('Online');
  await expect(page.getByTestId('insecure-context')).toHaveCount(0);
  const worker = await page.evaluate(async () => (await navigator.serviceWorker.ready).active?.scriptURL);
  expect(worker).toBe(`${publicUrl}/sw.js`);
  await page.getByLabel('Add files').setInputFiles({
    name: 'hello.txt',
    mimeType: 'text/plain',
    buffer: Buffer.from('hello from far away\n'),
  });
  const link = page.getByRole('textbox', { name: 'Share link' }).first();
  await expect(link).toHaveValue(new RegExp(`^${publicUrl.replace(/\./g, '\\.')}/#`), { timeout: 60_000 });
});

test('over plain http at a public name: the page says downloads need https, not "reload"', async () => {
  dir = await tempDir('e2e-reach-http');
  const port = await freePort();
  proc = startMycel(['serve', '--host', '127.0.0.1', '--port', String(port), '--data', path.join(dir, 'seed')]);
  await proc.waitForLine(logged('seed ready'));
  browser = await launch();
  const page = await browser.newPage();
  await page.goto(`http://${NAME}:${port}/`);
  const notice = page.getByTestId('insecure-context');
  await expect(notice).toContainText('plain http');
  await expect(notice).toContainText('https');
  await expect(notice).not.toContainText('reload');
});
