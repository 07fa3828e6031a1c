// Human byte sizes, read and printed the same way by the command line and the page. Flags accept
// either system ("10GiB", "500MB", "4096"); sizes are always printed in binary units (KiB, MiB,
// GiB), because the limits people set are binary (`--quota 10GiB`, chunks of at most 1 MiB) and a limit
// must print as what was typed: 1GiB as "1.00 GiB", not "1.07 GB". "MB" is also ambiguous (many
// systems print binary sizes under it); "MiB" is not.

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  kib: 2 ** 10,
  m: 1e6,
  mb: 1e6,
  mib: 2 ** 20,
  g: 1e9,
  gb: 1e9,
  gib: 2 ** 30,
  t: 1e12,
  tb: 1e12,
  tib: 2 ** 40,
};

/** Parses a size; returns undefined for anything that is not a positive size. */
export function parseSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!match) return undefined;
  const unit = UNITS[match[2]!.toLowerCase()];
  if (unit === undefined) return undefined;
  const value = Math.floor(Number(match[1]) * unit);
  return value > 0 && Number.isSafeInteger(value) ? value : undefined;
}

/** `bytes` for people: "512 B", "3.00 MiB", "10.0 GiB", "∞" for no limit. */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes)) return '∞';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return i === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${units[i]}`;
}
