// The ceiling for transfers that involve a Node peer: one raw RTCDataChannel (node-datachannel's
// polyfill, the stack the peers use), no protocol, no crypto, no disk. The sender pushes one random
// MAX_MESSAGE_BYTES buffer again and again with the links' own backpressure window
// (SEND_HIGH_WATER / SEND_LOW_WATER); the receiver counts what arrives and throws it away.
//
// With BARE_KEEP=<file> the receiver writes what arrives to that file (a ceiling that keeps).
//
// Usage: bare-channel.ts send <signal url> <my secret, base64url> <bytes>
//        bare-channel.ts recv <signal url> <my secret, base64url> <sender's peer id> <bytes>
//        bare-channel.ts send-stdio <bytes>
//
// The roles mirror `mycel get` from a seed, so the two time-to-first-byte figures compare: the
// sender (the "seed") starts first and prints {"ready": true} once the signaling server has
// welcomed it, so it is registered before anyone offers; only then is the receiver started. The
// receiver (the "getter") offers, and its time to first byte counts from its own arrival at the
// signaling server. A refused signal (the sender unknown to the server) fails the run at once.
//
// `send-stdio` is the sender for a Chromium page: signals are JSON lines on stdin/stdout (relayed
// by the bench through page.evaluate), the page offers.
//
// Each side prints one JSON line: the receiver {"bytes", "seconds", "ttfbMs", "openMs", "cpuMs",
// "firstAt", "lastAt"}, the sender {"cpuMs", "firstAt", "lastAt"}. seconds and the receiver's cpuMs
// cover its first byte to its last; openMs runs from reaching the signaling server to the channel's
// open; the sender's cpuMs its first send to the receiver's acknowledgement (process.cpuUsage: user
// + system, every thread). Times *At are ms since the epoch.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { nodeWrtc } from '../../src/node/wrtc.js';
import { bareSignaling } from './bare-signals.js';
import { SignalClient } from '../../src/net/signal-client.js';
import { identityFromSecret } from '../../src/net/identity.js';
import { fromBase64Url } from '../../src/content/bytes.js';
import { randomBytes } from '../../src/content/crypto.js';
import { normalizeSignal } from '../../src/net/peer-link.js';
import { nodeSocketFactory } from '../../src/node/seed.js';
import { CONNECT_TIMEOUT_MS, MAX_MESSAGE_BYTES, SEND_HIGH_WATER, SEND_LOW_WATER } from '../../src/net/limits.js';

/** A connect that never completes (about 5 % on node-datachannel) fails fast, to be retried. */
const OPEN_DEADLINE_MS = CONNECT_TIMEOUT_MS + 5_000;
/** No transfer of bench size takes this long; the run stops by itself whatever happens. */
const RUN_DEADLINE_MS = 300_000;

/**
 * Experiments only (exp-node-channels.ts): the channels opened on the one connection, the message
 * size and the window. The defaults are the links' own, as the bench uses them.
 */
const CHANNELS = Number(process.env.BARE_CHANNELS ?? 1);
const MESSAGE = Number(process.env.BARE_MESSAGE ?? MAX_MESSAGE_BYTES);
const HIGH = Number(process.env.BARE_HIGH ?? SEND_HIGH_WATER);
const LOW = Number(process.env.BARE_LOW ?? SEND_LOW_WATER);
/**
 * The receiver writes what arrives to this file, as a `mycel get` writes its output (the "keeping"
 * ceiling: a get cannot avoid writing the file). Its time and CPU then run until the file is written.
 */
const KEEP = process.env.BARE_KEEP;

const args = process.argv.slice(2);
const role = args[0] as 'send' | 'recv' | 'send-stdio';
const total = Number(args[role === 'send-stdio' ? 1 : role === 'send' ? 3 : 4]);

const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
const print = (value: unknown) => process.stdout.write(JSON.stringify(value) + '\n');
const fail = (code: number, why: string): never => {
  process.stderr.write(`bare channel (${role}): ${why}\n`);
  process.exit(code);
};
setTimeout(() => fail(3, `no complete transfer within ${RUN_DEADLINE_MS / 1000} s`), RUN_DEADLINE_MS).unref();

/** How this side exchanges signals with the other: the signaling server, or stdin/stdout. */
interface Signals {
  /** Resolves when the sender may start: at once, or on {"go": true} from the bench (stdio). */
  readonly go: Promise<void>;
  send(data: Record<string, unknown>): void;
  onSignal(handler: (data: Record<string, unknown>) => void): void;
  close(): void;
}

async function viaServer(
  url: string,
  secret: string,
  other: () => string | undefined,
): Promise<Signals & { reachedAt: number }> {
  const client = new SignalClient({
    url,
    identity: identityFromSecret(fromBase64Url(secret)!),
    createSocket: nodeSocketFactory,
  });
  client.on('rejected', ({ code, message }) => fail(4, `signaling refused a message: ${code} (${message})`));
  client.start();
  await client.ready();
  const reachedAt = performance.now();
  let peer: string | undefined;
  return {
    reachedAt,
    go: Promise.resolve(),
    send: (data) => client.signal(peer ?? other()!, normalizeSignal(data)),
    onSignal: (handler) =>
      client.on('signal', ({ from, data }) => {
        peer ??= from;
        if (from === peer) handler(data);
      }),
    close: () => client.close(),
  };
}

