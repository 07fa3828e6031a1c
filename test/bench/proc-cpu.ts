// CPU time of other processes, read from /proc/<pid>/stat (utime + stime, every thread), sampled
// often enough to take the CPU a long-running process (a seed) spent within a window that another
// process reports (first to last byte of a transfer).
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const SAMPLE_EVERY_MS = 20;

/** CPU ms `pid` has used so far, or undefined once it is gone. */
export function processCpuMs(pid: number): number | undefined {
  try {
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** Samples one process's CPU time until stopped; answers for any window inside the sampling. */
export class CpuSampler {
  private readonly samples: { at: number; cpu: number }[] = [];
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(readonly pid: number) {
    const sample = () => {
      const cpu = processCpuMs(pid);
      if (cpu !== undefined) this.samples.push({ at: Date.now(), cpu });
    };
    sample();
    this.timer = setInterval(sample, SAMPLE_EVERY_MS);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** CPU ms used between two epoch times, interpolated between the samples around them. */
  between(from: number, to: number): number {
    return this.at(to) - this.at(from);
  }

  private at(time: number): number {
    const s = this.samples;
    if (s.length === 0) return 0;
    if (time <= s[0]!.at) return s[0]!.cpu;
    for (let i = 1; i < s.length; i++) {
      if (s[i]!.at >= time) {
        const [a, b] = [s[i - 1]!, s[i]!];
        return a.cpu + ((b.cpu - a.cpu) * (time - a.at)) / Math.max(1, b.at - a.at);
      }
    }
    return s[s.length - 1]!.cpu;
  }
}
