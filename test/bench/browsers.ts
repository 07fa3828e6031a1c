// Chromium-to-Chromium: the app moving a file from one page to another (no seed: browser to
// browser over WebRTC) beside a bare RTCDataChannel between the same two pages pushing the same
// number of bytes with no protocol; the adding and the downloading page's renderer memory with
// 1 GiB; and a video's first frame, streamed, beside the time to fetch it whole.
import { chromium, type Browser, type Page } from '@playwright/test';
import { promises as fs, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../chromium.js';
import { freePort, logged, runMycel, startMycel, tempDir, type MycelProcess } from '../helpers/processes.js';
import { writeGeneratedFile } from '../helpers/files.js';
import { GiB, MiB, median } from './units.js';

export interface RendererMemory {
  /** RSS of the page's renderer before the work started. */
  beforeMB: number;
  peakMB: number;
  /** Peak over the first half of the work: equal to the whole peak when memory is flat. */
  halfwayPeakMB: number;
  jsHeapPeakMB: number;
}

export interface BrowserFigures {
  appMBps: number;
  bareMBps: number;
  transferBytes: number;
  addBytes: number;
  addMBps: number;
  add: RendererMemory;
  /** Click to saved: the download streams as blocks arrive (one pass). */
  getMBps: number;
  /** Click to the browser's download starting. */
  getStartMs: number;
  /** While the download streams (fetch, verify, decrypt, save), in the page that runs the peer. */
  get: RendererMemory;
  /** A video not on the device: View pressed to its first frame shown. */
  firstFrameMs: number;
  /** The same video fetched whole in a fresh page: what the first frame waited for before streaming. */
  videoWholeMs: number;
  videoBytes: number;
}

/**
 * Samples the RSS of every renderer of the browser and the page's JS heap until stopped; reports
 * the renderer that grew most (the page's own).
 */
function sampleRenderers(browserPid: number, page: Page): { stop(): Promise<RendererMemory> } {
  const before = rendererRss(browserPid);
  const series: Map<number, number>[] = [];
  let jsHeapPeak = 0;
  const cdp = page
    .context()
    .newCDPSession(page)
    .then(async (session) => {
      await session.send('Performance.enable');
      return session;
    });
  const timer = setInterval(() => {
    series.push(rendererRss(browserPid));
    void cdp
      .then((session) => session.send('Performance.getMetrics'))
      .then(({ metrics }) => {
        const heap = metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? 0;
        jsHeapPeak = Math.max(jsHeapPeak, heap / 1e6);
      })
      .catch(() => undefined); // a sample missed while the page navigates: the next one counts
  }, 100);
  return {
    async stop() {
      clearInterval(timer);
      await (await cdp).detach().catch(() => undefined); // the page may have closed its session first
      let best = { pid: 0, growth: -Infinity };
      for (const pid of new Set(series.flatMap((m) => [...m.keys()]))) {
        const peak = Math.max(...series.map((m) => m.get(pid) ?? 0));
        const growth = peak - (before.get(pid) ?? peak);
        if (growth > best.growth) best = { pid, growth };
      }
      const peakOver = (part: Map<number, number>[]) => Math.max(0, ...part.map((m) => m.get(best.pid) ?? 0));
      return {
        beforeMB: before.get(best.pid) ?? 0,
        peakMB: peakOver(series),
        halfwayPeakMB: peakOver(series.slice(0, Math.max(1, Math.round(series.length / 2)))),
        jsHeapPeakMB: jsHeapPeak,
      };
    },
  };
}

/** RSS (MB) of every Chromium renderer process that descends from `browserPid`. */
function rendererRss(browserPid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmdline.includes('--type=renderer')) continue;
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      const ppid = Number(/PPid:\s+(\d+)/.exec(status)?.[1]);
      const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1000;
      if (ppid && (ppid === browserPid || isDescendant(ppid, browserPid))) out.set(Number(entry), rss);
    } catch {
      // a process that just exited
    }
  }
  return out;
}

/**
 * The browser process of `browser`, by its own word (other Chromium instances may run on the
 * machine, e.g. other test runs: the newest one is not necessarily ours).
 */
async function browserPid(browser: Browser): Promise<number> {
  const cdp = await browser.newBrowserCDPSession();
  const { processInfo } = (await cdp.send('SystemInfo.getProcessInfo')) as {
    processInfo: Array<{ type: string; id: number }>;
  };
  await cdp.detach();
  const pid = processInfo.find((p) => p.type === 'browser')?.id;
  if (!pid) throw new Error('the browser did not name its process');
  return pid;
}

function isDescendant(pid: number, ancestor: number): boolean {
  for (let p = pid, depth = 0; p > 1 && depth < 6; depth++) {
    if (p === ancestor) return true;
    try {
      p = Number(/PPid:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1]);
    } catch {
      return false;
    }
  }
  return false;
}

async function connected(page: Page): Promise<void> {
  await page.getByTestId('signaling-status').filter({ hasText: 'Connected' }).waitFor({ timeout: 30_000 });
}

