// A fetch reports its progress once per block: four times per MB, each one broadcast to every tab
// (tab-link.ts) and redrawn. While a file streams in at tens of MB/s that is a hundred reports a
// second, for a bar nobody reads that fast, on the thread that also feeds the download. Reports pass
// at most once per FETCH_PROGRESS_EVERY_MS; the one held back meanwhile goes when that time is up, so
// the last state is never lost, and a report of the fetch's end goes at once.

import type { FetchProgress } from '../../src/net/fetch-scheduler.js';

/** Fetch progress reaches the page's views at most this often (as download reports do). */
export const FETCH_PROGRESS_EVERY_MS = 250;

export function throttleProgress<P extends FetchProgress>(
  report: (progress: P) => void,
  everyMs = FETCH_PROGRESS_EVERY_MS,
): (progress: P) => void {
  let last = -Infinity;
  let held: P | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const send = () => {
    clearTimeout(timer);
    timer = undefined;
    const progress = held!;
    held = undefined;
    last = Date.now();
    report(progress);
  };
  return (progress) => {
    held = progress;
    const ended = progress.blocksTotal > 0 && progress.blocksDone >= progress.blocksTotal;
    const wait = last + everyMs - Date.now();
    if (ended || wait <= 0) send();
    else timer ??= setTimeout(send, wait);
  };
}
