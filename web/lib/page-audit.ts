// The page audits the holders of the files this device added, while it is online (issue 12), and
// tells the seeds about a holder that fails. The auditing is src/replication/auditor.ts: each
// (file, holder) pair at random times within the interval, at most MAX_AUDITS_IN_FLIGHT at once.
// Each audit spends one of the file's precomputed challenges (audit-book.ts) while any are left;
// then, if this device still holds the chosen block, a fresh-nonce digest; else the block is
// fetched from the holder and checked against its id.
//
// A failed audit is never acted on here: the page cannot be trusted to say so (a hostile page could
// claim every seed fails). It sends the seeds that hold the file a `suspect` report; a seed audits
// the holder itself, at once, and only its verdict counts (seed-auditor.ts). The page marks the
// holder as having failed its audit until the seeds' report agrees (they no longer count it live)
// or the holder passes the page's audit again.
//
// Holders come from the signaling lookups the Copies view also uses, looked up for at most
// MAX_AUDITED_FILES files once an interval and whenever the page reconnects; while the page is
// offline no pair is tracked (its audits would only be unreachable).

import type { BlockId } from '../../src/content/format.js';
import type { Logger } from '../../src/log.js';
import { SEEDS_TOPIC } from '../../src/net/signal-messages.js';
import type { Swarm } from '../../src/net/swarm.js';
import type { SuspectReason } from '../../src/net/wire.js';
import { DEFAULT_AUDIT_INTERVAL_MS } from '../../src/replication/audit.js';
import { Auditor, type AuditVerdict } from '../../src/replication/auditor.js';
import type { PageChallengeBook } from './audit-book.js';

/** How often the page audits each holder of a file it added, at most; `mycel:audit-every` overrides. */
export const DEFAULT_PAGE_AUDIT_INTERVAL_MS = DEFAULT_AUDIT_INTERVAL_MS;
/** localStorage key (ms) that shortens the interval: tests, and a person who wants audits sooner. */
export const AUDIT_EVERY_KEY = 'mycel:audit-every';
/** The shortest interval the knob accepts: each audit costs a connection and a lookup. */
export const MIN_PAGE_AUDIT_INTERVAL_MS = 1_000;
/** Files whose holders one refresh looks up (each costs a signaling lookup). */
export const MAX_AUDITED_FILES = 64;
/** Holders the page remembers as having failed its audit (a peer can make many ids fail). */
export const MAX_SUSPECTS = 256;
/** Seeds one suspect report goes to at most. */
export const MAX_SEEDS_TOLD_OF_SUSPECT = 4;
/** How long the page waits for one seed to take a suspect report. */
export const SUSPECT_REPORT_TIMEOUT_MS = 5_000;

/** The interval the page uses: the saved knob when it is a sane number, else the default. */
export function pageAuditInterval(storage: Pick<Storage, 'getItem'> | undefined): number {
  try {
    const raw = Number(storage?.getItem(AUDIT_EVERY_KEY) ?? Number.NaN);
    if (Number.isFinite(raw) && raw >= MIN_PAGE_AUDIT_INTERVAL_MS) return raw;
  } catch {
    // localStorage blocked: the default.
  }
  return DEFAULT_PAGE_AUDIT_INTERVAL_MS;
}

/** The wire's reason for a failed verdict (the auditor's reasons start with these words). */
export function suspectReasonOf(verdict: Pick<AuditVerdict, 'reason'>): SuspectReason {
  const reason = verdict.reason ?? '';
  if (reason.startsWith('not-found')) return 'not-found';
  if (reason.startsWith('wrong digest')) return 'wrong-digest';
  if (reason.startsWith('deadline')) return 'deadline';
  if (reason.startsWith('bad block')) return 'bad-block';
  return 'other';
}

export interface PageAuditorOptions {
  readonly swarm: Swarm;
  readonly book: PageChallengeBook;
  readonly log: Logger;
  readonly intervalMs: number;
  /** Roots of the files this device added (the Library's `added` entries). */
  addedRoots(): Promise<BlockId[]>;
  /** The ids of a file's blocks listed from this device's copy, or undefined if it cannot. */
  blocksOf(root: BlockId): Promise<readonly BlockId[] | undefined>;
  localBlock(id: BlockId): Promise<Uint8Array | undefined>;
  /** The holders marked as having failed an audit changed (the Copies view asks again). */
  onChange?(): void;
}

/** A holder that failed the page's audit and is not known to be settled. */
export interface Suspect {
  readonly root: BlockId;
  readonly peer: string;
  readonly reason: SuspectReason;
  /** Seeds that took the report. */
  told: number;
}

