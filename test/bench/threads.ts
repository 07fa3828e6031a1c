// CPU time per thread of chosen processes, from /proc/<pid>/task/<tid>/{comm,stat}: where a
// process's CPU goes between its JS main thread, its WebRTC/SCTP threads, crypto and I/O worker
// pools. Chromium and node-datachannel name their threads (CrRendererMain, WebRTC_Network,
// ThreadPoolForeg…, libuv-worker, …), so a split by name needs no symbols.
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

export type ThreadSnapshot = Map<string, { pid: number; name: string; ms: number }>;

/** CPU ms of every thread of `pids` now, keyed "pid/tid". */
export function threadSnapshot(pids: Iterable<number>): ThreadSnapshot {
  const out: ThreadSnapshot = new Map();
  for (const pid of pids) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        // The main thread is told apart from pool threads that inherited its name (Node's libuv pool).
        const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
        const name = tid === String(pid) ? `${comm} (main thread)` : comm;
        out.set(`${pid}/${tid}`, {
          pid,
          name,
          ms: ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND,
        });
      } catch {
        // the thread ended
      }
    }
  }
  return out;
}

/**
 * CPU ms per (label of the process, thread name with digits folded: "ThreadPoolForeg", "libuv-worker")
 * between two snapshots. `label` names a pid (e.g. "receiver renderer"); unknown pids are skipped.
 */
export function threadUse(
  before: ThreadSnapshot,
  after: ThreadSnapshot,
  label: (pid: number) => string | undefined,
): Map<string, number> {
  const use = new Map<string, number>();
  for (const [key, now] of after) {
    const who = label(now.pid);
    if (!who) continue;
    const ms = now.ms - (before.get(key)?.ms ?? 0);
    if (ms <= 0) continue;
    const name = `${who} · ${now.name.replace(/\d+$/, '').replace(/[-_:.]+$/, '') || now.name}`;
    use.set(name, (use.get(name) ?? 0) + ms);
  }
  return use;
}

/** Samples thread snapshots every `everyMs` until stopped, so a process that exits is still seen. */
export function sampleThreads(pids: () => number[], everyMs = 50): { stop(): ThreadSnapshot; first: ThreadSnapshot } {
  const first = threadSnapshot(pids());
  const latest: ThreadSnapshot = new Map(first);
  const timer = setInterval(() => {
    for (const [key, value] of threadSnapshot(pids())) latest.set(key, value);
  }, everyMs);
  return {
    first,
    stop() {
      clearInterval(timer);
      for (const [key, value] of threadSnapshot(pids())) latest.set(key, value);
      return latest;
    },
  };
}
