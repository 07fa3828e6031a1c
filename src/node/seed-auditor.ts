// A seed's audits of the other holders of the files it holds: which pairs to audit (the holders of
// each held file, from `holdersOf`, refreshed once per interval and when the seed comes to hold a
// file), the counts /metrics and the replica report show, and the log line of a failed audit.
// The auditing itself is src/replication/auditor.ts.
//
// The seed holds every block of a file it holds, so it audits with digest challenges (32 bytes each
// way); a block of it that rotted locally is audited by fetching it from the holder instead. The
// file's blocks are its pin set, which the seed listed from the root without the key when the file
// was committed (the listing Seed.checkFile does with fetchIndexIds/idsInIndexBlock).
//
// Suspect reports (a page whose own audit failed a holder, wire.ts) are never believed: they only
// make the seed audit that holder itself, at once, and only the seed's verdict counts. That audit
// checks SUSPECT_AUDIT_BLOCKS distinct blocks, not one: a rotted holder heals the blocks it is asked
// for (its read drops a bad block, and it fetches it again), so the block the reporter found bad
// may well pass by now, while the rest of its copy is still bad. What a report
// can cost is bounded: one audit per (file, holder) per SUSPECT_PAIR_COOLDOWN_MS, a global token
// bucket over every reporter, MAX_SUSPECT_AUDITS_IN_FLIGHT at once, and only for files the seed
// holds and holders its lookups name (a reporter cannot make it audit peers nobody announced).

import type { BlockId } from '../content/format.js';
import type { Logger } from '../log.js';
import type { Swarm } from '../net/swarm.js';
import { Auditor, type AuditVerdict } from '../replication/auditor.js';
import { DEFAULT_AUDIT_INTERVAL_MS } from '../replication/audit.js';
import {
  MAX_SUSPECT_AUDITS_IN_FLIGHT,
  MAX_SUSPECT_PAIRS_REMEMBERED,
  SUSPECT_AUDIT_BLOCKS,
  SUSPECT_AUDITS_BURST,
  SUSPECT_AUDITS_PER_SECOND,
  SUSPECT_PAIR_COOLDOWN_MS,
} from '../net/limits.js';
import { TokenBucket } from '../net/token-bucket.js';

/** What became of one suspect report. */
export type SuspectOutcome =
  /** The seed audited the holder at once (its verdict went where every verdict goes). */
  | 'audited'
  /** Not a holder of a file the seed holds (or the seed itself): nothing to audit. */
  | 'ignored'
  /** The pair was audited on report recently, or one such audit is running. */
  | 'recent'
  /** Over the global rate or the in-flight cap: noted, not acted on. */
  | 'limited';

export interface AuditCounts {
  readonly passed: number;
  readonly failed: number;
}

export interface SeedAuditorOptions {
  readonly self: string;
  readonly swarm: Swarm;
  readonly log: Logger;
  /** `--audit-every`; default DEFAULT_AUDIT_INTERVAL_MS. */
  readonly intervalMs?: number;
  /** Files held whole now. */
  heldRoots(): Iterable<BlockId>;
  /** The blocks of a held file (its pin set), or undefined if it is not held. */
  blocksOf(root: BlockId): readonly BlockId[] | undefined;
  localBlock(id: BlockId): Promise<Uint8Array | undefined>;
  /** Who holds `root` (default: the swarm's lookup). The seed itself is left out. */
  readonly holdersOf?: (root: BlockId) => Promise<readonly string[]>;
  /** Told every passed or failed audit (the repair engine's noteAuditVerdict goes here). */
  readonly onVerdict?: (root: BlockId, peer: string, ok: boolean, reason: string | undefined) => void;
}

