// Experiment: what a bare data channel between two Chromiums (each with its own on-disk profile)
// does with other message sizes, buffered-amount thresholds, and more than one channel or
// connection to the same peer. Every configuration runs in the same pages, alternating round by
// round; each reports the receiver's MB/s (first byte to last) and CPU ms per MB of both browsers.
// Usage: npx tsx test/bench/exp-channels.ts   (env MB=128 ROUNDS=3)
import { createServer } from 'node:http';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/processes.js';
import { launchPeer, type Peer } from './browsers.js';
import { cpuUsed } from './chromium-processes.js';
import { MiB, median } from './units.js';

interface Config {
  name: string;
  /** Connections, and channels on each. */
  pcs: number;
  channels: number;
  message: number;
  low: number;
  high: number;
}

const K = 1024;
const ALL_CONFIGS: Config[] = [
  {
    name: '1 channel, 64 KiB msgs, low 64 KiB / high 256 KiB (bench bare until now)',
    pcs: 1,
    channels: 1,
    message: 64 * K,
    low: 64 * K,
    high: 256 * K,
  },
  {
    name: '1 channel, 64 KiB msgs, low 64 KiB / high 512 KiB (app link)',
    pcs: 1,
    channels: 1,
    message: 64 * K,
    low: 64 * K,
    high: 512 * K,
  },
  {
    name: '1 channel, 16 KiB msgs, low 64 KiB / high 256 KiB',
    pcs: 1,
    channels: 1,
    message: 16 * K,
    low: 64 * K,
    high: 256 * K,
  },
  {
    name: '1 channel, 64 KiB msgs, low 256 KiB / high 1 MiB',
    pcs: 1,
    channels: 1,
    message: 64 * K,
    low: 256 * K,
    high: 1024 * K,
  },
  {
    name: '1 channel, 64 KiB msgs, low 1 MiB / high 4 MiB',
    pcs: 1,
    channels: 1,
    message: 64 * K,
    low: 1024 * K,
    high: 4096 * K,
  },
  {
    name: '1 channel, 64 KiB msgs, low 2 MiB / high 8 MiB (Chromium refuses sends past 16 MiB queued)',
    pcs: 1,
    channels: 1,
    message: 64 * K,
    low: 2048 * K,
    high: 8192 * K,
  },
  {
    name: '1 channel, 256 KiB msgs, low 1 MiB / high 4 MiB',
    pcs: 1,
    channels: 1,
    message: 256 * K,
    low: 1024 * K,
    high: 4096 * K,
  },
  {
    name: '2 channels on 1 connection, 64 KiB, 64 KiB / 256 KiB',
    pcs: 1,
    channels: 2,
    message: 64 * K,
    low: 64 * K,
    high: 256 * K,
  },
  {
    name: '2 channels on 1 connection, 64 KiB, 1 MiB / 4 MiB',
    pcs: 1,
    channels: 2,
    message: 64 * K,
    low: 1024 * K,
    high: 4096 * K,
  },
  {
    name: '2 connections, 1 channel each, 64 KiB, 64 KiB / 256 KiB',
    pcs: 2,
    channels: 1,
    message: 64 * K,
    low: 64 * K,
    high: 256 * K,
  },
  {
    name: '1 channel, 256 KiB msgs, low 64 KiB / high 512 KiB',
    pcs: 1,
    channels: 1,
    message: 256 * K,
    low: 64 * K,
    high: 512 * K,
  },
  {
    name: '1 channel, 128 KiB msgs, low 64 KiB / high 512 KiB',
    pcs: 1,
    channels: 1,
    message: 128 * K,
    low: 64 * K,
    high: 512 * K,
  },
];
/** ONLY=1,6 runs those configurations alone (indexes into the list above). */
const CONFIGS = process.env.ONLY
  ? ALL_CONFIGS.filter((_, i) => process.env.ONLY!.split(',').includes(String(i)))
  : ALL_CONFIGS;

