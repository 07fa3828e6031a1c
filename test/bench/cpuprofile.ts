// Reads a V8 CPU profile (`node --cpu-prof`, or Chromium's Profiler.stop through CDP) and tells
// where the sampled thread's time went: self time per source file (ours by path under the repo,
// dependencies by package, V8's own entries such as "(garbage collector)" and "(idle)" as they are),
// and inclusive time of chosen functions.
// Usage: npx tsx test/bench/cpuprofile.ts <file.cpuprofile> [function name …]
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
  hitCount?: number;
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a frame's code lives, short: "src/net/wire.ts", "simple-peer", "node:internal/…", "(idle)". */
export function bucketOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : `(native) ${functionName || 'anonymous'}`;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  const ours = /\/(src|web|signaling|test)\/(.+?)(\?.*)?$/.exec(url);
  if (ours) return `${ours[1]}/${ours[2]}`;
  if (url.startsWith('node:')) return url.replace(/^(node:internal\/[^/]+).*/, '$1');
  return url.replace(/^.*\//, '');
}

export interface ProfileSummary {
  totalMs: number;
  selfMs: Map<string, number>;
  inclusiveMs: Map<string, number>;
}

export function summarize(profile: Profile, functions: string[] = []): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfById = new Map<number, number>();
  // Each sample is charged the time until the next one (the last one gets nothing).
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    selfById.set(profile.samples[i]!, (selfById.get(profile.samples[i]!) ?? 0) + dt);
  }
  const selfMs = new Map<string, number>();
  const inclusiveMs = new Map<string, number>();
  let totalMs = 0;
  for (const [id, ms] of selfById) {
    const node = byId.get(id)!;
    totalMs += ms;
    const bucket = bucketOf(node.callFrame);
    selfMs.set(bucket, (selfMs.get(bucket) ?? 0) + ms);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const name = byId.get(at)!.callFrame.functionName;
      if (functions.includes(name) && !seen.has(name)) {
        seen.add(name);
        inclusiveMs.set(name, (inclusiveMs.get(name) ?? 0) + ms);
      }
    }
  }
  return { totalMs, selfMs, inclusiveMs };
}

export function printSummary(summary: ProfileSummary, perMB?: number, top = 25): void {
  const rows = [...summary.selfMs].sort((a, b) => b[1] - a[1]).slice(0, top);
  const fmt = (ms: number) =>
    `${ms.toFixed(0).padStart(7)} ms${perMB ? `  ${(ms / perMB).toFixed(2).padStart(6)} ms/MB` : ''}`;
  console.log(`sampled ${summary.totalMs.toFixed(0)} ms`);
  for (const [bucket, ms] of rows) console.log(`${fmt(ms)}  ${bucket}`);
  for (const [name, ms] of summary.inclusiveMs) console.log(`${fmt(ms)}  [inclusive] ${name}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, ...functions] = process.argv.slice(2);
  printSummary(summarize(JSON.parse(readFileSync(file!, 'utf8')) as Profile, functions));
}
