// Samples this process's resident set size while some work runs, for peak-memory figures.

export interface RssReport {
  baselineMB: number;
  peakMB: number;
}

export async function measureRss<T>(work: () => Promise<T>, everyMs = 25): Promise<{ result: T } & RssReport> {
  (globalThis as { gc?: () => void }).gc?.();
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, everyMs);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { result, baselineMB: baseline / 1e6, peakMB: peak / 1e6 };
  } finally {
    clearInterval(timer);
  }
}