// Page code as a string: tsx-compiled functions carry helpers the page lacks.
const PAGE = `
window.__exp = {
  pcs: [],
  async offer(n) {
    this.pcs.forEach((p) => p.close());
    this.pcs = [];
    const out = [];
    for (let i = 0; i < n; i++) {
      const pc = new RTCPeerConnection({ iceServers: [] });
      pc.__cands = [];
      pc.__gathered = new Promise((r) => (pc.onicecandidate = (e) => (e.candidate ? pc.__cands.push(e.candidate.toJSON()) : r())));
      this.pcs.push(pc);
      out.push(pc);
    }
    return out;
  },
  async sender(cfg) {
    const pcs = await this.offer(cfg.pcs);
    this.channels = [];
    for (const pc of pcs) for (let c = 0; c < cfg.channels; c++) {
      const ch = pc.createDataChannel('exp' + c, { ordered: true });
      ch.binaryType = 'arraybuffer';
      ch.bufferedAmountLowThreshold = cfg.low;
      this.channels.push(ch);
    }
    const offers = [];
    for (const pc of pcs) { await pc.setLocalDescription(await pc.createOffer()); offers.push(pc.localDescription.toJSON()); }
    return offers;
  },
  async receiver(cfg, offers, total) {
    const pcs = await this.offer(cfg.pcs);
    let received = 0, started = 0;
    const expected = cfg.pcs * cfg.channels;
    let opened = 0;
    this.done = new Promise((resolve) => {
      this.openAll = new Promise((ro) => {
        for (const pc of pcs) pc.ondatachannel = ({ channel }) => {
          channel.binaryType = 'arraybuffer';
          channel.onmessage = (e) => {
            if (received === 0) started = performance.now();
            received += e.data.byteLength;
            if (received >= total) resolve({ bytes: received, ms: performance.now() - started });
          };
          const counted = () => { if (++opened === expected) ro(); };
          if (channel.readyState === 'open') counted(); else channel.onopen = counted;
        };
      });
    });
    const answers = [];
    for (let i = 0; i < pcs.length; i++) {
      await pcs[i].setRemoteDescription(offers[i]);
      await pcs[i].setLocalDescription(await pcs[i].createAnswer());
      answers.push(pcs[i].localDescription.toJSON());
    }
    return answers;
  },
  async accept(answers) { for (let i = 0; i < this.pcs.length; i++) await this.pcs[i].setRemoteDescription(answers[i]); },
  async candidates() { await Promise.all(this.pcs.map((p) => p.__gathered)); return this.pcs.map((p) => p.__cands); },
  async add(lists) { for (let i = 0; i < this.pcs.length; i++) for (const c of lists[i]) await this.pcs[i].addIceCandidate(c).catch(() => {}); },
  async opened() {
    await Promise.all(this.channels.map((ch) => ch.readyState === 'open' ? null : new Promise((r) => ch.addEventListener('open', r, { once: true }))));
  },
  async send(cfg, total) {
    const message = new Uint8Array(cfg.message);
    const per = Math.ceil(total / this.channels.length / cfg.message) * cfg.message;
    await Promise.all(this.channels.map(async (ch) => {
      for (let sent = 0; sent < per; sent += message.length) {
        ch.send(message);
        if (ch.bufferedAmount > cfg.high) await new Promise((r) => ch.addEventListener('bufferedamountlow', r, { once: true }));
      }
    }));
  },
  close() { this.pcs.forEach((p) => p.close()); this.pcs = []; },
};`;

