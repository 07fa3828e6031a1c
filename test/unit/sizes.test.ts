// Sizes as people read and type them (src/sizes.ts): one unit system for the command line and the
// page, so the same file or limit reads the same in both.
import { describe, expect, it } from 'vitest';
import { formatSize, parseSize } from '../../src/sizes.js';
import { formatBytes } from '../../web/lib/format.js';

describe('sizes', () => {
  it('prints a limit as the binary size it was set with', () => {
    expect(formatSize(parseSize('1GiB')!)).toBe('1.00 GiB');
    expect(formatSize(parseSize('10GiB')!)).toBe('10.0 GiB');
    expect(formatSize(parseSize('500MiB')!)).toBe('500 MiB');
  });

  it('prints small sizes in bytes and no limit as ∞', () => {
    expect(formatSize(512)).toBe('512 B');
    expect(formatSize(Infinity)).toBe('∞');
  });

  it('shows a file on the page as the command line prints it', () => {
    const size = 3 * 1024 * 1024 + 5;
    expect(formatBytes(size)).toBe(formatSize(size));
    expect(formatBytes(size)).toBe('3.00 MiB');
  });

  it('shows an unknown size on the page as a dash', () => {
    expect(formatBytes(undefined)).toBe('—');
  });
});
