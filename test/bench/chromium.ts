// Serves the bench page with Vite and drives it in headless Chromium.
import { chromium, type Browser, type Page } from '@playwright/test';
import { createServer, type ViteDevServer } from 'vite';
import path from 'node:path';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../chromium.js';

export interface BenchBrowser {
  page: Page;
  browser: Browser;
  close(): Promise<void>;
}

export async function openBenchPage(): Promise<BenchBrowser> {
  const server: ViteDevServer = await createServer({
    configFile: false,
    root: path.join(import.meta.dirname, 'browser'),
    server: { host: '127.0.0.1', port: 0, fs: { allow: [path.join(import.meta.dirname, '..', '..')] } },
    logLevel: 'error',
  });
  await server.listen();
  const address = server.httpServer!.address() as { port: number };
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  const page = await browser.newPage();
  // localhost is a secure context, so the page has crypto.subtle like a deployed https app.
  await page.goto(`http://localhost:${address.port}/`);
  await page.waitForFunction(() => window.mycelBench?.ready === true, undefined, { timeout: 60_000 });
  return {
    page,
    browser,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}
