// Why a link cannot be opened right now, told apart quickly and honestly: this device is offline,
// the Mycel server cannot be reached, or the server answers that nobody holding it is online. Each
// is a typed error, so the page can word it and keep watching for a holder to appear.

import type { BlockId } from '../../src/content/format.js';
import { MycelError, NoHolderError, OfflineError, ServerUnreachableError } from '../../src/errors.js';
import type { BrowserPeer } from './browser-peer.js';

/** How long the page waits for the signaling server before saying it cannot be reached. */
export const SERVER_WAIT_MS = 4_000;
/** How often a page that found nobody holding a link asks again. */
export const WATCH_EVERY_MS = 3_000;

/**
 * Resolves when someone holding `root` is online (or this device holds it whole); otherwise
 * throws at once with why not.
 * @throws OfflineError, ServerUnreachableError, NoHolderError
 */
export async function checkAvailable(peer: BrowserPeer, root: BlockId): Promise<void> {
  if ((await peer.library.get(root))?.complete) return;
  if (!navigator.onLine) throw new OfflineError();
  const started = Date.now();
  try {
    await peer.swarm.signaling.ready(SERVER_WAIT_MS);
  } catch (error) {
    if (!navigator.onLine) throw new OfflineError();
    throw new ServerUnreachableError(peer.origin, { cause: error });
  }
  const holders = await peer.swarm.holders(root).catch((error: unknown) => {
    throw new ServerUnreachableError(peer.origin, { cause: error });
  });
  if (holders.length === 0) throw new NoHolderError(root, Date.now() - started);
}

export type Unavailable = 'offline' | 'server' | 'nobody';

/**
 * Which of the three answers an error is, if any (for wording and for watching). Told by code, so
 * an error thrown in the tab that runs the peer and forwarded here (a RemoteTabError) counts too;
 * a server that cannot be reached shares its code with other timeouts, so it is also told by name,
 * which the forwarded error keeps.
 */
export function unavailableKind(error: unknown): Unavailable | undefined {
  if (!(error instanceof MycelError)) return undefined;
  if (error.code === 'OFFLINE') return 'offline';
  if (error.code === 'NO_HOLDER') return 'nobody';
  if (error instanceof ServerUnreachableError) return 'server';
  if (error.code === 'TIMEOUT' && error.name === ServerUnreachableError.name) return 'server';
  return undefined;
}

export const UNAVAILABLE_TEXT: Record<Unavailable, string> = {
  offline: 'You are offline. This link opens once this device is back online.',
  server: 'The Mycel server cannot be reached right now. Check your connection; this page keeps trying.',
  nobody: 'Nobody holding this file is online now. This page keeps watching and opens it when someone is.',
};