async function once(a: Peer, b: Peer, cfg: Config, total: number): Promise<{ mbps: number; cpu: number }> {
  await a.page.evaluate(PAGE);
  await b.page.evaluate(PAGE);
  type W = { __exp: Record<string, (...args: unknown[]) => Promise<unknown>> };
  const offers = await a.page.evaluate((c) => (window as unknown as W).__exp.sender!(c), cfg);
  const answers = await b.page.evaluate(([c, o, t]) => (window as unknown as W).__exp.receiver!(c, o, t), [
    cfg,
    offers,
    total,
  ] as const);
  await a.page.evaluate((x) => (window as unknown as W).__exp.accept!(x), answers);
  const [ca, cb] = await Promise.all([
    a.page.evaluate(() => (window as unknown as W).__exp.candidates!()),
    b.page.evaluate(() => (window as unknown as W).__exp.candidates!()),
  ]);
  await b.page.evaluate((l) => (window as unknown as W).__exp.add!(l), ca);
  await a.page.evaluate((l) => (window as unknown as W).__exp.add!(l), cb);
  await a.page.evaluate(() => (window as unknown as W).__exp.opened!());
  await b.page.evaluate(() => (window as unknown as { __exp: { openAll: Promise<void> } }).__exp.openAll);
  const before = [await a.procs.cpu(), await b.procs.cpu()];
  // Not awaited: b's result ends the measurement; a failed send shows as its timeout.
  a.page.evaluate(([c, t]) => (window as unknown as W).__exp.send!(c, t), [cfg, total] as const).catch(() => undefined);
  const r = (await b.page.evaluate(() => (window as unknown as { __exp: { done: Promise<unknown> } }).__exp.done)) as {
    bytes: number;
    ms: number;
  };
  const after = [await a.procs.cpu(), await b.procs.cpu()];
  await a.page.evaluate(() => (window as unknown as { __exp: { close(): void } }).__exp.close());
  await b.page.evaluate(() => (window as unknown as { __exp: { close(): void } }).__exp.close());
  const ms = [0, 1].reduce((s, i) => s + [...cpuUsed(before[i]!, after[i]!).values()].reduce((x, p) => x + p.ms, 0), 0);
  return { mbps: r.bytes / 1e6 / (r.ms / 1000), cpu: ms / (r.bytes / 1e6) };
}

const total = Number(process.env.MB ?? 128) * MiB;
const rounds = Number(process.env.ROUNDS ?? 3);
const http = createServer((_, res) => res.end('<!doctype html><title>exp</title>'));
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
const url = `http://localhost:${(http.address() as { port: number }).port}/`;
const dir = await tempDir('exp-channels');
const a = await launchPeer(path.join(dir, 'a'), url);
const b = await launchPeer(path.join(dir, 'b'), url);
try {
  console.log(
    'maxMessageSize seen by the pages:',
    await a.page.evaluate(async () => {
      const x = new RTCPeerConnection();
      x.createDataChannel('m');
      await x.setLocalDescription(await x.createOffer());
      const m = /a=max-message-size:(\d+)/.exec(x.localDescription!.sdp)?.[1];
      x.close();
      return m;
    }),
  );
  const results = CONFIGS.map(() => [] as { mbps: number; cpu: number }[]);
  for (let r = 0; r < rounds; r++) {
    const order = [...CONFIGS.keys()];
    for (let k = 0; k < r % order.length; k++) order.push(order.shift()!);
    for (const i of order) results[i]!.push(await once(a, b, CONFIGS[i]!, total));
    console.error(`round ${r + 1}: ${results.map((x) => x.at(-1)!.mbps.toFixed(1)).join(' / ')}`);
  }
  CONFIGS.forEach((cfg, i) =>
    console.log(
      `${median(results[i]!.map((x) => x.mbps))
        .toFixed(1)
        .padStart(6)} MB/s  ${median(results[i]!.map((x) => x.cpu))
        .toFixed(1)
        .padStart(6)} ms CPU/MB  ${cfg.name}  [${results[i]!.map((x) => x.mbps.toFixed(1)).join(', ')}]`,
    ),
  );
} finally {
  await a.close();
  await b.close();
  http.close();
  await fs.rm(dir, { recursive: true, force: true });
}
