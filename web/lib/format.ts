// Display helpers for the UI.

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

export type Viewer = 'image' | 'audio' | 'video' | 'pdf' | undefined;

/** How a file of this media type can be shown in the page, if at all. */
export function viewerFor(mediaType: string): Viewer {
  if (/^image\/(png|jpeg|gif|webp|avif|svg\+xml|bmp)$/.test(mediaType)) return 'image';
  if (mediaType.startsWith('audio/')) return 'audio';
  if (mediaType.startsWith('video/')) return 'video';
  if (mediaType === 'application/pdf') return 'pdf';
  return undefined;
}

export function copiesText(peers: number, here: boolean): string {
  const total = peers + (here ? 1 : 0);
  const parts = [`${peers} peer${peers === 1 ? '' : 's'}`];
  if (here) parts.push('this device');
  return `${total} live cop${total === 1 ? 'y' : 'ies'} (${parts.join(' + ')})`;
}
