// Loaded with `node --import` into a process under measurement: samples its RSS every 20 ms and,
// at exit, writes the peak (MB) as JSON to the file named by MYCEL_RSS_OUT.
import { writeFileSync } from 'node:fs';

const out = process.env.MYCEL_RSS_OUT;
if (out) {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 20);
  timer.unref();
  process.on('exit', () => {
    peak = Math.max(peak, process.memoryUsage.rss());
    writeFileSync(out, JSON.stringify({ peakRssMB: peak / 1e6 }));
  });
}
