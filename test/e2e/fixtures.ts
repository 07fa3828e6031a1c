// Playwright fixtures: a real Mycel server per test, and helpers that drive the app the way a
// person does (by role and accessible name).
import { test as base, expect, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { freePort, logged, runMycel, startMycel, tempDir, type MycelProcess } from '../helpers/processes.js';
import { pseudoRandomBytes } from '../helpers/data.js';

export interface MycelServer {
  readonly url: string;
  readonly proc: MycelProcess;
  readonly dataDir: string;
}

async function startServer(kind: 'serve' | 'signal', serveDelayMs = 0): Promise<MycelServer> {
  const dataDir = await tempDir(`e2e-${kind}`);
  const port = await freePort();
  const args = kind === 'serve' ? ['serve', '--data', path.join(dataDir, 'seed')] : ['signal'];
  const env: Record<string, string> = serveDelayMs > 0 ? { MYCEL_TEST_SERVE_DELAY_MS: String(serveDelayMs) } : {};
  const proc = startMycel([...args, '--port', String(port), '--host', '127.0.0.1'], { env });
  await proc.waitForLine(logged(kind === 'serve' ? 'seed ready' : 'listening'));
  // localhost (not 127.0.0.1) is a secure context: service workers and WebCrypto are available.
  return { url: `http://localhost:${port}`, proc, dataDir };
}

export const test = base.extend<{ server: MycelServer; serverKind: 'serve' | 'signal'; serveDelayMs: number }>({
  serverKind: ['serve', { option: true }],
  /** A slow seed: each block it serves waits its turn this long (0: full speed). */
  serveDelayMs: [0, { option: true }],
  server: async ({ serverKind, serveDelayMs }, use) => {
    const server = await startServer(serverKind, serveDelayMs);
    await use(server);
    await server.proc.kill();
    await fs.rm(server.dataDir, { recursive: true, force: true });
  },
  baseURL: async ({ server }, use) => use(server.url),
});

export { expect };

/** Opens the app and waits until it is connected to the signaling server. */
export async function openApp(page: Page, url = '/'): Promise<void> {
  await page.goto(url);
  await expect(page.getByTestId('signaling-status')).toHaveText('Online');
}

/** Adds a file through the file picker and returns its share link. */
export async function addFile(
  page: Page,
  name: string,
  buffer: Buffer,
  mimeType = 'application/octet-stream',
): Promise<string> {
  await page.getByLabel('Add files').setInputFiles({ name, mimeType, buffer });
  const link = page.getByRole('textbox', { name: 'Share link' }).first();
  await expect(link).toHaveValue(/#[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/, { timeout: 60_000 });
  return link.inputValue();
}

/** Opens `link`, presses Download, and returns the bytes the browser saved. */
export async function download(page: Page, link: string): Promise<Buffer> {
  await page.goto(link);
  await expect(page.getByRole('heading', { level: 2 }).first()).not.toHaveText(/Opening/, { timeout: 60_000 });
  const saved = page.waitForEvent('download', { timeout: 90_000 });
  await page.getByRole('button', { name: 'Download', exact: true }).click();
  const file = await saved;
  const where = await file.path();
  return fs.readFile(where);
}

export async function newContext(browser: Browser, baseURL: string): Promise<BrowserContext> {
  const context = await browser.newContext({ baseURL, acceptDownloads: true });
  await debugLogs(context);
  return context;
}

/** MYCEL_E2E_DEBUG=1 prints every page's network-layer log, timed, to the test output. */
export async function debugLogs(context: BrowserContext): Promise<void> {
  if (!process.env.MYCEL_E2E_DEBUG) return;
  const t0 = Date.now();
  await context.addInitScript(() => localStorage.setItem('mycel:debug', '1'));
  context.on('console', (message) => console.log(`${Date.now() - t0}ms ${message.text()}`));
}

/** Deterministic bytes for a test file. */
export function bytesOf(size: number, seed = 1): Buffer {
  const bytes = pseudoRandomBytes(size, seed);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Puts `bytes` on the server's seed from the command line (the browser never holds it); its link. */
export async function putOnSeed(server: MycelServer, name: string, bytes: Uint8Array): Promise<string> {
  const dir = await tempDir('e2e-put');
  const file = path.join(dir, name);
  await fs.writeFile(file, bytes);
  const put = await runMycel(['put', file, '--server', server.url]);
  expect(put.code, put.stderr).toBe(0);
  await fs.rm(dir, { recursive: true, force: true });
  return put.stdout.trim();
}

/**
 * Blocks in this browser's block store right now: one `blockMeta` record each, wherever the bytes
 * are (an OPFS segment or the `blocks` table).
 */
export async function blocksHeld(page: Page): Promise<number> {
  return (await blockPlaces(page)).total;
}

/** Where the page's held blocks are: how many in OPFS segments, how many in the `blocks` table, and the segment files. */
export function blockPlaces(
  page: Page,
): Promise<{ total: number; inSegments: number; inTable: number; segmentFiles: number }> {
  return page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const open = indexedDB.open('mycel');
      open.onerror = () => reject(open.error ?? new Error('open failed'));
      open.onsuccess = () => resolve(open.result);
    });
    const all = <T>(store: string, what: 'getAll' | 'count') =>
      new Promise<T>((resolve, reject) => {
        const request = db.transaction(store).objectStore(store)[what]();
        request.onsuccess = () => resolve(request.result as T);
        request.onerror = () => reject(request.error ?? new Error(`${what} failed`));
      });
    const metas = await all<{ seg?: number }[]>('blockMeta', 'getAll');
    const inTable = await all<number>('blocks', 'count');
    db.close();
    let segmentFiles = 0;
    try {
      const folder = await (await navigator.storage.getDirectory()).getDirectoryHandle('mycel-blocks-mycel');
      for await (const name of (folder as unknown as { keys(): AsyncIterable<string> }).keys()) {
        if (name.startsWith('seg-')) segmentFiles++;
      }
    } catch {
      // No segment folder: this browser's store keeps its blocks in IndexedDB.
    }
    return { total: metas.length, inSegments: metas.filter((m) => m.seg !== undefined).length, inTable, segmentFiles };
  });
}
