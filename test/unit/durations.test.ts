import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/node/durations.js';

describe('durations on the command line', () => {
  it('reads days, hours, minutes, seconds and milliseconds; a bare number is seconds', () => {
    expect(['30d', '12h', '90m', '45s', '500ms', '20', '1.5h'].map(parseDuration)).toEqual([
      30 * 86_400_000,
      12 * 3_600_000,
      90 * 60_000,
      45_000,
      500,
      20_000,
      5_400_000,
    ]);
  });

  it('refuses anything that is not a positive duration', () => {
    expect(['', '0', '-3d', '3x', 'd', '1e3s'].map(parseDuration)).toEqual(Array(6).fill(undefined));
  });
});
