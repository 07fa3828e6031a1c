import { simulate } from './test/sim/engine.js';
import { scaledModel } from './test/sim/model.js';
import { buildWorld } from './test/sim/world.js';
import { replicationPolicy, PEER_KINDS } from './src/replication/policy.js';
const m = scaledModel({ seed: 'unit-sim', seeds: 8, browsers: 192, files: 1_000, days: 2, warmupDays: 1, permanentFailures: 1, lostTogether: 1 });
simulate(buildWorld(m), { name: 'a', label: 'a', policy: replicationPolicy({ graceMs: 1800e3, counts: PEER_KINDS }), auditIntervalMs: 6*3600e3 }, { checkInvariants: true });
