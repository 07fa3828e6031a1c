// Loaded with `node --import` into `mycel get` under measurement: notes the first and the last
// write to any file stream (the output file; the first write is the first plaintext byte, as the
// command's own ttfb counts it) with the process's CPU time (user + system, all threads) at each,
// and at exit writes {firstAt, lastAt (ms since the epoch), cpuMs between them} to MYCEL_WRITE_OUT.
// The bench uses the window to take the seed's CPU over the same span.
import fs, { writeFileSync } from 'node:fs';

const out = process.env.MYCEL_WRITE_OUT;
if (out) {
  const cpuMs = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  };
  let first;
  let last;
  const write = fs.WriteStream.prototype.write;
  fs.WriteStream.prototype.write = function (...args) {
    const at = { at: Date.now(), cpu: cpuMs() };
    first ??= at;
    last = at;
    return write.apply(this, args);
  };
  process.on('exit', () => {
    if (!first) return;
    writeFileSync(out, JSON.stringify({ firstAt: first.at, lastAt: last.at, cpuMs: last.cpu - first.cpu }));
  });
}
