// Speed, time left and the words the page shows for an add or a download (web/lib/transfer-rate.ts).
import { describe, expect, it } from 'vitest';
import { formatDuration, percentDone, progressText, RateMeter } from '../../web/lib/transfer-rate.js';

const MiB = 1024 * 1024;

describe('how fast a transfer goes', () => {
  it('gives no speed until enough time has passed to measure one', () => {
    const meter = new RateMeter(10 * MiB);
    expect(meter.update(0, 0)).toEqual({});
    expect(meter.update(MiB, 100)).toEqual({});
  });

  it('measures the speed over the recent window, so a stall shows as a falling speed', () => {
    const meter = new RateMeter(100 * MiB);
    for (let s = 0; s <= 10; s++) meter.update(s * MiB, s * 1000);
    expect(meter.update(11 * MiB, 11_000).bytesPerSecond).toBe(MiB);
    // No bytes for 5 s: the speed over the last window is far below the average since the start.
    let rate = meter.update(11 * MiB, 12_000);
    for (let s = 13; s <= 16; s++) rate = meter.update(11 * MiB, s * 1000);
    expect(rate.bytesPerSecond).toBeLessThan(MiB / 4);
  });

  it('says how long is left at the current speed', () => {
    const meter = new RateMeter(10 * MiB);
    meter.update(0, 0);
    expect(meter.update(2 * MiB, 2000).secondsLeft).toBe(8);
  });
});

describe('the words shown', () => {
  it('never says 100% before the end', () => {
    expect(percentDone(999, 1000)).toBe(99);
    expect(percentDone(1000, 1000)).toBe(100);
    expect(percentDone(0, 0)).toBe(0);
  });

  it('rounds a time left up to what a person reads', () => {
    expect(formatDuration(0.2)).toBe('1 s');
    expect(formatDuration(59)).toBe('59 s');
    expect(formatDuration(61)).toBe('2 min');
    expect(formatDuration(3600)).toBe('1 h');
    expect(formatDuration(3900)).toBe('1 h 5 min');
  });

  it('puts percentage, bytes, speed and time left on one line, leaving out what is not known', () => {
    expect(progressText(MiB, 4 * MiB, {})).toBe('25% · 1.00 MiB of 4.00 MiB');
    expect(progressText(MiB, 4 * MiB, { bytesPerSecond: 512 * 1024, secondsLeft: 6 })).toBe(
      '25% · 1.00 MiB of 4.00 MiB · 512 KiB/s · 6 s left',
    );
  });
});