function viaStdio(): Signals {
  const lines = createInterface({ input: process.stdin });
  let started!: () => void;
  const go = new Promise<void>((resolve) => (started = resolve));
  return {
    go,
    send: (data) => print({ signal: normalizeSignal(data) }),
    onSignal: (handler) =>
      lines.on('line', (line) => {
        if (!line.trim()) return;
        const data = JSON.parse(line) as Record<string, unknown>;
        if (data.go) started();
        else handler(data);
      }),
    close: () => lines.close(),
  };
}

/** A peer connection driven by `signals`: candidates wait for the remote description. */
function connection(signals: Signals): RTCPeerConnection {
  // The peers' own stack: node-datachannel's polyfill as src/node/wrtc.ts wraps it (its offers
  // take the DTLS client role, without which a connect waited 1 s for a DTLS retransmit).
  const pc = new nodeWrtc.RTCPeerConnection({ iceServers: [] });
  const onSignal = bareSignaling(pc, (data) => signals.send(data));
  let chain = Promise.resolve();
  signals.onSignal((data) => {
    chain = chain.then(() => onSignal(data));
  });
  return pc;
}

const openDeadline = setTimeout(() => fail(3, `no open channel within ${OPEN_DEADLINE_MS} ms`), OPEN_DEADLINE_MS);

function end(pc: RTCPeerConnection, signals: Signals, code = 0): void {
  // The other side gets a moment to read the last message before the connection goes.
  setTimeout(() => {
    pc.close();
    signals.close();
    process.exit(code);
  }, 200);
}

if (role === 'send' || role === 'send-stdio') {
  const signals = role === 'send' ? await viaServer(args[1]!, args[2]!, () => undefined) : viaStdio();
  const pc = connection(signals);
  let firstAt = 0;
  let cpuAtFirst = 0;
  let opened = 0;
  pc.ondatachannel = ({ channel }) => {
    channel.binaryType = 'arraybuffer';
    channel.bufferedAmountLowThreshold = LOW;
    // Each channel carries its share of the bytes.
    const push = async () => {
      if (++opened === CHANNELS) clearTimeout(openDeadline);
      await signals.go;
      // Random, not zeroed: a page that keeps what arrives (node-bare-keep) stores zeroes far cheaper.
      const message = randomBytes(MESSAGE);
      if (!firstAt) {
        firstAt = Date.now();
        cpuAtFirst = cpuMs();
      }
      const share = Math.ceil(total / CHANNELS);
      for (let sent = 0; sent < share; sent += message.length) {
        channel.send(message.subarray(0, Math.min(message.length, share - sent)));
        if (channel.bufferedAmount > HIGH) {
          await new Promise<void>((resolve) =>
            channel.addEventListener('bufferedamountlow', () => resolve(), { once: true }),
          );
        }
      }
    };
    // The receiver's acknowledgement: everything arrived.
    channel.onmessage = () => {
      print({ cpuMs: cpuMs() - cpuAtFirst, firstAt, lastAt: Date.now() });
      end(pc, signals);
    };
    // A failed send shows as the receiver's timeout in the parent; say it here too.
    const start = () => {
      push().catch((error: unknown) => print({ error: String(error) }));
    };
    if (channel.readyState === 'open') start();
    else channel.onopen = start;
  };
  if (role === 'send') print({ ready: true });
} else {
  const signals = await viaServer(args[1]!, args[2]!, () => args[3]);
  const pc = connection(signals);
  let openedAt = 0;
  let received = 0;
  let started = 0;
  let firstAt = 0;
  let cpuAtFirst = 0;
  const target = Math.ceil(total / CHANNELS) * CHANNELS;
  const sink = KEEP ? createWriteStream(KEEP) : undefined;
  const channels = Array.from({ length: CHANNELS }, (_, i) => pc.createDataChannel(`bare${i}`, { ordered: true }));
  for (const channel of channels) {
    channel.binaryType = 'arraybuffer';
    channel.onopen = () => {
      clearTimeout(openDeadline);
      openedAt ||= performance.now();
    };
    channel.onmessage = async (event: MessageEvent) => {
      if (received === 0) {
        started = performance.now();
        firstAt = Date.now();
        cpuAtFirst = cpuMs();
      }
      const data = event.data as ArrayBuffer;
      received += data.byteLength;
      sink?.write(new Uint8Array(data));
      if (received < target) return;
      if (sink) {
        sink.end();
        await once(sink, 'finish');
      }
      const seconds = (performance.now() - started) / 1000;
      print({
        bytes: received,
        seconds,
        ttfbMs: started - signals.reachedAt,
        openMs: openedAt - signals.reachedAt,
        cpuMs: cpuMs() - cpuAtFirst,
        firstAt,
        lastAt: Date.now(),
      });
      channels[0]!.send(new Uint8Array(1));
      end(pc, signals);
    };
  }
  await pc.setLocalDescription(await pc.createOffer());
  // The description as it goes out (wrtc.ts rewrites the offer's DTLS role there), not createOffer's.
  signals.send({ type: 'offer', sdp: pc.localDescription!.sdp });
}