export class SeedAuditor {
  readonly auditor: Auditor;
  readonly totals = { passed: 0, failed: 0, unreachable: 0 };
  /** Suspect reports received, by what became of them. */
  readonly suspects: Record<SuspectOutcome, number> = { audited: 0, ignored: 0, recent: 0, limited: 0 };
  /** Verdicts of audits run because of a suspect report (also counted in `totals`). */
  readonly reported = { passed: 0, failed: 0, unreachable: 0 };
  private readonly suspectBucket = new TokenBucket(SUSPECT_AUDITS_BURST, SUSPECT_AUDITS_PER_SECOND);
  /** `${root}/${peer}` → when it was last audited on report (insertion order: oldest first). */
  private readonly suspectedAt = new Map<string, number>();
  private suspectAuditsRunning = 0;
  private readonly counts = new Map<BlockId, { passed: number; failed: number }>();
  private readonly timer: ReturnType<typeof setInterval>;
  private refreshing: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: SeedAuditorOptions) {
    const intervalMs = options.intervalMs ?? DEFAULT_AUDIT_INTERVAL_MS;
    this.auditor = new Auditor({
      intervalMs,
      connect: (peer) => options.swarm.connect(peer),
      blocksOf: (root) => Promise.resolve(options.blocksOf(root)),
      localBlock: (id) => options.localBlock(id),
      onVerdict: (verdict) => this.noteVerdict(verdict),
    });
    // Holder lists change as peers come and go: looked up again once an interval.
    this.timer = setInterval(() => {
      this.refresh().catch((error: unknown) =>
        options.log.warn('audit: looking up holders failed', { error: (error as Error).message }),
      );
    }, intervalMs);
    this.timer.unref();
  }

  /** Passed and failed audits of other holders of `root` since the seed started. */
  auditCounts(root: BlockId): AuditCounts {
    return this.counts.get(root) ?? { passed: 0, failed: 0 };
  }

  /** Looks up the holders of every held file (or of `roots`) and audits exactly those. */
  refresh(roots?: Iterable<BlockId>): Promise<void> {
    if (roots === undefined) {
      // One full pass at a time: a slow signaling server must not stack them up.
      this.refreshing ??= this.refreshAll().finally(() => (this.refreshing = undefined));
      return this.refreshing;
    }
    return this.refreshRoots([...roots]);
  }

  /**
   * `from` says `peer` failed its audit of `root`. The seed audits `peer` itself, at once, when it
   * holds `root` and `peer` is a holder it audits, within its bounds; the report itself changes
   * nothing. Resolves with what it did (and, if it audited, once the verdict is in).
   */
  async auditOnReport(from: string, root: BlockId, peer: string, now = Date.now()): Promise<SuspectOutcome> {
    const outcome = await this.admitReport(root, peer, now);
    this.suspects[outcome]++;
    if (outcome !== 'audited') {
      this.options.log.debug('suspect report not acted on', { from, peer, root: root.slice(0, 12), outcome });
      return outcome;
    }
    this.options.log.info('auditing a holder on a suspect report', { from, peer, root: root.slice(0, 12) });
    try {
      const verdict = await this.auditor.auditBlocks(root, peer, SUSPECT_AUDIT_BLOCKS);
      if (!this.closed) {
        this.reported[verdict.result]++;
        this.noteVerdict(verdict);
      }
    } finally {
      this.suspectAuditsRunning--;
    }
    return outcome;
  }

  /** Whether a report about (root, peer) is acted on; 'audited' holds an in-flight slot. */
  private async admitReport(root: BlockId, peer: string, now: number): Promise<SuspectOutcome> {
    if (this.closed || peer === this.options.self || this.options.blocksOf(root) === undefined) return 'ignored';
    const key = `${root}/${peer}`;
    const last = this.suspectedAt.get(key);
    if (last !== undefined && now - last < SUSPECT_PAIR_COOLDOWN_MS) return 'recent';
    // The bucket also bounds the lookups below: a report costs at most one, and only within it.
    if (this.suspectAuditsRunning >= MAX_SUSPECT_AUDITS_IN_FLIGHT || !this.suspectBucket.take()) return 'limited';
    this.suspectAuditsRunning++;
    this.suspectedAt.delete(key);
    this.suspectedAt.set(key, now);
    while (this.suspectedAt.size > MAX_SUSPECT_PAIRS_REMEMBERED) {
      this.suspectedAt.delete(this.suspectedAt.keys().next().value!);
    }
    // Only holders the seed's own lookup names: a report cannot point the seed at anyone else. The
    // pairs are refreshed once an interval; a holder that came since is looked up now.
    if (!this.auditor.has(root, peer)) await this.refreshRoots([root]).catch(() => undefined);
    if (this.closed || !this.auditor.has(root, peer)) {
      this.suspectAuditsRunning--;
      // Not audited, so no cooldown: a holder its lookup missed for a moment (a seed that withdrew
      // the file while healing a block, say) is audited at the next report, not a minute later.
      // The lookup it cost came out of the bucket.
      this.suspectedAt.delete(key);
      if (last !== undefined) this.suspectedAt.set(key, last);
      return 'ignored';
    }
    return 'audited';
  }

  /** The seed no longer holds `root`: its holders are no longer audited, its counts forgotten. */
  forget(root: BlockId): void {
    this.auditor.untrack(root);
    this.counts.delete(root);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.auditor.close();
  }

  private async refreshAll(): Promise<void> {
    const held = new Set(this.options.heldRoots());
    for (const root of this.auditor.roots()) if (!held.has(root)) this.forget(root);
    await this.refreshRoots([...held]);
  }

  private async refreshRoots(roots: BlockId[]): Promise<void> {
    const holdersOf = this.options.holdersOf ?? ((root: BlockId) => this.options.swarm.holders(root));
    for (const root of roots) {
      if (this.closed) return;
      let holders: readonly string[];
      try {
        holders = await holdersOf(root);
      } catch (error) {
        // Signaling is down: the pairs already tracked keep being audited.
        this.options.log.debug('cannot look up the holders of a file to audit', {
          root: root.slice(0, 12),
          error: (error as Error).message,
        });
        continue;
      }
      if (this.closed) return;
      this.auditor.setHolders(
        root,
        holders.filter((peer) => peer !== this.options.self),
      );
    }
  }

  private noteVerdict(verdict: AuditVerdict): void {
    const { root, peer, result, reason } = verdict;
    if (result === 'unreachable') {
      this.totals.unreachable++;
      this.options.log.debug('audit: holder unreachable', { peer, root: root.slice(0, 12), reason });
      return;
    }
    const ok = result === 'passed';
    this.totals[result]++;
    const counts = this.counts.get(root) ?? { passed: 0, failed: 0 };
    counts[result]++;
    // Counts only for files the seed audits: bounded by the files it holds.
    if (this.auditor.roots().has(root)) this.counts.set(root, counts);
    if (ok) this.options.log.debug('audit passed', { peer, root: root.slice(0, 12), kind: verdict.kind });
    else
      this.options.log.warn('audit failed', {
        peer,
        root: root.slice(0, 12),
        kind: verdict.kind,
        block: verdict.block.slice(0, 12),
        reason,
      });
    this.options.onVerdict?.(root, peer, ok, reason);
  }
}
