// Human durations for command-line flags: "30d", "12h", "90m", "45s", "500ms"; a bare number is
// seconds.

const UNITS: Record<string, number> = {
  ms: 1,
  '': 1000,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** Milliseconds, or undefined for anything that is not a positive duration. */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|)\s*$/i.exec(text);
  if (!match) return undefined;
  const ms = Math.round(Number(match[1]) * UNITS[match[2]!.toLowerCase()]!);
  return ms > 0 && Number.isSafeInteger(ms) ? ms : undefined;
}
