// What the service worker and the tab that runs the peer say to each other to stream a file the
// device does not hold whole. WebRTC does not exist in service workers, so the worker hands such a
// request to a window: it offers each open tab a MessageChannel, the tab that runs the peer accepts
// and the others decline. Over the accepted port the worker pulls one chunk at a time (a credit per
// chunk), so no more than STREAM_CHUNKS_BUFFERED chunks sit between the fetch and the reader.

/** Sent by the worker to every window, with a MessagePort. */
export interface StreamOffer {
  readonly type: 'mycel-stream';
  readonly root: string;
  /** Plaintext byte range, end exclusive. */
  readonly start: number;
  readonly end: number;
}

export const STREAM_OFFER = 'mycel-stream';

/** Worker to tab, over the port. */
export type ToFeeder = { readonly type: 'pull' } | { readonly type: 'cancel' };

/** Tab to worker, over the port. */
export type ToWorker =
  | { readonly type: 'accept' }
  | { readonly type: 'decline' }
  | { readonly type: 'chunk'; readonly bytes: Uint8Array }
  | { readonly type: 'end' }
  | { readonly type: 'error'; readonly message: string };

/** Chunks (each at most one block's plaintext) the worker queues ahead of the response's reader. */
export const STREAM_CHUNKS_BUFFERED = 4;
/** How long one tab has to answer an offer. */
export const STREAM_ACCEPT_MS = 3_000;
/** How long the worker keeps offering a stream while no tab runs the peer (one is taking over). */
export const STREAM_NO_PEER_MS = 30_000;
/** Pause between rounds of offers while no tab accepts. */
export const STREAM_RETRY_MS = 250;
/** While waiting for a chunk, the worker checks this often that the feeding tab is still open. */
export const STREAM_FEEDER_CHECK_MS = 1_000;
/** A stream nobody pulled from for this long is closed by the tab (a paused, forgotten player). */
export const STREAM_IDLE_MS = 120_000;

/**
 * While it feeds a stream, the tab messages the worker this often: an event from a client keeps a
 * worker alive, messages over a port alone may not (a long download would be cut).
 */
export const STREAM_KEEPALIVE_MS = 20_000;
export const STREAM_KEEPALIVE = 'mycel-keepalive';
/**
 * A page the service worker does not control asks it to: a page still loading when the worker
 * activated is skipped by its clients.claim(), and would otherwise stay uncontrolled (no downloads,
 * no views) until reloaded.
 */
export const CLAIM_ME = 'mycel-claim';

export function isStreamOffer(data: unknown): data is StreamOffer {
  const offer = data as Partial<StreamOffer> | null;
  return (
    offer?.type === STREAM_OFFER &&
    typeof offer.root === 'string' &&
    Number.isSafeInteger(offer.start) &&
    Number.isSafeInteger(offer.end)
  );
}
