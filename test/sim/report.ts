// The simulation's table: one row per figure, one column per setting, for people; the same figures
// go to JSON for machines.
import type { Metrics, Setting } from './engine.js';

export interface Column {
  setting: Setting;
  metrics: Metrics;
}

const GB = 1e9;
const int = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '∞');
const dec = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : '∞');
const pair = (a: string, b: string) => `${a} / ${b}`;
const lastDays = (m: Metrics, n: number) => {
  const days = m.daily.slice(-n);
  return days.reduce((a, d) => a + d.repairBytes, 0) / Math.max(1, days.length);
};

const ROWS: [string, (m: Metrics) => string][] = [
  ['files created', (m) => int(m.filesCreated)],
  ['files lost: no copy left anywhere', (m) => int(m.filesLost)],
  ['unavailable: no live copy, mean / max', (m) => pair(dec(m.unavailable.mean), int(m.unavailable.max))],
  ['file-hours unavailable', (m) => int(m.fileHoursUnavailable)],
  ['at risk: < minimum present, mean / max', (m) => pair(dec(m.belowMinimum.mean), int(m.belowMinimum.max))],
  ['< 2 live copies of any kind, mean / max', (m) => pair(dec(m.fewerThanTwoLive.mean), int(m.fewerThanTwoLive.max))],
  ['below target, mean / max', (m) => pair(dec(m.belowTarget.mean, 0), int(m.belowTarget.max))],
  ['opens that found no live copy', (m) => int(m.openFailures)],
  ['repair pushes / day, mean / max', (m) => pair(int(m.repairPushesPerDay.mean), int(m.repairPushesPerDay.max))],
  ['repair GB / day, mean / max', (m) => pair(int(m.repairBytesPerDay.mean / GB), int(m.repairBytesPerDay.max / GB))],
  ['repair GB / day, mean of the last 10 days', (m) => int(lastDays(m, 10) / GB)],
  ['upload placement GB / day', (m) => int(m.placementBytesPerDay / GB)],
  ['pushes before grace ended (< minimum)', (m) => int(m.pushesBelowMinimum)],
  ['failed transfers', (m) => int(m.failedTransfers)],
  ['seed copies released / day', (m) => int(m.releasesPerDay)],
  ['seed copies per file', (m) => dec(m.seedCopiesPerFile)],
  ['seed storage, TB', (m) => dec(m.seedTerabytes, 1)],
  ['seed load, files: max/min, max/mean', (m) => pair(dec(m.loadFiles.maxMin), dec(m.loadFiles.maxMean))],
  ['seed load, bytes: max/min, max/mean', (m) => pair(dec(m.loadBytes.maxMin), dec(m.loadBytes.maxMean))],
  [
    'bad copies caught: audit / push / not yet',
    (m) => `${int(m.caughtByAudit)} / ${int(m.caughtByTransfer)} / ${int(m.undetectedAtEnd)}`,
  ],
  ['hours to catch a bad copy, mean / max', (m) => pair(dec(m.detectHours.mean, 1), dec(m.detectHours.max, 1))],
  ['run time, s', (m) => dec(m.runSeconds, 1)],
];

export function formatTable(columns: Column[]): string {
  const head = ['', ...columns.map((c) => c.setting.name)];
  const rows = [head, ...ROWS.map(([label, f]) => [label, ...columns.map((c) => f(c.metrics))])];
  const widths = head.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  const legend = columns.map((c) => `  ${c.setting.name}: ${c.setting.label}`).join('\n');
  return [line(rows[0]!), line(widths.map((w) => '-'.repeat(w))), ...rows.slice(1).map(line), '', legend].join('\n');
}
