// Chromium-to-Chromium: the app moving a file from one page to another (no seed: browser to
// browser over WebRTC) beside a bare RTCDataChannel between the same two pages pushing the same
// number of bytes with no protocol; and the adding page's renderer memory while it adds 1 GiB.
import { chromium, type Browser, type Page } from '@playwright/test';
import { promises as fs, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../chromium.js';
import { freePort, logged, startMycel, tempDir, type MycelProcess } from '../helpers/processes.js';
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
  getMBps: number;
  fetchMBps: number;
  add: RendererMemory;
  /** While the download fetches every block into IndexedDB. */
  get: RendererMemory;
  /** While the service worker streams the decrypted file into the browser's download. */
  stream: RendererMemory;
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

/** The newest Chromium browser process Playwright started (it talks to it over a pipe). */
function playwrightBrowserPid(): number {
  let newest = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes('--remote-debugging-pipe') && !cmdline.includes('--type='))
        newest = Math.max(newest, Number(entry));
    } catch {
      // gone
    }
  }
  return newest;
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
      await saved;
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
    const pid = playwrightBrowserPid();

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
    // Two phases: fetching every block into IndexedDB, then the service worker streaming the
    // decrypted file to the browser's download (it starts when the download event fires).
    sampling = sampleRenderers(pid, getter);
    started = performance.now();
    const saved = getter.waitForEvent('download', { timeout: 900_000 });
    await getter.getByRole('button', { name: 'Download', exact: true }).click();
    const download = await saved;
    const fetchSeconds = (performance.now() - started) / 1000;
    const get = await sampling.stop();
    sampling = sampleRenderers(pid, getter);
    await download.path();
    const getSeconds = (performance.now() - started) / 1000;
    const stream = await sampling.stop();
    return {
      appMBps: median(app),
      bareMBps: median(bare),
      transferBytes,
      addBytes,
      addMBps: addBytes / 1e6 / addSeconds,
      getMBps: addBytes / 1e6 / getSeconds,
      fetchMBps: addBytes / 1e6 / fetchSeconds,
      add,
      get,
      stream,
    };
  } finally {
    await browser?.close();
    await server.kill();
    await seedServer?.kill();
    await fs.rm(dir, { recursive: true, force: true });
  }
}