export class PageAuditor {
  readonly auditor: Auditor;
  /** Verdicts so far, for the page's own figures and tests. */
  readonly totals = { passed: 0, failed: 0, unreachable: 0, reported: 0 };
  private readonly suspects = new Map<string, Suspect>();
  private readonly timer: ReturnType<typeof setInterval>;
  private refreshing: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: PageAuditorOptions) {
    const { swarm, book } = options;
    this.auditor = new Auditor({
      intervalMs: options.intervalMs,
      connect: (peer) => swarm.connect(peer),
      blocksOf: (root) => options.blocksOf(root),
      localBlock: (id) => options.localBlock(id),
      challenge: (root) => book.take(root),
      onVerdict: (verdict) => this.noteVerdict(verdict),
    });
    this.timer = setInterval(() => this.refreshInBackground(), options.intervalMs);
    swarm.signaling.on('ready', () => this.refreshInBackground());
    // Offline: nothing is audited until the page is back (every audit would be unreachable).
    swarm.signaling.on('disconnected', () => {
      for (const root of this.auditor.roots()) this.auditor.untrack(root);
    });
  }

  /** Holders of `root` that failed the page's audit and are not settled, by peer id. */
  suspectsOf(root: BlockId): Suspect[] {
    return [...this.suspects.values()].filter((s) => s.root === root);
  }

  /** The seeds no longer count `peer`'s copy of `root` as live: the page need not mark it. */
  settle(root: BlockId, peer: string): void {
    if (this.suspects.delete(`${root}/${peer}`)) this.options.onChange?.();
  }

  /** Forgets a file: no more audits of its holders, no marks. */
  forget(root: BlockId): void {
    this.auditor.untrack(root);
    for (const s of this.suspectsOf(root)) this.suspects.delete(`${root}/${s.peer}`);
  }

  /** Looks up the holders of the files this device added and audits exactly those. */
  refresh(): Promise<void> {
    this.refreshing ??= this.refreshNow().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.auditor.close();
  }

  private refreshInBackground(): void {
    this.refresh().catch((error: unknown) =>
      this.options.log.warn('looking up holders to audit failed', { error: (error as Error).message }),
    );
  }

  private async refreshNow(): Promise<void> {
    const { swarm } = this.options;
    if (this.closed || !swarm.signaling.connected) return;
    const added = (await this.options.addedRoots()).slice(0, MAX_AUDITED_FILES);
    const wanted = new Set(added);
    for (const root of this.auditor.roots()) if (!wanted.has(root)) this.forget(root);
    for (const root of added) {
      if (this.closed) return;
      const holders = await swarm.holders(root).catch(() => undefined);
      // A lookup that failed keeps the pairs already tracked.
      if (holders)
        this.auditor.setHolders(
          root,
          holders.filter((peer) => peer !== swarm.peerId),
        );
    }
  }

  private noteVerdict(verdict: AuditVerdict): void {
    const { root, peer, result } = verdict;
    this.totals[result]++;
    const key = `${root}/${peer}`;
    if (result === 'passed') {
      if (this.suspects.delete(key)) this.options.onChange?.();
      return;
    }
    if (result !== 'failed') return;
    this.options.log.warn('a holder failed this page’s audit', {
      peer,
      root: root.slice(0, 12),
      kind: verdict.kind,
      reason: verdict.reason,
    });
    const suspect: Suspect = { root, peer, reason: suspectReasonOf(verdict), told: 0 };
    this.suspects.delete(key);
    this.suspects.set(key, suspect);
    while (this.suspects.size > MAX_SUSPECTS) this.suspects.delete(this.suspects.keys().next().value!);
    this.options.onChange?.();
    this.tellSeeds(suspect).catch((error: unknown) =>
      this.options.log.warn('reporting a failed audit failed', { error: (error as Error).message }),
    );
  }

  /** Sends the seeds that hold the file (but the suspect) a suspect report. */
  private async tellSeeds(suspect: Suspect): Promise<void> {
    const { swarm } = this.options;
    const [seeds, holders] = await Promise.all([swarm.holders(SEEDS_TOPIC), swarm.holders(suspect.root)]);
    const holding = new Set(holders);
    const told = seeds.filter((s) => s !== suspect.peer && holding.has(s)).slice(0, MAX_SEEDS_TOLD_OF_SUSPECT);
    await Promise.all(
      told.map(async (seed) => {
        try {
          const session = await swarm.connect(seed);
          await session.reportSuspect(suspect.root, suspect.peer, suspect.reason, {
            timeoutMs: SUSPECT_REPORT_TIMEOUT_MS,
          });
          suspect.told++;
          this.totals.reported++;
        } catch {
          // This seed did not take it (older, gone): the others may have; the next failure tells again.
        }
      }),
    );
    this.options.log.info('told the seeds of a holder that failed an audit', {
      peer: suspect.peer,
      root: suspect.root.slice(0, 12),
      seeds: suspect.told,
    });
  }
}
