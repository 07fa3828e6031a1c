// Streaming: a file not yet on this device is read as it arrives. The seed serves slowly (one block
// per serveDelayMs, in turn), and each test asserts what the user sees while blocks are still
// missing: the page's count of blocks in IndexedDB below the file's, never a time.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { blocksHeld, bytesOf, expect, openApp, putOnSeed, test } from './fixtures.js';
import { tempDir } from '../helpers/processes.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Page } from '@playwright/test';
import { parseLink } from '../../src/content/share-link.js';

const MiB = 1024 * 1024;
const CHUNK = 256 * 1024;

const rootOf = (link: string) => parseLink(link).root;
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Opens the link in the app and waits for its service worker to control the page. */
async function openLink(page: Page, link: string, name: string): Promise<void> {
  await openApp(page, link);
  await expect(page.getByRole('heading', { level: 2, name })).toBeVisible({ timeout: 60_000 });
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
}

test.describe('from a slow seed', () => {
  test.use({ serveDelayMs: 100 });

  test('a range at the end of a file not yet here arrives, right, before the rest of the file', async ({
    page,
    server,
  }) => {
    test.setTimeout(300_000);
    // MYCEL_E2E_STREAM_MIB=256 runs it at the size (slower to put; the default keeps CI quick).
    const size = Number(process.env.MYCEL_E2E_STREAM_MIB ?? 16) * MiB;
    const bytes = bytesOf(size, 21);
    const link = await putOnSeed(server, 'big.bin', bytes);
    await openLink(page, link, 'big.bin');
    const start = size - MiB;
    const got = await page.evaluate(
      async ({ url, start }) => {
        const response = await fetch(url, { headers: { range: `bytes=${start}-` } });
        const body = new Uint8Array(await response.arrayBuffer());
        const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', body));
        return {
          status: response.status,
          text: response.ok ? '' : new TextDecoder().decode(body),
          contentRange: response.headers.get('content-range'),
          hash: [...digest].map((b) => b.toString(16).padStart(2, '0')).join(''),
        };
      },
      { url: `/mycel/file/${rootOf(link)}/big.bin`, start },
    );
    const held = await blocksHeld(page);
    expect(got.status, JSON.stringify(got)).toBe(206);
    expect(got.contentRange).toBe(`bytes ${start}-${size - 1}/${size}`);
    expect(got.hash).toBe(sha256(bytes.subarray(start)));
    expect(held).toBeLessThan(size / CHUNK);
  });

  test('Download starts while blocks are missing and saves the exact bytes in one pass', async ({ page, server }) => {
    const size = 12 * MiB + 12_345;
    const bytes = bytesOf(size, 22);
    const link = await putOnSeed(server, 'one-pass.bin', bytes);
    await openLink(page, link, 'one-pass.bin');
    const saved = page.waitForEvent('download', { timeout: 90_000 });
    await page.getByRole('button', { name: 'Download', exact: true }).click();
    const download = await saved;
    const heldWhenStarted = await blocksHeld(page);
    const file = await fs.readFile(await download.path());
    expect(heldWhenStarted).toBeLessThan(Math.ceil(size / CHUNK));
    expect(file.length).toBe(size);
    expect(sha256(file)).toBe(sha256(bytes));
  });
});

test.describe('a video from a slow seed', () => {
  test.use({ serveDelayMs: 300 });

  test('plays before it has arrived, and plays again after a seek ahead', async ({ page, server }) => {
    test.setTimeout(180_000);
    const dir = await tempDir('stream-video');
    const video = path.join(dir, 'clip.webm');
    // Noise keeps the bitrate up, so the clip spans many blocks (about 15 at 256 KiB).
    await promisify(execFile)('ffmpeg', [
      ...['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10', '-t', '10'],
      ...['-vf', 'noise=alls=40:allf=t', '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '16'],
      ...['-b:v', '3M', '-minrate', '3M', '-maxrate', '3M', '-bufsize', '1M', '-an', video],
    ]);
    const bytes = await fs.readFile(video);
    await fs.rm(dir, { recursive: true, force: true });
    const blocks = Math.ceil(bytes.length / CHUNK);
    expect(blocks).toBeGreaterThan(8);
    const link = await putOnSeed(server, 'clip.webm', bytes);
    await openLink(page, link, 'clip.webm');
    await page.getByRole('button', { name: 'View' }).click();
    const player = page.locator('video');
    await expect(player).toBeVisible();

    const firstPlay = await player.evaluate(
      (v: HTMLVideoElement) =>
        new Promise<number>((resolve, reject) => {
          v.muted = true;
          v.addEventListener('timeupdate', function advanced() {
            if (v.currentTime <= 0.3) return;
            v.removeEventListener('timeupdate', advanced);
            resolve(v.currentTime);
          });
          v.addEventListener('error', () => reject(new Error(v.error?.message ?? 'media error')));
          v.play().catch(reject);
        }),
    );
    const heldWhilePlaying = await blocksHeld(page);
    expect(firstPlay).toBeGreaterThan(0.3);
    expect(heldWhilePlaying).toBeLessThan(blocks);

    const afterSeek = await player.evaluate(
      (v: HTMLVideoElement) =>
        new Promise<number>((resolve, reject) => {
          const target = v.duration * 0.75;
          v.addEventListener('timeupdate', function advanced() {
            if (v.currentTime <= target + 0.3) return;
            v.removeEventListener('timeupdate', advanced);
            resolve(v.currentTime - target);
          });
          v.addEventListener('error', () => reject(new Error(v.error?.message ?? 'media error')));
          v.currentTime = target;
        }),
    );
    expect(afterSeek).toBeGreaterThan(0.3);
  });
});
