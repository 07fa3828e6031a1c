// A link as a QR code: the module matrix from uqr (pure JavaScript, no dependencies), drawn by the
// page as one SVG path, so no markup from a library is ever injected into the document.

import { encode } from 'uqr';

export interface QrPath {
  /** Modules a side, quiet zone included. */
  readonly size: number;
  /** An SVG path drawing every dark module as a 1×1 square. */
  readonly d: string;
}

/** Border of light modules around the code, as the QR standard asks for scanners. */
const QUIET_ZONE = 4;

export function qrPath(text: string): QrPath {
  const { data, size } = encode(text, { border: QUIET_ZONE, ecc: 'M' });
  const parts: string[] = [];
  data.forEach((row, y) =>
    row.forEach((dark, x) => {
      if (dark) parts.push(`M${x} ${y}h1v1h-1z`);
    }),
  );
  return { size, d: parts.join('') };
}
