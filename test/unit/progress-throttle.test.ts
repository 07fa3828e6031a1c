// A fetch's progress reaches the page's views and other tabs throttled (web/lib/progress-throttle.ts):
// a file streaming in does not flood them with a report per block, yet the views always end on the
// latest state, and the fetch's end shows at once. Fake timers: the throttle is about time itself.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FetchProgress } from '../../src/net/fetch-scheduler.js';
import { FETCH_PROGRESS_EVERY_MS, throttleProgress } from '../../web/lib/progress-throttle.js';

const at = (blocksDone: number, blocksTotal = 100): FetchProgress => ({
  blocksDone,
  blocksTotal,
  bytesFetched: blocksDone * 1000,
  sources: 1,
});

/** A throttled report and the blocksDone of each report it let through. */
function watched() {
  const seen: number[] = [];
  return { seen, report: throttleProgress((p: FetchProgress) => seen.push(p.blocksDone)) };
}

describe('fetch progress for the views', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('passes the first report, then at most one per interval, ending on the latest', () => {
    const { seen, report } = watched();
    for (let done = 1; done <= 50; done++) report(at(done));
    expect(seen).toEqual([1]);
    vi.advanceTimersByTime(FETCH_PROGRESS_EVERY_MS);
    expect(seen).toEqual([1, 50]);
    // Nothing new: nothing more is reported.
    vi.advanceTimersByTime(10 * FETCH_PROGRESS_EVERY_MS);
    expect(seen).toEqual([1, 50]);
  });

  it('passes a report of the end at once, and nothing stale after it', () => {
    const { seen, report } = watched();
    report(at(1));
    report(at(60));
    report(at(100));
    expect(seen).toEqual([1, 100]);
    vi.advanceTimersByTime(10 * FETCH_PROGRESS_EVERY_MS);
    expect(seen).toEqual([1, 100]);
  });

  it('lets a report through at once after a quiet interval', () => {
    const { seen, report } = watched();
    report(at(1));
    vi.advanceTimersByTime(FETCH_PROGRESS_EVERY_MS + 1);
    report(at(2));
    expect(seen).toEqual([1, 2]);
  });
});
