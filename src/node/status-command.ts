// `mycel status <link>`: how many live copies a file has, of which kinds, and how many its owner
// wants. Holders and their kinds come from signaling lookups (anyone can make them); the target and
// the holders that are absent or lost come from a seed that holds the file (its replica report),
// the first that answers. Without one, only what the lookups show is printed, target unknown.

import { NoHolderError } from '../errors.js';
import { parseLink } from '../content/share-link.js';
import { httpOriginFor, signalUrlFor } from '../net/server-url.js';
import { KEEPERS_TOPIC, PERSISTED_KEEPERS_TOPIC, SEEDS_TOPIC } from '../net/signal-messages.js';
import { MAX_SEEDS_USED } from '../net/limits.js';
import type { ReplicaReport } from '../net/replica-report.js';
import { PEER_KINDS, type PeerKind } from '../replication/policy.js';
import { createMemoryBlockStore } from '../store/memory.js';
import { joinSwarm, reach } from './transfer-commands.js';
import { UsageError } from './usage-error.js';

export interface StatusOptions {
  readonly link: string;
  readonly server?: string;
  readonly timeoutMs: number;
  readonly json: boolean;
}

/** What status prints as JSON: a seed's report and who gave it, or the lookups' view (target null). */
export type StatusReport =
  | (ReplicaReport & { readonly answeredBy: string })
  | {
      readonly v: 1;
      readonly root: string;
      readonly target: null;
      readonly live: number;
      readonly byKind: Record<PeerKind, number>;
      readonly holders: { peer: string; kind: PeerKind; state: 'live' }[];
      readonly answeredBy: null;
    };

const KIND_WORDS: Record<PeerKind, [string, string]> = {
  seed: ['seed', 'seeds'],
  'persisted-browser': ['persisted browser', 'persisted browsers'],
  browser: ['browser', 'browsers'],
};

function plural(n: number, [one, many]: [string, string]): string {
  return `${n} ${n === 1 ? one : many}`;
}

export async function runStatus(options: StatusOptions): Promise<number> {
  const link = parseLink(options.link);
  let origin: string;
  try {
    origin = link.origin || (options.server ? httpOriginFor(options.server) : '');
  } catch {
    throw new UsageError(`bad server URL: ${options.server}`);
  }
  if (!origin) throw new UsageError('the link has no server: give the full link or --server');
  const swarm = joinSwarm(signalUrlFor(origin), createMemoryBlockStore());
  try {
    await reach(swarm, origin, options.timeoutMs);
    const [holders, seeds, persisted] = await Promise.all([
      swarm.holders(link.root),
      swarm.holders(SEEDS_TOPIC),
      swarm.holders(PERSISTED_KEEPERS_TOPIC),
      swarm.holders(KEEPERS_TOPIC),
    ]);
    if (holders.length === 0) throw new NoHolderError(link.root, 0);
    const kindOf = (peer: string): PeerKind =>
      seeds.includes(peer) ? 'seed' : persisted.includes(peer) ? 'persisted-browser' : 'browser';
    let status: StatusReport | undefined;
    for (const peer of holders.filter((p) => kindOf(p) === 'seed').slice(0, MAX_SEEDS_USED)) {
      try {
        const session = await swarm.connect(peer);
        const report = await session.queryReplicas(link.root, { timeoutMs: options.timeoutMs });
        if (report) {
          status = { ...report, answeredBy: peer };
          break;
        }
      } catch (error) {
        // An older seed that does not know the question, or one that is gone: ask the next.
        process.stderr.write(`mycel: seed ${peer} gave no report: ${(error as Error).message}\n`);
      }
    }
    if (!status) {
      const byKind: Record<PeerKind, number> = { seed: 0, 'persisted-browser': 0, browser: 0 };
      for (const peer of holders) byKind[kindOf(peer)]++;
      status = {
        v: 1,
        root: link.root,
        target: null,
        live: holders.length,
        byKind,
        holders: holders.map((peer) => ({ peer, kind: kindOf(peer), state: 'live' as const })),
        answeredBy: null,
      };
    }
    if (options.json) process.stdout.write(JSON.stringify(status) + '\n');
    else process.stdout.write(describe(status));
    return 0;
  } finally {
    swarm.close();
  }
}

/** The human form: a summary line, then one line per holder. */
function describe(status: StatusReport): string {
  const kinds = PEER_KINDS.filter((k) => status.byKind[k] > 0)
    .map((k) => plural(status.byKind[k], KIND_WORDS[k]))
    .join(', ');
  const copies = `${status.live} live cop${status.live === 1 ? 'y' : 'ies'}`;
  const lines = [
    status.target === null
      ? `${copies}: ${kinds || 'none'} (target unknown: no seed holding the file answered)`
      : `${copies} of ${status.target} wanted: ${kinds || 'none'}${status.atRisk ? ' (at risk)' : ''}`,
    ...status.holders.map((h) => `  ${h.peer}  ${h.kind}  ${h.state}`),
  ];
  if (status.answeredBy) lines.push(`(as seen by seed ${status.answeredBy})`);
  return lines.join('\n') + '\n';
}
