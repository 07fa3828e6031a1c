// How long honest connects to a real `mycel serve` seed take, stage by stage (ICE connected,
// channel open, id proven), on each side: the figures behind ICE_TIMEOUT_MS and
// MAX_CONNECTING_PER_ORIGIN in src/net/limits.ts. Needs the built node code (npm run build:node).
//
//   npx tsx test/bench/connect-times.ts <busy processes> <connects at once> <rounds>
//
// Busy processes spin on the CPU meanwhile, to play a loaded machine. Every connect comes from
// this process (one address, one origin). Prints percentiles per stage and the seed's refusals.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ephemeralIdentity } from '../../src/net/identity.js';
import { quietLog, type Logger } from '../../src/log.js';
import { Swarm } from '../../src/net/swarm.js';
import { nodeSocketFactory } from '../../src/node/seed.js';
import { nodeWrtc } from '../../src/node/wrtc.js';
import { createMemoryBlockStore } from '../../src/store/memory.js';
import { logged, startServe, tempDir } from '../helpers/processes.js';

const [hogsArg = '0', parallelArg = '1', roundsArg = '30'] = process.argv.slice(2);
type Stages = [ice: number, open: number, proven: number];

const hogs = Array.from({ length: Number(hogsArg) }, () =>
  spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }),
);
const dir = await tempDir('connect-times');
const serve = await startServe(path.join(dir, 'seed'), [], { env: { MYCEL_LOG: 'debug' } });
const seedPeer = JSON.parse(await serve.proc.waitForLine(logged('seed ready'))).peer;
const signalUrl = `ws://127.0.0.1:${serve.port}/signal`;
const ours: Stages[] = [];
/** Whole connects as the caller sees them (every attempt, raced or retried, included). */
const totals: number[] = [];
let failures = 0;

const stagesOf = (fields: Record<string, unknown>): Stages => [
  Number(fields.iceMs),
  Number(fields.openMs),
  Number(fields.provenMs),
];

for (let round = 0; round < Number(roundsArg); round++) {
  await Promise.all(
    Array.from({ length: Number(parallelArg) }, async () => {
      let stages: Stages | undefined;
      const log: Logger = {
        ...quietLog,
        debug: (msg, fields) => {
          if (msg === 'peer connected' && fields) stages = stagesOf(fields);
        },
      };
      const swarm = new Swarm({
        identity: ephemeralIdentity(),
        signalUrl,
        createSocket: nodeSocketFactory,
        wrtc: nodeWrtc,
        log,
        host: { store: createMemoryBlockStore() },
      });
      swarm.start();
      await swarm.signaling.ready();
      try {
        const started = Date.now();
        await swarm.connect(seedPeer);
        totals.push(Date.now() - started);
        if (stages) ours.push(stages);
      } catch (error) {
        failures++;
        console.error('connect failed:', (error as Error).message);
      }
      swarm.close();
    }),
  );
}
await serve.proc.kill();
for (const hog of hogs) hog.kill();

const seedLines = [...serve.proc.stderr, ...serve.proc.stdout]
  .filter((l) => l.startsWith('{'))
  .map((l) => JSON.parse(l) as Record<string, unknown>);
const theirs = seedLines.filter((f) => f.msg === 'peer connected').map(stagesOf);
const refusals: Record<string, number> = {};
for (const f of seedLines)
  if (f.msg === 'offer refused') refusals[String(f.reason)] = (refusals[String(f.reason)] ?? 0) + 1;

const percentile = (xs: number[], p: number) =>
  xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
console.log(
  `busy processes ${hogsArg}, ${parallelArg} at once, ${roundsArg} rounds: ${failures} connects failed; seed refused ${JSON.stringify(refusals)}`,
);
for (const [side, rows] of [
  ['offering side', ours],
  ['seed', theirs],
] as const) {
  for (const [i, stage] of ['ICE connected', 'channel open', 'id proven'].entries()) {
    const xs = rows.map((r) => r[i]!).filter(Number.isFinite);
    console.log(
      `${side.padEnd(13)} ${stage.padEnd(13)} n=${xs.length} p50=${percentile(xs, 50)} p90=${percentile(xs, 90)} p99=${percentile(xs, 99)} max=${Math.max(...xs)} ms`,
    );
  }
}
console.log(
  `connect() whole n=${totals.length} p50=${percentile(totals, 50)} p90=${percentile(totals, 90)} p99=${percentile(totals, 99)} max=${Math.max(...totals)} ms`,
);
process.exit(0);
