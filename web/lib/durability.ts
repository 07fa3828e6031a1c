// What the page knows of a file's copies, and what it tells the network when this browser lost
// its own (issue 12). The count comes from a seed that holds the file (its replica report: live
// copies by kind, the target, at risk); with no seed answering, from signaling lookups alone (who
// announces the file, and which of them are seeds or persisted keepers), the target then unknown.
// Holders that failed this page's own audit (page-audit.ts) are listed beside the count until a
// seed's report agrees (it no longer counts them live) or they pass again: the page's verdict alone
// never changes the count, which is the seeds'.
// A wipe noticed at start (canary.ts) is reported to the seeds that hold the files lost here, so
// their copies here stop counting at once instead of after the grace period.
//
// At scale: lookups return a random sample of at most MAX_HOLDERS (64) peers, so a file with more
// holders is undercounted by the fallback (a seed's report is the better figure), and a wiped
// browser's report reaches only the seeds the lookups named.

import type { BlockId } from '../../src/content/format.js';
import { LOST_ROOT_BURST } from '../../src/net/limits.js';
import { PERSISTED_KEEPERS_TOPIC, SEEDS_TOPIC } from '../../src/net/signal-messages.js';
import type { ReplicaReport } from '../../src/net/replica-report.js';
import type { Swarm } from '../../src/net/swarm.js';
import { MAX_LOST_ROOTS } from '../../src/net/wire.js';
import type { PeerKind } from '../../src/replication/policy.js';
import type { Wipe } from './canary.js';

/** How long the page waits for one seed's replica report. */
export const REPLICA_QUERY_TIMEOUT_MS = 5_000;
/** Seeds holding a file asked for its report, in turn, before counting from lookups. */
export const MAX_SEEDS_ASKED = 2;
/** Files counted in one call (the page asks for the files it shows). */
export const MAX_COUNTED_ROOTS = 32;
/** A wipe of at most this many files looks each up (to tell only their seeds); more go to every seed. */
export const WIPE_LOOKUP_ROOTS = 32;
/** Seeds one wipe report goes to at most. */
export const MAX_SEEDS_TOLD = 8;

/** A file's live copies as the page shows them. */
export interface LiveCopies {
  readonly root: BlockId;
  /** Holders present now, every kind. */
  readonly live: number;
  readonly byKind: Readonly<Record<PeerKind, number>>;
  /** The file's target, from a seed's report; undefined when no seed answered. */
  readonly target?: number;
  /** No seed holds it and only browsers without persisted storage do (or too few are present). */
  readonly atRisk: boolean;
  /** Whether a seed's report gave these figures (else: signaling lookups). */
  readonly fromSeed: boolean;
  /** Holders that failed this page's audit, which the seeds' report does not (yet) agree with. */
  readonly failedAudit?: string[];
}

/** What the page's auditor says of a file's holders (page-audit.ts). */
export interface AuditMarks {
  /** Holders of `root` that failed the page's audit. */
  suspectsOf(root: BlockId): readonly { readonly peer: string }[];
  /** The seeds agree `peer`'s copy of `root` does not count: no need to mark it any more. */
  settle(root: BlockId, peer: string): void;
}

/** What kind this browser is as a holder (it is in no lookup of its own). */
export type SelfKind = Extract<PeerKind, 'persisted-browser' | 'browser'>;

/**
 * Counts the copies of each of `roots` (at most MAX_COUNTED_ROOTS). `here(root)` says whether, and
 * as what kind, this browser holds a root whole.
 */
export async function countLiveCopies(
  swarm: Swarm,
  roots: readonly BlockId[],
  here: (root: BlockId) => SelfKind | undefined,
  audits?: AuditMarks,
): Promise<LiveCopies[]> {
  const none = () => [] as string[];
  const [seeds, persisted] = await Promise.all([
    swarm.holders(SEEDS_TOPIC).catch(none),
    swarm.holders(PERSISTED_KEEPERS_TOPIC).catch(none),
  ]);
  const seedSet = new Set(seeds);
  const persistedSet = new Set(persisted);
  const counts: LiveCopies[] = [];
  for (const root of roots.slice(0, MAX_COUNTED_ROOTS)) {
    const holders = await swarm.holders(root).catch(none);
    const asked = await askSeeds(
      swarm,
      root,
      holders.filter((h) => seedSet.has(h)),
    );
    let failedAudit = (audits?.suspectsOf(root) ?? []).map((s) => s.peer);
    if (asked) {
      const live = new Set(asked.report.holders.filter((h) => h.state === 'live').map((h) => h.peer));
      for (const peer of failedAudit) if (!live.has(peer)) audits?.settle(root, peer);
      failedAudit = failedAudit.filter((peer) => live.has(peer));
    }
    counts.push({
      ...(asked?.copies ?? countFromLookups(root, holders, seedSet, persistedSet, here(root))),
      failedAudit,
    });
  }
  return counts;
}

