// The service worker's side of streaming a file the device does not hold whole: a ReadableStream
// whose chunks come from the tab that runs the peer (see stream-protocol.ts). If that tab goes
// away mid-stream (closed, reloaded), the rest of the range is asked of whichever tab runs the
// peer next, from the first byte not yet delivered, so a download survives the hand-over.

import { AbortError, UnavailableError } from '../../src/errors.js';
import {
  STREAM_ACCEPT_MS,
  STREAM_CHUNKS_BUFFERED,
  STREAM_FEEDER_CHECK_MS,
  STREAM_NO_PEER_MS,
  STREAM_OFFER,
  STREAM_RETRY_MS,
  type StreamOffer,
  type ToFeeder,
  type ToWorker,
} from './stream-protocol.js';

/** What the worker needs of `self.clients`: the windows it may offer a stream to. */
export interface StreamClients {
  windows(): Promise<
    ReadonlyArray<{ readonly id: string; postMessage(message: unknown, transfer: Transferable[]): void }>
  >;
  isOpen(id: string): Promise<boolean>;
}

interface Feeder {
  readonly port: MessagePort;
  readonly clientId: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function offerTo(
  client: { readonly id: string; postMessage(message: unknown, transfer: Transferable[]): void },
  offer: StreamOffer,
): Promise<Feeder | undefined> {
  const channel = new MessageChannel();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      channel.port1.close();
      resolve(undefined);
    }, STREAM_ACCEPT_MS);
    channel.port1.onmessage = (event: MessageEvent<ToWorker>) => {
      clearTimeout(timer);
      channel.port1.onmessage = null;
      if (event.data?.type === 'accept') return resolve({ port: channel.port1, clientId: client.id });
      channel.port1.close();
      resolve(undefined);
    };
    client.postMessage(offer, [channel.port2]);
  });
}

/**
 * Offers the stream to every window; the first that accepts feeds it (normally only one does), and
 * any later one is told to stop. Undefined once every window declined or did not answer in time.
 */
function offerToAll(
  clients: ReadonlyArray<Parameters<typeof offerTo>[0]>,
  offer: StreamOffer,
): Promise<Feeder | undefined> {
  return new Promise((resolve) => {
    let chosen: Feeder | undefined;
    let waiting = clients.length;
    if (waiting === 0) resolve(undefined);
    for (const client of clients) {
      offerTo(client, offer)
        .then((feeder) => {
          if (feeder && !chosen) {
            chosen = feeder;
            resolve(feeder);
          } else if (feeder) {
            feeder.port.postMessage({ type: 'cancel' } satisfies ToFeeder);
            feeder.port.close();
          }
        })
        .catch(() => {
          // A window that could not be messaged is simply not a feeder.
        })
        .finally(() => {
          if (--waiting === 0 && !chosen) resolve(undefined);
        });
    }
  });
}

async function findFeeder(clients: StreamClients, offer: StreamOffer): Promise<Feeder> {
  const deadline = Date.now() + STREAM_NO_PEER_MS;
  for (;;) {
    const windows = await clients.windows();
    // No window of the app at all: nothing will take over either.
    if (windows.length === 0) throw new UnavailableError('open Mycel in a tab to fetch this file');
    const chosen = await offerToAll(windows, offer);
    if (chosen) return chosen;
    if (Date.now() >= deadline) throw new UnavailableError('no open Mycel tab can fetch this file right now');
    await sleep(STREAM_RETRY_MS);
  }
}

type Pulled = { kind: 'chunk'; bytes: Uint8Array } | { kind: 'end' } | { kind: 'gone' };

/** One chunk from `feeder`, or 'gone' if its tab closed while we waited. */
function pull(feeder: Feeder, clients: StreamClients): Promise<Pulled> {
  return new Promise((resolve, reject) => {
    const check = setInterval(() => {
      clients
        .isOpen(feeder.clientId)
        .then((open) => {
          if (open) return;
          finish();
          resolve({ kind: 'gone' });
        })
        .catch(() => {
          // Could not ask: the next check asks again.
        });
    }, STREAM_FEEDER_CHECK_MS);
    const finish = () => {
      clearInterval(check);
      feeder.port.onmessage = null;
    };
    feeder.port.onmessage = (event: MessageEvent<ToWorker>) => {
      const message = event.data;
      finish();
      if (message.type === 'chunk' && message.bytes instanceof Uint8Array)
        resolve({ kind: 'chunk', bytes: message.bytes });
      else if (message.type === 'end') resolve({ kind: 'end' });
      else if (message.type === 'error') reject(new UnavailableError(message.message));
      else reject(new UnavailableError('the tab feeding this file broke the stream protocol'));
    };
    feeder.port.postMessage({ type: 'pull' } satisfies ToFeeder);
  });
}

/**
 * The plaintext of [start, end) of file `root`, fed by the tab that runs the peer; resolves once a
 * tab took it on (so the answer can still be an error status if none does). The stream pulls a
 * chunk only when its queue has room, so memory stays bounded whatever the file's size.
 * @throws UnavailableError if no tab takes it on.
 */
export async function streamFromPeerTab(
  clients: StreamClients,
  root: string,
  start: number,
  end: number,
): Promise<ReadableStream<Uint8Array>> {
  let offset = start;
  let feeder = start < end ? await findFeeder(clients, { type: STREAM_OFFER, root, start, end }) : undefined;
  let cancelled = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        for (;;) {
          // With a feeder, even the last byte delivered is followed by one more pull: its 'end' lets
          // the tab finish its reader (and mark the file held whole).
          if (offset >= end && !feeder) return controller.close();
          feeder ??= await findFeeder(clients, { type: STREAM_OFFER, root, start: offset, end });
          if (cancelled) throw new AbortError('stream cancelled');
          const got = await pull(feeder, clients);
          if (got.kind === 'gone') {
            feeder.port.close();
            feeder = undefined;
            continue;
          }
          if (got.kind === 'end') {
            feeder.port.close();
            if (offset < end) throw new UnavailableError('the file ended before the range did');
            return controller.close();
          }
          if (got.bytes.length > end - offset) throw new UnavailableError('the tab sent more bytes than asked');
          offset += got.bytes.length;
          controller.enqueue(got.bytes);
          return;
        }
      },
      cancel() {
        cancelled = true;
        feeder?.port.postMessage({ type: 'cancel' } satisfies ToFeeder);
        feeder?.port.close();
      },
    },
    new CountQueuingStrategy({ highWaterMark: STREAM_CHUNKS_BUFFERED }),
  );
}
