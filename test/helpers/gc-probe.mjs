// Loaded with `node --expose-gc --import` into a server under test: on SIGUSR2 it runs full
// garbage collections and prints the live heap and RSS as a JSON log line, numbered so a test can
// wait for the answer to the signal it sent. Lets a test tell memory still held from garbage V8
// has not yet collected in an idle process.
let probes = 0;
process.on('SIGUSR2', () => {
  for (let i = 0; i < 3; i++) globalThis.gc?.();
  const m = process.memoryUsage();
  process.stderr.write(JSON.stringify({ msg: 'gc probe', n: ++probes, heapUsed: m.heapUsed, rss: m.rss }) + '\n');
});