async function askSeeds(
  swarm: Swarm,
  root: BlockId,
  seeds: readonly string[],
): Promise<{ copies: Omit<LiveCopies, 'failedAudit'>; report: ReplicaReport } | undefined> {
  for (const seed of seeds.slice(0, MAX_SEEDS_ASKED)) {
    try {
      const session = await swarm.connect(seed);
      const report = await session.queryReplicas(root, { timeoutMs: REPLICA_QUERY_TIMEOUT_MS });
      if (!report) continue;
      return {
        copies: {
          root,
          live: report.live,
          byKind: report.byKind,
          target: report.target,
          atRisk: report.atRisk,
          fromSeed: true,
        },
        report,
      };
    } catch {
      // This seed did not answer (older, gone, slow): the next one, or the lookups, say instead.
    }
  }
  return undefined;
}

function countFromLookups(
  root: BlockId,
  holders: readonly string[],
  seeds: ReadonlySet<string>,
  persisted: ReadonlySet<string>,
  self: SelfKind | undefined,
): Omit<LiveCopies, 'failedAudit'> {
  const byKind: Record<PeerKind, number> = { seed: 0, 'persisted-browser': 0, browser: 0 };
  for (const peer of new Set(holders)) {
    byKind[seeds.has(peer) ? 'seed' : persisted.has(peer) ? 'persisted-browser' : 'browser']++;
  }
  if (self) byKind[self]++;
  const live = byKind.seed + byKind['persisted-browser'] + byKind.browser;
  return { root, live, byKind, atRisk: byKind.seed + byKind['persisted-browser'] === 0, fromSeed: false };
}

/** "3 live copies: 2 seeds, 1 browser", and what is known of the target. */
export function liveCopiesText(copies: LiveCopies): string {
  const browsers = copies.byKind['persisted-browser'] + copies.byKind.browser;
  const parts: string[] = [];
  if (copies.byKind.seed > 0) parts.push(`${copies.byKind.seed} seed${copies.byKind.seed === 1 ? '' : 's'}`);
  if (browsers > 0) parts.push(`${browsers} browser${browsers === 1 ? '' : 's'}`);
  const head = `${copies.live} live cop${copies.live === 1 ? 'y' : 'ies'}${parts.length ? `: ${parts.join(', ')}` : ''}`;
  if (copies.target === undefined) return `${head} (no seed answered: target unknown)`;
  return copies.live < copies.target ? `${head} (target ${copies.target})` : head;
}

/** "1 holder failed an audit by this page", or '' when none did. */
export function failedAuditText(copies: Pick<LiveCopies, 'failedAudit'>): string {
  const n = copies.failedAudit?.length ?? 0;
  if (n === 0) return '';
  return `${n} holder${n === 1 ? '' : 's'} failed an audit (the seeds were told)`;
}

/** What one round of wipe reports did. */
export interface WipeReportResult {
  /** Roots some seed holding them acknowledged, or that no seed holds (nothing to tell). */
  readonly settled: BlockId[];
  /** Roots still to report (their seeds did not answer). */
  readonly pending: BlockId[];
}

/**
 * Tells the seeds holding the files of `wipe` that this browser, formerly `wipe.formerId`, lost
 * them. A seed believes it only for a holder absent now (the new id cannot prove the old one).
 */
export async function reportWipe(swarm: Swarm, wipe: Wipe): Promise<WipeReportResult> {
  const seeds = (await swarm.holders(SEEDS_TOPIC)).slice(0, MAX_SEEDS_TOLD);
  const roots = wipe.roots.slice(0, LOST_ROOT_BURST);
  if (seeds.length === 0) return { settled: [], pending: roots };
  const bySeed = new Map<string, BlockId[]>(seeds.map((s) => [s, []]));
  const settled = new Set<BlockId>();
  if (roots.length <= WIPE_LOOKUP_ROOTS) {
    for (const root of roots) {
      const holders = new Set(await swarm.holders(root));
      const told = seeds.filter((s) => holders.has(s));
      // No seed holds it: none keeps a view of its copies to correct.
      if (told.length === 0) settled.add(root);
      for (const seed of told) bySeed.get(seed)!.push(root);
    }
  } else {
    // Too many to look up within the signaling rate limit: every seed hears them all and ignores
    // the roots it does not track.
    for (const list of bySeed.values()) list.push(...roots);
  }
  await Promise.all(
    [...bySeed].map(async ([seed, list]) => {
      if (list.length === 0) return;
      try {
        const session = await swarm.connect(seed);
        for (let i = 0; i < list.length; i += MAX_LOST_ROOTS) {
          const chunk = list.slice(i, i + MAX_LOST_ROOTS);
          await session.reportLost(wipe.formerId, chunk);
          for (const root of chunk) settled.add(root);
        }
      } catch {
        // This seed did not take it: its roots stay pending unless another seed did.
      }
    }),
  );
  return { settled: roots.filter((r) => settled.has(r)), pending: roots.filter((r) => !settled.has(r)) };
}
