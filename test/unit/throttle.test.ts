// Progress reports rate-limited to what a person can see (web/lib/throttle.ts): a fetch reports
// after every block, the page needs a few updates a second and always the last one.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { throttleLatest } from '../../web/lib/throttle.js';

interface P {
  done: number;
  total: number;
}

describe('throttled progress', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const setup = () => {
    const seen: number[] = [];
    const report = throttleLatest<P>(
      (p) => seen.push(p.done),
      100,
      (p) => p.done >= p.total,
    );
    return { seen, report };
  };

  it('passes the first report at once and the latest of a burst when its interval ends', () => {
    const { seen, report } = setup();
    for (let done = 1; done <= 50; done++) report({ done, total: 100 });
    expect(seen).toEqual([1]);
    vi.advanceTimersByTime(100);
    expect(seen).toEqual([1, 50]);
    // Nothing new: the next interval passes nothing, and the one after that a fresh report at once.
    vi.advanceTimersByTime(100);
    expect(seen).toEqual([1, 50]);
    report({ done: 60, total: 100 });
    expect(seen).toEqual([1, 50, 60]);
  });

  it('passes the final report at once, and drops an older one still waiting', () => {
    const { seen, report } = setup();
    report({ done: 1, total: 3 });
    report({ done: 2, total: 3 });
    report({ done: 3, total: 3 });
    expect(seen).toEqual([1, 3]);
    vi.advanceTimersByTime(1_000);
    expect(seen).toEqual([1, 3]);
  });

  it('passes at most one report per interval however many arrive', () => {
    const { seen, report } = setup();
    for (let t = 0; t < 1_000; t += 5) {
      report({ done: t + 1, total: 10_000 });
      vi.advanceTimersByTime(5);
    }
    expect(seen.length).toBeLessThanOrEqual(11);
    expect(seen.at(-1)).toBeGreaterThan(900);
  });
});
