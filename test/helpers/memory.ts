// The resident memory of another process, sampled from /proc/<pid>/status while an attack runs.

import { promises as fs } from 'node:fs';

export async function rssOf(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!kib) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kib[1]) * 1024;
}

export interface RssSampler {
  readonly before: number;
  /** The highest sample so far. */
  peak(): number;
  /** Stops sampling; resolves with the last sample. */
  stop(): Promise<number>;
}

/** Samples `pid`'s RSS every `everyMs` until stopped. */
export async function sampleRss(pid: number, everyMs = 50): Promise<RssSampler> {
  const before = await rssOf(pid);
  let peak = before;
  const timer = setInterval(() => {
    rssOf(pid).then(
      (rss) => (peak = Math.max(peak, rss)),
      () => {
        // The process ended between samples: the peak so far stands.
      },
    );
  }, everyMs);
  return {
    before,
    peak: () => peak,
    async stop() {
      clearInterval(timer);
      const last = await rssOf(pid);
      peak = Math.max(peak, last);
      return last;
    },
  };
}

export const MiB = 1024 * 1024;

export function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(0)} MiB`;
}
