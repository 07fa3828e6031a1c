// The service worker's stream of a file fed by the tab that runs the peer (web/lib/peer-stream.ts
// against the page's own feeder, web/lib/stream-feeder.ts, over real MessageChannels): bytes in
// order from the one tab that accepts, no more than a bounded number of chunks asked ahead of the
// reader, and a stream that survives its tab closing by resuming from the next byte elsewhere.
import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/errors.js';
import { streamFromPeerTab, type StreamClients } from '../../web/lib/peer-stream.js';
import { feedPort } from '../../web/lib/stream-feeder.js';
import { STREAM_CHUNKS_BUFFERED, type StreamOffer } from '../../web/lib/stream-protocol.js';

const FILE = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
const CHUNK = 64;

interface FakeTab {
  readonly id: string;
  open: boolean;
  /** Chunks this tab fed, and the most it was ever asked for ahead of the reader. */
  fed: number;
  postMessage(message: unknown, transfer: Transferable[]): void;
}

/** A tab: declines, or accepts and feeds FILE's range (stopping dead after `stopAfter` chunks). */
function tab(id: string, accepts: boolean, stopAfter = Infinity): FakeTab {
  const me: FakeTab = {
    id,
    open: true,
    fed: 0,
    postMessage(message, transfer) {
      const offer = message as StreamOffer;
      const port = transfer[0] as MessagePort;
      if (!accepts) {
        port.postMessage({ type: 'decline' });
        port.close();
        return;
      }
      port.postMessage({ type: 'accept' });
      feedPort(
        port,
        (async function* () {
          for (let at = offer.start; at < offer.end; at += CHUNK) {
            if (me.fed >= stopAfter) {
              // The tab closed: it never answers again.
              me.open = false;
              await new Promise(() => undefined);
            }
            me.fed++;
            yield FILE.slice(at, Math.min(at + CHUNK, offer.end));
          }
        })(),
      );
    },
  };
  return me;
}

function clientsOf(tabs: FakeTab[]): StreamClients {
  return {
    windows: async () => tabs.filter((t) => t.open),
    isOpen: async (id) => tabs.some((t) => t.id === id && t.open),
  };
}

async function readAll(stream: ReadableStream<Uint8Array>, onChunk?: () => Promise<void>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    await onChunk?.();
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('streaming a file from the tab that runs the peer', () => {
  it('serves the range in order from the tab that accepts; the others decline', async () => {
    const tabs = [tab('follower', false), tab('leader', true), tab('other', false)];
    const body = await readAll(await streamFromPeerTab(clientsOf(tabs), 'root', 100, 900));
    expect(body).toEqual(FILE.subarray(100, 900));
    expect(tabs[1]!.fed).toBe(Math.ceil(800 / CHUNK));
  });

  it('hands over chunks that fill their own buffer, and copies views into a buffer the reader keeps', async () => {
    const kept = FILE.slice(); // the reader's own buffer: views of it are yielded, it must stay whole
    const wholes: Uint8Array[] = [];
    const port = new MessageChannel();
    feedPort(
      port.port1,
      (async function* () {
        for (let at = 0; at < FILE.length; at += CHUNK) {
          const end = Math.min(at + CHUNK, FILE.length);
          if ((at / CHUNK) % 2 === 0) yield kept.subarray(at, end);
          else {
            const whole = FILE.slice(at, end);
            wholes.push(whole);
            yield whole;
          }
        }
      })(),
    );
    const parts: Uint8Array[] = [];
    const ended = new Promise<void>((resolve) => {
      port.port2.onmessage = ({ data }: MessageEvent<{ type: string; bytes?: Uint8Array }>) => {
        if (data.type === 'chunk') {
          parts.push(data.bytes!);
          port.port2.postMessage({ type: 'pull' });
        } else resolve();
      };
    });
    port.port2.postMessage({ type: 'pull' });
    await ended;
    port.port2.close();
    expect(Buffer.concat(parts)).toEqual(Buffer.from(FILE));
    expect(kept).toEqual(FILE);
    // The whole ones went over without a copy: detached here.
    expect(wholes.every((w) => w.byteLength === 0)).toBe(true);
  });

  it('asks no more than its buffer ahead of a slow reader', async () => {
    const leader = tab('leader', true);
    let read = 0;
    let mostAhead = 0;
    const stream = await streamFromPeerTab(clientsOf([leader]), 'root', 0, FILE.length);
    const body = await readAll(stream, async () => {
      read++;
      mostAhead = Math.max(mostAhead, leader.fed - read);
      // A slow reader: a few message round trips pass before it reads again.
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    });
    expect(body).toEqual(FILE);
    expect(mostAhead).toBeGreaterThan(0);
    expect(mostAhead).toBeLessThanOrEqual(STREAM_CHUNKS_BUFFERED + 1);
  });

  it('resumes from the next byte with the tab that takes over when the feeding tab closes', async () => {
    const first = tab('first', true, 3);
    const tabs = [first];
    const stream = await streamFromPeerTab(clientsOf(tabs), 'root', 0, FILE.length);
    // The next tab starts running the peer once the first is gone.
    const second = tab('second', true);
    tabs.push(second);
    const body = await readAll(stream);
    expect(body).toEqual(FILE);
    expect(first.fed).toBe(3);
    expect(second.fed).toBe(Math.ceil((FILE.length - 3 * CHUNK) / CHUNK));
  });

  it('says at once that it cannot stream when no window of the app is open', async () => {
    await expect(streamFromPeerTab(clientsOf([]), 'root', 0, 10)).rejects.toBeInstanceOf(UnavailableError);
  });
});
