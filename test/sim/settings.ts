// The policy settings `npm run sim` compares, on the same churn.
import { DEFAULT_AUDIT_INTERVAL_MS } from '../../src/replication/audit.js';
import { DEFAULT_POLICY, HOUR_MS, MINUTE_MS, PEER_KINDS, replicationPolicy } from '../../src/replication/policy.js';
import type { Setting } from './engine.js';

const seedsOnly = ['seed'] as const;
const audit = DEFAULT_AUDIT_INTERVAL_MS;
export const SETTINGS: Setting[] = [
  {
    name: 'grace-5m',
    label: 'target 3, minimum 2, grace 5 min, seed copies count',
    policy: replicationPolicy({ target: 3, minimum: 2, graceMs: 5 * MINUTE_MS, counts: seedsOnly }),
    auditIntervalMs: audit,
  },
  {
    name: 'grace-30m',
    label: 'target 3, minimum 2, grace 30 min, seed copies count',
    policy: replicationPolicy({ target: 3, minimum: 2, graceMs: 30 * MINUTE_MS, counts: seedsOnly }),
    auditIntervalMs: audit,
  },
  {
    name: 'grace-2h',
    label: 'target 3, minimum 2, grace 2 h, seed copies count',
    policy: replicationPolicy({ target: 3, minimum: 2, graceMs: 2 * HOUR_MS, counts: seedsOnly }),
    auditIntervalMs: audit,
  },
  {
    name: 'no-slack',
    label: 'as grace-30m, but surplus seed copies released at once (slack 0)',
    policy: replicationPolicy({ target: 3, minimum: 2, graceMs: 30 * MINUTE_MS, releaseSlack: 0, counts: seedsOnly }),
    auditIntervalMs: audit,
  },
  {
    name: 'target-2',
    label: 'target 2, minimum 1, grace 30 min, seed copies count',
    policy: replicationPolicy({ target: 2, minimum: 1, graceMs: 30 * MINUTE_MS, counts: seedsOnly }),
    auditIntervalMs: audit,
  },
  {
    name: 'browsers-count',
    label: 'target 3, minimum 2, grace 30 min, browser copies count too',
    policy: replicationPolicy({ target: 3, minimum: 2, graceMs: 30 * MINUTE_MS, counts: PEER_KINDS }),
    auditIntervalMs: audit,
  },
  {
    name: 'domains',
    label: 'as grace-30m, and seeds spread copies over their 5 providers (failure domains)',
    policy: replicationPolicy({ target: 3, minimum: 2, graceMs: 30 * MINUTE_MS, counts: seedsOnly }),
    auditIntervalMs: audit,
    domains: true,
  },
  {
    name: 'defaults',
    label:
      'the policy defaults (target 3, minimum 2, grace 30 min, slack 1, every kind counts) with providers as domains',
    policy: DEFAULT_POLICY,
    auditIntervalMs: audit,
    domains: true,
  },
];