/** A bare data channel between two pages, signaled through this process; returns receive MB/s. */
async function bareChannel(sender: Page, receiver: Page, bytes: number): Promise<number> {
  const setup = `
    window.__bare = { pc: new RTCPeerConnection({ iceServers: [] }), candidates: [] };
    window.__bare.pc.onicecandidate = (e) => e.candidate && window.__bare.candidates.push(e.candidate.toJSON());
  `;
  await sender.evaluate(setup);
  await receiver.evaluate(setup);
  const offer = await sender.evaluate(async (total) => {
    const bare = (window as any).__bare;
    const channel = bare.pc.createDataChannel('bare', { ordered: true });
    channel.binaryType = 'arraybuffer';
    channel.bufferedAmountLowThreshold = 64 * 1024;
    bare.channel = channel;
    channel.onopen = async () => {
      const message = new Uint8Array(64 * 1024);
      for (let sent = 0; sent < total; sent += message.length) {
        channel.send(message);
        if (channel.bufferedAmount > 256 * 1024)
          await new Promise((r) => channel.addEventListener('bufferedamountlow', r, { once: true }));
      }
    };
    await bare.pc.setLocalDescription(await bare.pc.createOffer());
    return bare.pc.localDescription.toJSON();
  }, bytes);
  const done = receiver.evaluate(
    ({ total, offerDesc }) =>
      // eslint-disable-next-line no-async-promise-executor, @typescript-eslint/no-misused-promises -- runs in the page; a failure there shows as the evaluate's timeout
      new Promise<number>(async (resolve) => {
        const bare = (window as any).__bare;
        bare.pc.ondatachannel = ({ channel }: RTCDataChannelEvent) => {
          channel.binaryType = 'arraybuffer';
          let received = 0;
          let started = 0;
          channel.onmessage = (event) => {
            if (received === 0) started = performance.now();
            received += (event.data as ArrayBuffer).byteLength;
            if (received >= total) resolve(received / 1e6 / ((performance.now() - started) / 1000));
          };
        };
        await bare.pc.setRemoteDescription(offerDesc);
        await bare.pc.setLocalDescription(await bare.pc.createAnswer());
        bare.answer = bare.pc.localDescription.toJSON();
      }),
    { total: bytes, offerDesc: offer },
  );
  await receiver.waitForFunction(() => (window as any).__bare.answer);
  const answer = await receiver.evaluate(() => (window as any).__bare.answer);
  await sender.evaluate((a) => (window as any).__bare.pc.setRemoteDescription(a), answer);
  // Trickle the candidates both ways once gathered.
  await new Promise((r) => setTimeout(r, 500));
  const fromSender = await sender.evaluate(() => (window as any).__bare.candidates);
  const fromReceiver = await receiver.evaluate(() => (window as any).__bare.candidates);
  await receiver.evaluate(async (list) => {
    for (const c of list) await (window as any).__bare.pc.addIceCandidate(c).catch(() => undefined); // one path fewer
  }, fromSender);
  await sender.evaluate(async (list) => {
    for (const c of list) await (window as any).__bare.pc.addIceCandidate(c).catch(() => undefined); // one path fewer
  }, fromReceiver);
  const mbps = await done;
  await sender.evaluate(() => (window as any).__bare.pc.close());
  await receiver.evaluate(() => (window as any).__bare.pc.close());
  return mbps;
}

/**
 * A video put on the seed from the command line: View to its first frame in a fresh page (streamed),
 * beside fetching the whole file in another fresh page (the first frame's wait before streaming).
 */
