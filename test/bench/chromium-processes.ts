// The processes of one Chromium that Playwright launched, seen through that browser's own DevTools
// protocol, so no other Chromium on the machine (other helpers run theirs) is ever counted:
// - which renderer process draws a page: the browser names each frame's process id in its
//   `TracingStartedInBrowser` trace event;
// - CPU time of every process of this browser (`SystemInfo.getProcessInfo`: renderers, the GPU,
//   network and storage services, the browser itself), to split the CPU of a transfer by process;
// - a renderer's resident set size, from /proc/<its pid>/status.
import { readFileSync } from 'node:fs';
import type { Browser, CDPSession, Page } from '@playwright/test';

export interface ProcessCpu {
  /** browser, renderer, GPU, network.mojom.NetworkService, storage.mojom.StorageService, … */
  type: string;
  /** CPU seconds since the process started. */
  seconds: number;
}

export type CpuSnapshot = Map<number, ProcessCpu>;

export class ChromiumProcesses {
  private constructor(
    private readonly browser: Browser,
    private readonly session: CDPSession,
  ) {}

  static async attach(browser: Browser): Promise<ChromiumProcesses> {
    return new ChromiumProcesses(browser, await browser.newBrowserCDPSession());
  }

  /** The pid of the renderer process that runs `page`'s main frame. */
  async rendererOf(page: Page): Promise<number> {
    await this.browser.startTracing(page, { categories: ['disabled-by-default-devtools.timeline', '__metadata'] });
    const trace = JSON.parse((await this.browser.stopTracing()).toString('utf8')) as {
      traceEvents: {
        name: string;
        args?: { data?: { frames?: { processId: number; isOutermostMainFrame?: boolean }[] } };
      }[];
    };
    for (const event of trace.traceEvents) {
      if (event.name !== 'TracingStartedInBrowser') continue;
      const frames = event.args?.data?.frames ?? [];
      const main = frames.find((f) => f.isOutermostMainFrame) ?? frames[0];
      if (main?.processId) return main.processId;
    }
    throw new Error('the browser named no renderer process for the page');
  }

  /** CPU time of every process of this browser now. */
  async cpu(): Promise<CpuSnapshot> {
    const { processInfo } = (await this.session.send('SystemInfo.getProcessInfo' as never)) as unknown as {
      processInfo: { type: string; id: number; cpuTime: number }[];
    };
    return new Map(processInfo.map((p) => [p.id, { type: p.type, seconds: p.cpuTime }]));
  }

  async close(): Promise<void> {
    await this.session.detach().catch(() => undefined); // the page may have closed its session first
  }
}

/** CPU ms each process used between two snapshots (a process that appeared counts from zero). */
export function cpuUsed(before: CpuSnapshot, after: CpuSnapshot): Map<number, { type: string; ms: number }> {
  const used = new Map<number, { type: string; ms: number }>();
  for (const [pid, now] of after) {
    const ms = (now.seconds - (before.get(pid)?.seconds ?? 0)) * 1000;
    used.set(pid, { type: now.type, ms });
  }
  return used;
}

/** Resident set size of `pid` in MB, or 0 once it is gone. */
export function rssMB(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1000;
  } catch {
    return 0;
  }
}
