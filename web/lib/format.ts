// Display helpers for the UI.

import { presentationFor, type Viewer } from '../../src/content/presentation.js';

export type { Viewer };

export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let i = 0;
  while (value >= 1000 && i < units.length - 1) {
    value /= 1000;
    i++;
  }
  return i === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[i]}`;
}

/**
 * How a file of this declared media type can be shown in the page, if at all: only what the
 * service worker serves inline (file-policy.ts), so the page never offers a view of a file that
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
