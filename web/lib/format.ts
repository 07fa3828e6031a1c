// Display helpers for the UI.

import { presentationFor, type Viewer } from '../../src/content/presentation.js';
import { formatSize } from '../../src/sizes.js';

export type { Viewer };

/** A size as the command line prints it (src/sizes.ts); "—" when it is not known. */
export function formatBytes(bytes: number | undefined): string {
  return bytes === undefined || !Number.isFinite(bytes) ? '—' : formatSize(bytes);
}

/**
 * How a file of this declared media type can be shown in the page, if at all: only what the
 * service worker serves inline (src/content/presentation.ts), so the page never offers a view of a file that
 * would download or, worse, render as a document.
 */
export function viewerFor(mediaType: string): Viewer | undefined {
  return presentationFor(mediaType).viewer;
}

export function copiesText(peers: number, here: boolean): string {
  const total = peers + (here ? 1 : 0);
  const parts = [`${peers} peer${peers === 1 ? '' : 's'}`];
  if (here) parts.push('this device');
  return `${total} live cop${total === 1 ? 'y' : 'ies'} (${parts.join(' + ')})`;
}
