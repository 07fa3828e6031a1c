// The page's side of streaming (see stream-protocol.ts): the tab that runs the peer accepts the
// service worker's offers and feeds each accepted stream one chunk per pull, verified and decrypted,
// from a reader that fetches the range's blocks first. Other tabs decline.

import {
  STREAM_IDLE_MS,
  STREAM_KEEPALIVE,
  STREAM_KEEPALIVE_MS,
  isStreamOffer,
  type StreamOffer,
  type ToFeeder,
  type ToWorker,
} from './stream-protocol.js';

/**
 * The plaintext of a range, or undefined if this tab does not run the peer. Its chunks are handed
 * over: one that fills its own buffer is transferred to the worker (detached here), so a reader
 * must not keep or reuse it.
 */
export type RangeReader = (offer: StreamOffer) => AsyncIterator<Uint8Array> | undefined;

/** Streams this tab feeds now (while any is open, it keeps the worker alive). */
let openStreams = 0;

function send(port: MessagePort, message: ToWorker, transfer: Transferable[] = []): void {
  port.postMessage(message, transfer);
}

/** Feeds `source` to the worker over `port`, one chunk per pull. */
export function feedPort(port: MessagePort, source: AsyncIterator<Uint8Array>): void {
  openStreams++;
  let closed = false;
  let idle: ReturnType<typeof setTimeout> | undefined;
  // Pulls are served one after another: the worker never has more than one outstanding anyway.
  let chain = Promise.resolve();
  const close = () => {
    if (closed) return;
    closed = true;
    openStreams--;
    clearTimeout(idle);
    port.onmessage = null;
    port.close();
    source.return?.().catch(() => {
      // Ending a reader that already failed: nothing more to tell anyone.
    });
  };
  const armIdle = () => {
    clearTimeout(idle);
    idle = setTimeout(() => {
      send(port, { type: 'error', message: 'the stream was idle too long' });
      close();
    }, STREAM_IDLE_MS);
  };
  armIdle();
  port.onmessage = (event: MessageEvent<ToFeeder>) => {
    if (event.data?.type === 'cancel') return close();
    if (event.data?.type !== 'pull') return;
    armIdle();
    chain = chain.then(async () => {
      if (closed) return;
      try {
        const { done, value } = await source.next();
        if (closed) return;
        if (done) {
          send(port, { type: 'end' });
          return close();
        }
        // A chunk that is its whole buffer (a decrypted block) goes over as it is; a view into a
        // larger buffer is copied first, since transferring would take the rest of that buffer too.
        const whole = value.byteOffset === 0 && value.byteLength === value.buffer.byteLength;
        const bytes = whole ? value : value.slice();
        send(port, { type: 'chunk', bytes }, [bytes.buffer]);
      } catch (error) {
        if (!closed) send(port, { type: 'error', message: (error as Error).message });
        close();
      }
    });
  };
}

/** Answers the service worker's stream offers for as long as the page lives. */
export function feedStreams(reader: RangeReader): void {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.addEventListener('message', (event: MessageEvent) => {
    const port = event.ports[0];
    if (!port || !isStreamOffer(event.data)) return;
    const source = reader(event.data);
    if (!source) {
      send(port, { type: 'decline' });
      port.close();
      return;
    }
    send(port, { type: 'accept' });
    feedPort(port, source);
  });
  navigator.serviceWorker.startMessages();
  setInterval(() => {
    if (openStreams > 0) navigator.serviceWorker.controller?.postMessage({ type: STREAM_KEEPALIVE });
  }, STREAM_KEEPALIVE_MS);
}