async function videoBench(
  browser: Browser,
  seedUrl: string,
  dir: string,
): Promise<{ firstFrameMs: number; videoWholeMs: number; videoBytes: number }> {
  const file = path.join(dir, 'clip.webm');
  // Noise keeps the bitrate (and the file) up: 30 s at 8 Mbit/s.
  await promisify(execFile)('ffmpeg', [
    ...['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10', '-t', '30'],
    ...['-vf', 'noise=alls=40:allf=t', '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '16'],
    ...['-b:v', '8M', '-minrate', '8M', '-maxrate', '8M', '-bufsize', '2M', '-an', file],
  ]);
  const videoBytes = (await fs.stat(file)).size;
  const link = (await runMycel(['put', file, '--server', seedUrl.replace(/\/$/, '')])).stdout.trim();

  const viewer = await (await browser.newContext()).newPage();
  await viewer.goto(seedUrl);
  await connected(viewer);
  await viewer.goto(link);
  await viewer.getByRole('button', { name: 'View' }).waitFor({ timeout: 60_000 });
  await viewer.waitForFunction(() => navigator.serviceWorker.controller !== null);
  const started = performance.now();
  await viewer.getByRole('button', { name: 'View' }).click();
  await viewer.locator('video').evaluate(
    (v: HTMLVideoElement) =>
      new Promise<void>((resolve, reject) => {
        v.muted = true;
        v.requestVideoFrameCallback(() => resolve());
        v.play().catch(reject);
      }),
  );
  const firstFrameMs = performance.now() - started;
  await viewer.context().close();

  const whole = await (await browser.newContext()).newPage();
  await whole.goto(seedUrl);
  await connected(whole);
  await whole.goto(link);
  await whole.getByRole('button', { name: 'Pin', exact: true }).waitFor({ timeout: 60_000 });
  const pinStarted = performance.now();
  await whole.getByRole('button', { name: 'Pin', exact: true }).click();
  await whole.getByRole('button', { name: 'Unpin', exact: true }).waitFor({ timeout: 300_000 });
  const videoWholeMs = performance.now() - pinStarted;
  await whole.context().close();
  return { firstFrameMs, videoWholeMs, videoBytes };
}

export async function browserBench(
  options: { transferBytes?: number; addBytes?: number; rounds?: number } = {},
): Promise<BrowserFigures> {
  const transferBytes = options.transferBytes ?? 128 * MiB;
  const addBytes = options.addBytes ?? GiB;
  const rounds = options.rounds ?? 3;
  const dir = await tempDir('bench-browsers');
  const port = await freePort();
  const server = startMycel(['signal', '--port', String(port), '--host', '127.0.0.1']);
  let browser: Browser | undefined;
  let seedServer: MycelProcess | undefined;
  try {
    await server.waitForLine(logged('listening'));
    const url = `http://localhost:${port}/`;
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    const app: number[] = [];
    const bare: number[] = [];
    const transferFile = path.join(dir, 'transfer.bin');
    await writeGeneratedFile(transferFile, transferBytes, 3);
    for (let r = 0; r < rounds; r++) {
      const a = await (await browser.newContext()).newPage();
      const b = await (await browser.newContext()).newPage();
      await a.goto(url);
      await b.goto(url);
      await connected(a);
      await connected(b);
      await a.getByLabel('Add files').setInputFiles(transferFile);
      const link = await a.getByRole('textbox', { name: 'Share link' }).inputValue({ timeout: 120_000 });
      await b.goto(link);
      await b.getByRole('button', { name: 'Download', exact: true }).waitFor({ timeout: 60_000 });
      const saved = b.waitForEvent('download', { timeout: 300_000 });
      const started = performance.now();
      await b.getByRole('button', { name: 'Download', exact: true }).click();
      // The download starts at once and streams: saved is when its file is complete.
      await (await saved).path();
      app.push(transferBytes / 1e6 / ((performance.now() - started) / 1000));
      bare.push(await bareChannel(a, b, transferBytes));
      await a.context().close();
      await b.context().close();
    }
    await fs.rm(transferFile);

    // Memory while a 1 GiB file is added (and pushed to a seed) in one page, then downloaded in
    // another: each page's renderer, sampled from /proc.
    const addFile = path.join(dir, 'add.bin');
    await writeGeneratedFile(addFile, addBytes, 4);
    const seedPort = await freePort();
    seedServer = startMycel([
      'serve',
      '--port',
      String(seedPort),
      '--host',
      '127.0.0.1',
      '--data',
      path.join(dir, 'seed'),
    ]);
    await seedServer.waitForLine(logged('seed ready'));
    const seedUrl = `http://localhost:${seedPort}/`;
    const pid = await browserPid(browser);

    const adder = await (await browser.newContext()).newPage();
    await adder.goto(seedUrl);
    await connected(adder);
    let sampling = sampleRenderers(pid, adder);
    let started = performance.now();
    await adder.getByLabel('Add files').setInputFiles(addFile);
    const bigLink = await adder.getByRole('textbox', { name: 'Share link' }).inputValue({ timeout: 900_000 });
    const addSeconds = (performance.now() - started) / 1000;
    const add = await sampling.stop();
    await adder.context().close();

    const getter = await (await browser.newContext()).newPage();
    await getter.goto(seedUrl);
    await connected(getter);
    await getter.goto(bigLink);
    await getter.getByRole('button', { name: 'Download', exact: true }).waitFor({ timeout: 60_000 });
    // One pass: the service worker streams the file to the download as the page fetches it.
    sampling = sampleRenderers(pid, getter);
    started = performance.now();
    const saved = getter.waitForEvent('download', { timeout: 900_000 });
    await getter.getByRole('button', { name: 'Download', exact: true }).click();
    const download = await saved;
    const getStartMs = performance.now() - started;
    await download.path();
    const getSeconds = (performance.now() - started) / 1000;
    const get = await sampling.stop();
    await getter.context().close();

    const video = await videoBench(browser, seedUrl, dir);
    return {
      appMBps: median(app),
      bareMBps: median(bare),
      transferBytes,
      addBytes,
      addMBps: addBytes / 1e6 / addSeconds,
      getMBps: addBytes / 1e6 / getSeconds,
      getStartMs,
      add,
      get,
      ...video,
    };
  } finally {
    await browser?.close();
    await server.kill();
    await seedServer?.kill();
    await fs.rm(dir, { recursive: true, force: true });
  }
}
