// How fast a transfer (an add, a download) goes and how long it has left, from the byte counts it
// reports, and the words the page shows for it. The speed is taken over the last few seconds, so a
// stall shows as a falling speed rather than a frozen average since the start.

import { formatSize } from '../../src/sizes.js';

/** The span of recent samples the speed is measured over. */
export const RATE_WINDOW_MS = 5_000;
/** Below this much measured time, a speed (and so a time left) would be noise: none is given. */
export const RATE_MIN_SPAN_MS = 500;

export interface Rate {
  /** Bytes per second over the recent window; undefined until enough time has passed. */
  readonly bytesPerSecond?: number;
  /** Seconds left at that speed; undefined without a speed, or when it is 0. */
  readonly secondsLeft?: number;
}

export class RateMeter {
  private readonly samples: Array<{ at: number; bytes: number }> = [];

  constructor(private readonly total: number) {}

  /** Records `bytes` done so far at time `at` (ms) and returns the rate now. */
  update(bytes: number, at: number): Rate {
    this.samples.push({ at, bytes });
    while (this.samples.length > 2 && at - this.samples[1]!.at >= RATE_WINDOW_MS) this.samples.shift();
    const first = this.samples[0]!;
    const span = at - first.at;
    if (span < RATE_MIN_SPAN_MS) return {};
    const bytesPerSecond = Math.max(0, ((bytes - first.bytes) * 1000) / span);
    if (bytesPerSecond === 0) return { bytesPerSecond };
    return { bytesPerSecond, secondsLeft: Math.max(0, this.total - bytes) / bytesPerSecond };
  }
}

/** "45 s", "3 min", "1 h 5 min": a time left, rounded up to what a person reads. */
export function formatDuration(seconds: number): string {
  const s = Math.ceil(seconds);
  if (s < 60) return `${s} s`;
  const minutes = Math.ceil(s / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest === 0 ? `${hours} h` : `${hours} h ${rest} min`;
}

/** Whole percent done, never 100 before the end. */
export function percentDone(done: number, total: number): number {
  if (total <= 0) return done > 0 ? 100 : 0;
  if (done >= total) return 100;
  return Math.min(99, Math.floor((100 * done) / total));
}

/** "45% · 1.20 MiB of 3.00 MiB · 800 KiB/s · 3 s left", parts left out when not known. */
export function progressText(done: number, total: number, rate: Rate): string {
  const parts = [`${percentDone(done, total)}%`, `${formatSize(done)} of ${formatSize(total)}`];
  if (rate.bytesPerSecond !== undefined) parts.push(`${formatSize(Math.round(rate.bytesPerSecond))}/s`);
  if (rate.secondsLeft !== undefined && done < total) parts.push(`${formatDuration(rate.secondsLeft)} left`);
  return parts.join(' · ');
}
