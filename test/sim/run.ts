// `npm run sim`: the replication policy over 10,000 peers and 100,000+ files for 30 simulated days,
// under several settings on the same churn. Prints a table and writes sim-results.json (untracked).
//   npm run sim -- --quick         a world a tenth the size (seconds)
//   npm run sim -- --only a,b      only the named settings
//   npm run sim -- --out path.json
import { writeFileSync } from 'node:fs';
import { simulate } from './engine.js';
import { SETTINGS } from './settings.js';
import { DEFAULT_MODEL, scaledModel } from './model.js';
import { formatTable, type Column } from './report.js';
import { buildWorld } from './world.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const quick = process.argv.includes('--quick');
const only = arg('--only')?.split(',');
const out = arg('--out') ?? 'sim-results.json';
const model = quick
  ? { ...scaledModel({ seeds: 20, browsers: 1_000, files: 10_000, days: 30 }), seed: DEFAULT_MODEL.seed }
  : DEFAULT_MODEL;
const settings = only ? SETTINGS.filter((s) => only.includes(s.name)) : SETTINGS;
if (settings.length === 0)
  throw new Error(`no setting named ${only?.join(', ')}; known: ${SETTINGS.map((s) => s.name).join(', ')}`);

const started = performance.now();
console.error(
  `building the world: ${model.seeds} seeds, ${model.browsers} browsers, ${model.files.initial} files, ${model.days} days…`,
);
const world = buildWorld(model);
console.error(`  ${world.peerCount} peers over the run, ${world.fileCount} files, ${world.trace.n} churn events`);
const columns: Column[] = [];
for (const setting of settings) {
  console.error(`simulating ${setting.name}…`);
  const metrics = simulate(world, setting);
  console.error(`  ${metrics.runSeconds.toFixed(1)} s`);
  columns.push({ setting, metrics });
}
const totalSeconds = (performance.now() - started) / 1000;

const m0 = columns[0]!.metrics;
console.log(
  `Replication over ${model.days} simulated days (after ${model.warmupDays} of warm-up): ${model.seeds} seeds ` +
    `(${m0.seedsAlive} left at the end), ${world.peerCount - model.seeds} browsers over the run (${model.browsers} at a time), ` +
    `${world.fileCount} files; ${m0.opens} links opened, and over the run ${m0.corruptions} copies silently ` +
    `corrupted and ${m0.wipesReported} browser wipes reported.\n`,
);
console.log(formatTable(columns));
console.log(`\ntotal ${totalSeconds.toFixed(0)} s (world and seed rankings built once, shared by every setting)`);

writeFileSync(
  out,
  JSON.stringify(
    {
      model,
      peers: world.peerCount,
      files: world.fileCount,
      churnEvents: world.trace.n,
      totalSeconds,
      settings: columns.map(({ setting, metrics }) => ({ ...setting, metrics })),
    },
    null,
    2,
  ) + '\n',
);
console.error(`wrote ${out}`);
