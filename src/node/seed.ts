// The seed: an always-on peer that keeps blocks on disk and serves them to anyone who asks by id.
// It never has a key: it sees ciphertext blocks, upload ids and root ids, nothing else.
//
// Dev docs. Pushed blocks are pinned under `upload:<upload id>` as they arrive, so the quota can
// refuse them but eviction never takes them. A commit is accepted only when every block of the file
// is in the store (listed without the key from the root it holds); it pins them as `file:<root>`,
// records the committing peer as an owner (held-files.ts, durable before the answer), and the seed
// announces the root. A commit of a root the seed holds, under an upload id it never saw, renews
// the sender's hold (and makes it an owner if it was not). Uploads never committed are unpinned
// after UPLOAD_IDLE_TTL_MS idle, and at every start (their blocks stay as evictable cache).
//
// Who may store: with an allow list, the listed peers, within the quota, for good; nobody else.
// Without one (an open seed), anyone, but each peer within `peerQuota` (files it owns and uploads in
// progress), all of them within `openShare` of the quota, and each file only until `openTtlMs`
// after its owners last renewed it (holds.ts). An expired file is unpinned (its blocks become
// evictable cache) and withdrawn.
//
// A commit may carry the owner's expiry (`put --expire`): kept in the held-file record, moved only
// later by later commits, refused if already past. At that time the file is dropped whoever holds
// it: unpinned, withdrawn, its blocks deleted at once (a timer of its own when it comes before the
// next sweep). Blocks that no pin needs (no held file, no upload in progress) are collected by a
// sweep every COLLECT_SWEEP_MS once unneeded for COLLECT_DELAY_MS, COLLECT_BATCH at a time; the
// store's delete keeps the ledger in step. The seed audits every other holder of each file it holds
// (seed-auditor.ts).
//
// Faults (disk-faults.ts): a local I/O error while storing stops that upload (its pin dropped, the
// blocks it wrote deleted, its later blocks refused) and the peer hears a generic `unavailable`; a
// read error is not-found. Below `minFreeBytes` of free disk, stores are refused. A block of a held
// file that rotted or vanished is fetched again from other holders of the file; a file that cannot
// be made whole is withdrawn (not announced) and tried again every HEAL_RETRY_MS.
//
// Replication (replication.ts): the seed keeps each file it holds at its target of live copies
// (the owner's commit terms, else --copies), pushing it on when it is the plan's pusher and
// dropping its copy when the plan releases it; it answers replica queries and lost reports from
// that view. Seeds the deployment lists may push repairs here as if on the allow list.
//
// The seed's key lives in <data>/identity.key (identity-file.ts), so it is the same peer id across
// restarts, and only it can be that id. That it is a seed is the deployment's word (the signaling
// server's list of seeds), not its own: it announces the seeds topic, and an unlisted seed is told
// no. `allow` names peer ids as proven on the channel, so an allow list means what it says.

import WebSocket from 'ws';
import {
  BlockMissingError,
  ClosedError,
  QuotaError,
  StoreRefusedError,
  TimeoutError,
  type RefusalReason,
} from '../errors.js';
import { toHex } from '../content/bytes.js';
import { defaultBackend } from '../content/crypto.js';
import { fetchIndexIds, refAt } from '../content/block-list.js';
import { type BlockId, unpackIds } from '../content/format.js';
import { DEFAULT_ID_LAYOUT, IDS_PER_INDEX_BLOCK, decodeRootStructure, idsInIndexBlock } from '../content/manifest.js';
import type { BlockStore } from '../store/block-store.js';
import { BlockFetcher } from '../net/fetch.js';
import type { PeerIdentity } from '../net/identity.js';
import {
  DEFAULT_MIN_FREE_BYTES,
  DEFAULT_OPEN_SHARE,
  DEFAULT_OPEN_TTL_MS,
  DEFAULT_PEER_QUOTA,
  EXPIRY_SWEEP_MAX_MS,
  HEAL_CONCURRENCY,
  HEAL_DEADLINE_MS,
  HEAL_NO_HOLDER_MS,
  HEAL_RETRY_MS,
  MAX_STOPPED_UPLOADS,
  MAX_UPLOADS,
  MAX_UPLOADS_PER_PEER,
  MIN_BLOCK_CHARGE,
  RENEW_FLUSH_MS,
  RENEW_WRITE_GAP_MS,
  UPLOAD_IDLE_TTL_MS,
  EXPIRY_SWEEP_MIN_MS,
  IDLE_UPLOAD_SWEEP_MS,
  SEED_MAX_PEERS,
  SEED_SIGNAL_MAX_PAYLOAD,
  COLLECT_BATCH,
  COLLECT_DELAY_MS,
  COLLECT_SWEEP_MS,
  MAX_COLLECT_CANDIDATES,
  REPLICATION_PUSH_TIMEOUT_MS,
} from '../net/limits.js';
import { MAX_BATCHED_HOLDERS, SEEDS_TOPIC } from '../net/signal-messages.js';
import type { WebSocketLike } from '../net/signal-client.js';
import { Swarm } from '../net/swarm.js';
import { DiskSpace, FaultLog, GuardedStore, isLocalFault } from './disk-faults.js';
import { openFsBlockStore } from '../store/fs.node.js';
import { openHeldFileRecords, type HeldFile, type HeldFileRecords } from './held-files.js';
import { Holds } from './holds.js';
import { loadNodeIdentity } from './identity-file.js';
import type { Logger } from '../log.js';
import { createLogger } from './log.js';
import { nodeWrtc } from './wrtc.js';
import { filePin, filePinRoot } from '../store/block-store.js';
import { SeedAuditor, type AuditCounts } from './seed-auditor.js';
import type { CommitTerms } from '../net/wire.js';
import { ReplicationEngine } from './replication.js';
import type { Candidate } from '../replication/policy.js';
import { pushHeldFile } from '../net/transfer.js';

const UPLOAD_PIN = 'upload:';
const EXPIRED_COMMIT = "the file's expiry has passed";
/** What a peer hears when this seed's own storage failed. */
const SEED_UNAVAILABLE = 'the seed cannot store this now';

export interface SeedOptions {
  readonly dataDir: string;
  readonly quota: number;
  readonly signalUrl: string;
  /** More signaling URLs of the same deployment (processes on one Redis), tried in turn when one is lost. */
  readonly signalAlternates?: readonly string[];
  /** Peer ids allowed to push blocks; absent = anyone, within the limits for unlisted peers. */
  readonly allow?: readonly string[];
  /** Most one unlisted peer may keep here, files and uploads (default DEFAULT_PEER_QUOTA). */
  readonly peerQuota?: number;
  /** Share of the quota all unlisted peers may keep together (default DEFAULT_OPEN_SHARE). */
  readonly openShare?: number;
  /** How long an unlisted peer's file lives without a renewal (default DEFAULT_OPEN_TTL_MS). */
  readonly openTtlMs?: number;
  /** Free disk space to keep: stores are refused below it (default DEFAULT_MIN_FREE_BYTES; 0: off). */
  readonly minFreeBytes?: number;
  readonly log?: Logger;
  /** fsync each block (default true). */
  readonly durable?: boolean;
  /** Headers sent on the signaling upgrade (the embedded seed's internal token). */
  readonly signalHeaders?: Readonly<Record<string, string>>;
  /**
   * Only for `mycel serve`'s embedded seed, reaching its own TLS port over loopback: the
   * certificate names the public host, not 127.0.0.1, and the port is one this process holds.
   */
  readonly signalSelfSigned?: boolean;
  /** Who the seed is; default the identity kept in `dataDir`. */
  readonly identity?: PeerIdentity;
  /** Where blocks are kept; default a file-system store in `dataDir` (tests give others). */
  readonly store?: BlockStore;
  /** Where the held-file records are kept; default held-files.json in `dataDir`. */
  readonly records?: HeldFileRecords;
  /** How long an absent holder of a file still counts (default DEFAULT_GRACE_MS). */
  readonly graceMs?: number;
  /** Live copies for files whose owner did not say (default DEFAULT_TARGET_COPIES). */
  readonly copies?: number;
  /**
   * Tests only: every block served to a peer waits its turn, one at a time, this long: a slow seed
   * (a rate limit of one block per interval) without a network namespace.
   */
  readonly serveDelayMs?: number;
  /**
   * Tests only: the collection sweep's period and delay (COLLECT_SWEEP_MS, COLLECT_DELAY_MS), both
   * set to this, so a test sees blocks collected without waiting half an hour.
   */
  readonly collectMs?: number;
  /** `--audit-every`: longest time between two audits of another holder of a held file. */
  readonly auditIntervalMs?: number;
  /** Who holds a file, for audits (default: the swarm's lookup). */
  readonly holdersOf?: (root: BlockId) => Promise<readonly string[]>;
  /** Told every audit of another holder that passed or failed (the replication engine listens). */
  readonly onAuditVerdict?: (root: BlockId, peer: string, ok: boolean, reason: string | undefined) => void;
}

/** `store` as peers read it: one block per `ms`, in turn (SeedOptions.serveDelayMs). */
function servedSlowly(store: BlockStore, ms: number): BlockStore {
  let turn: Promise<unknown> = Promise.resolve();
  return new Proxy(store, {
    get(target, property) {
      if (property === 'get') {
        return async (id: BlockId) => {
          const mine = turn.then(() => new Promise((resolve) => setTimeout(resolve, ms)));
          turn = mine;
          await mine;
          return target.get(id);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

interface Upload {
  readonly key: string;
  readonly peer: string;
  /** Counted against the open share (the peer is not on an allow list). */
  readonly open: boolean;
  /** Block id → what it is charged (its size, at least MIN_BLOCK_CHARGE), each block pushed. */
  readonly ids: Map<BlockId, number>;
  /** Blocks this upload brought into the store (dropped if the upload fails). */
  readonly written: Set<BlockId>;
  bytes: number;
  lastActive: number;
  /** Set once the upload is committed, released or stopped: late blocks must not revive it. */
  ended: boolean;
}

/** Why an upload was stopped: every later block of it hears the same. */
interface Refusal {
  readonly reason: RefusalReason;
  readonly detail: string;
}

/** A file's blocks as the store holds them, listed from its root without the key. */
interface FileCheck {
  /** Blocks in the file (0: unknown, its root is not held). */
  readonly total: number;
  readonly missing: number;
  /** The listing stopped early: `missing` is a lower bound. */
  readonly atLeast: boolean;
  /** Distinct ids held (only when nothing is missing). */
  readonly ids: Set<BlockId>;
  readonly bytes: number;
}

/** The WebSocket constructor Node peers use (ws), as the signaling client wants it. */
export function nodeSocketFactory(
  url: string,
  headers?: Readonly<Record<string, string>>,
  tls?: { readonly rejectUnauthorized: boolean },
): WebSocketLike {
  return new WebSocket(url, {
    maxPayload: SEED_SIGNAL_MAX_PAYLOAD,
    headers: { ...headers },
    ...tls,
  }) as unknown as WebSocketLike;
}

export class Seed {
  private readonly uploads = new Map<string, Upload>();
  /** Uploads stopped by a refusal or fault, oldest first: their late blocks hear the same refusal. */
  private readonly stopped = new Map<string, Refusal>();
  /** Files held whole: what the seed announces. */
  private readonly whole = new Set<BlockId>();
  /** Files held but missing blocks: withdrawn until repaired. */
  private readonly incomplete = new Set<BlockId>();
  private readonly repairs = new Map<BlockId, { again: boolean }>();
  private readonly repairQueue: BlockId[] = [];
  private readonly retries = new Map<BlockId, ReturnType<typeof setTimeout>>();
  private readonly aborts = new Set<AbortController>();
  /** Files whose renewals are in memory only, written at the next flush. */
  private readonly unwritten = new Set<BlockId>();
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private closed = false;
  private expiryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Blocks no pin needed when a sweep last looked, with when that was first seen. */
  private readonly unneeded = new Map<BlockId, number>();
  /** Counts for /metrics: files dropped at their expiry, blocks collected. */
  readonly housekeeping = { expiredFiles: 0, collectedBlocks: 0 };
  /** Audits of the other holders of held files (seed-auditor.ts). */
  audits!: SeedAuditor;
  /** Keeps each held file at its target of live copies (replication.ts). */
  readonly replication: ReplicationEngine;

  private constructor(
    readonly peerId: string,
    /** The store as peers see it (read faults answered as not held). */
    readonly store: GuardedStore,
    readonly swarm: Swarm,
    private readonly holds: Holds,
    private readonly records: HeldFileRecords,
    private readonly disk: DiskSpace,
    private readonly faults: FaultLog,
    private readonly options: SeedOptions,
    private readonly log: Logger,
  ) {
    this.replication = new ReplicationEngine(
      {
        self: peerId,
        lookup: (topic) => swarm.holders(topic),
        lookupBatch: () => swarm.lookupBatch,
        lookupMany: (topics) => swarm.holdersOfMany(topics),
        batchedSample: MAX_BATCHED_HOLDERS,
        heldRoots: () => [...this.whole],
        holds: (root) => this.whole.has(root),
        copiesOf: (root) => this.holds.get(root)?.copies,
        push: (root, to, target) => this.pushCopies(root, to, target),
        release: (root) => this.releaseCopy(root),
        // Assigned in start(), before the first replication round can ask.
        auditCounts: (root) => this.audits.auditCounts(root),
      },
      { graceMs: options.graceMs, defaultCopies: options.copies, log },
    );
  }

  static async start(options: SeedOptions): Promise<Seed> {
    const log = options.log ?? createLogger({ fields: { component: 'seed' } });
    const identity = options.identity ?? (await loadNodeIdentity(options.dataDir));
    const peerId = identity.id;
    let seed: Seed | undefined;
    const raw =
      options.store ??
      (await openFsBlockStore({
        dir: options.dataDir,
        quota: options.quota,
        durable: options.durable,
        onCorrupt: (id) => log.warn('dropped a block that no longer matches its id', { block: id }),
      }));
    const faults = new FaultLog(log);
    const store = new GuardedStore(raw, {
      onReadFault: (id, error, lasting) => faults.report('read', error, { block: id, dropped: lasting }),
      onPinnedMissing: (id) => seed?.blockLost(id),
    });
    const open = !options.allow;
    const openShare = options.openShare ?? DEFAULT_OPEN_SHARE;
    const holds = new Holds({
      peerQuota: options.peerQuota ?? DEFAULT_PEER_QUOTA,
      // A share of 1 is no cap of its own: the quota itself then refuses.
      openBudget: openShare >= 1 ? Infinity : Math.floor(openShare * options.quota),
      ttlMs: options.openTtlMs ?? DEFAULT_OPEN_TTL_MS,
    });
    const records = options.records ?? openHeldFileRecords(options.dataDir);
    const disk = new DiskSpace(options.dataDir, options.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES, log, faults);
    const swarm = new Swarm({
      identity,
      signalUrl: options.signalUrl,
      signalAlternates: options.signalAlternates,
      createSocket: (url) =>
        nodeSocketFactory(
          url,
          options.signalHeaders,
          options.signalSelfSigned ? { rejectUnauthorized: false } : undefined,
        ),
      wrtc: nodeWrtc,
      log,
      maxPeers: SEED_MAX_PEERS,
      host: {
        store: options.serveDelayMs ? servedSlowly(store, options.serveDelayMs) : store,
        receiveStore: (peer, upload, id, bytes) => seed!.receiveStore(peer, upload, id, bytes),
        receiveCommit: (peer, upload, root, terms) => seed!.receiveCommit(peer, upload, root, terms),
        replicaReport: (_peer, root) => seed!.replication.report(root),
        receiveLost: (peer, former, roots) => void seed!.replication.noteLost(peer, former, roots),
        // Never believed: the seed audits the holder itself (bounded), and only its verdict counts.
        receiveSuspect: (peer, root, holder) =>
          void seed!.audits
            .auditOnReport(peer, root, holder)
            .catch((error: unknown) => faults.report('audit', error, { peer })),
        onLocalFault: (error, { peer, op }) => faults.report(op, error, { peer }),
      },
    });
    seed = new Seed(peerId, store, swarm, holds, records, disk, faults, options, log);
    const held = seed;
    seed.audits = new SeedAuditor({
      self: peerId,
      swarm,
      log,
      intervalMs: options.auditIntervalMs,
      heldRoots: () => held.whole,
      blocksOf: (root) => {
        const pins = store.pinSet(filePin(root));
        return pins && [...pins];
      },
      localBlock: (id) => store.get(id),
      holdersOf: options.holdersOf,
      onVerdict: (root, peer, ok, reason) => {
        // A failed audit makes that holder's copy stop counting: repair replaces it.
        held.replication.noteAuditVerdict(root, peer, ok);
        options.onAuditVerdict?.(root, peer, ok, reason);
      },
    });
    await seed.loadHeld();
    await disk.read();
    if (disk.lastFree !== undefined && disk.minFree > 0 && disk.lastFree < disk.minFree) {
      log.error('disk space low: refusing stores', {
        dir: options.dataDir,
        free: disk.lastFree,
        minFree: disk.minFree,
      });
    }

    swarm.on('session-closed', ({ peer, session }) => {
      if (session.stats.blocksServed > 0 || session.stats.blocksFetched > 0) {
        log.info('peer session ended', {
          peer,
          blocksServed: session.stats.blocksServed,
          bytesServed: session.stats.bytesServed,
        });
      }
    });
    swarm.signaling.on('rejected', ({ code }) => {
      if (code !== 'not-a-seed') return;
      log.error('the signaling server does not list this seed, so nobody is offered it as a seed', {
        peer: peerId,
        fix: `start the signaling server with --seed ${peerId}`,
      });
    });
    swarm.on('replaced', () => {
      log.error("another process proved this seed's id to the signaling server; this one is off the network", {
        peer: peerId,
      });
    });
    swarm.announce([SEEDS_TOPIC, ...seed.whole]);
    swarm.start();
    seed.replication.start();
    seed.every(IDLE_UPLOAD_SWEEP_MS, () => seed.dropIdleUploads());
    seed.every(RENEW_FLUSH_MS, () => seed.writeRenewals());
    seed.every(options.collectMs ?? COLLECT_SWEEP_MS, () => seed.collectUnneeded());
    seed.armExpiry();
    seed.every(Math.max(EXPIRY_SWEEP_MIN_MS, Math.min(EXPIRY_SWEEP_MAX_MS, holds.policy.ttlMs / 8)), () =>
      seed.expireHolds(),
    );
    // "Ready" means reachable: a peer told of this seed can connect to it once the signaling
    // server has its proven hello. A server not reachable yet is retried in the background.
    await swarm.signaling.ready().catch((error: unknown) =>
      log.warn('not connected to the signaling server yet; retrying', {
        url: options.signalUrl,
        error: (error as Error).message,
      }),
    );
    seed.audits.refresh().catch((error: unknown) => seed.faults.report('audit', error));
    const usage = await raw.usage();
    log.info('seed ready', {
      peer: peerId,
      files: holds.size,
      incomplete: seed.incomplete.size,
      blocks: usage.blocks,
      bytes: usage.bytes,
      quota: options.quota,
      open,
      ...(open ? { peerQuota: holds.policy.peerQuota, openShare, openTtlMs: holds.policy.ttlMs } : {}),
      minFree: disk.minFree,
    });
    return seed;
  }

  /** Audits of other holders of `root` that passed and failed since the seed started. */
  auditCounts(root: BlockId): AuditCounts {
    return this.audits.auditCounts(root);
  }

  /** The record of a held file (owners, expiry, size), whole or not. */
  heldFile(root: BlockId): HeldFile | undefined {
    return this.holds.get(root);
  }

  private every(ms: number, task: () => Promise<void>): void {
    const timer = setInterval(() => void task().catch((error) => this.faults.report('housekeeping', error)), ms);
    timer.unref();
    this.timers.push(timer);
  }

  /**
   * Reads the held-file records and squares them with the pins: an upload pin is left over from a
   * run that ended; a file pin without a record is a commit that never finished (undone), unless
   * there were no records at all (a data folder from before them: those files are kept for good).
   * Then checks each file is whole, expires what is due, and repairs the rest.
   */
  private async loadHeld(): Promise<void> {
    const { files, existed, skipped } = await this.records.load();
    if (skipped > 0) this.log.warn('held-file records that failed their checks were left out', { skipped });
    const recorded = new Map(files.map((f) => [f.root, f]));
    const pinned = new Set<BlockId>();
    for (const name of await this.store.pins()) {
      if (name.startsWith(UPLOAD_PIN)) await this.store.unpin(name);
      else {
        const root = filePinRoot(name);
        if (root) pinned.add(root);
      }
    }
    const kept: Promise<void>[] = [];
    for (const root of pinned) {
      if (recorded.has(root)) continue;
      if (existed) {
        await this.store.unpin(filePin(root));
        this.log.info('undid a commit that did not finish', { root });
        continue;
      }
      kept.push(this.records.put(this.holds.keep(root, this.pinnedBytes(root))));
    }
    await Promise.all(kept);
    if (!existed && pinned.size > 0) {
      this.log.info('files stored before owners were recorded are kept for good', { files: pinned.size });
    }
    for (const file of files) {
      if (!pinned.has(file.root)) {
        await this.records.delete(file.root);
        this.log.warn('a held-file record had no pinned blocks and was dropped', { root: file.root });
        continue;
      }
      this.holds.set(file.root, file);
    }
    await this.expireHolds();
    for (const root of this.holds.roots()) {
      if (this.missingBlocks(root).length === 0) this.whole.add(root);
      else {
        this.incomplete.add(root);
        this.scheduleRepair(root);
      }
    }
  }

  private pinnedBytes(root: BlockId): number {
    let bytes = 0;
    for (const id of this.store.pinSet(filePin(root)) ?? []) bytes += this.store.blockSize(id) ?? 0;
    return bytes;
  }

  private missingBlocks(root: BlockId): BlockId[] {
    return [...(this.store.pinSet(filePin(root)) ?? [])].filter((id) => this.store.blockSize(id) === undefined);
  }

  private mayStore(peer: string): boolean {
    return !this.options.allow || this.options.allow.includes(peer) || this.replication.isListedSeed(peer);
  }

  /** Whether `peer`'s uploads count as a stranger's: limited, and expiring. */
  private isLimited(peer: string): boolean {
    return !this.options.allow?.includes(peer) && !this.replication.isListedSeed(peer);
  }

  /**
   * Pushes the file `root` from this seed's store to each of `to` (a repair), carrying `target` in
   * the commit's terms; each copy is checked as put checks one.
   */
  private async pushCopies(
    root: BlockId,
    to: readonly Candidate[],
    target: number,
  ): Promise<{ ok: string[]; failed: string[] }> {
    const ok: string[] = [];
    const failed: string[] = [];
    await Promise.all(
      to.map(async ({ id }) => {
        const abort = new AbortController();
        this.aborts.add(abort);
        const deadline = setTimeout(
          () => abort.abort(new TimeoutError(`pushing file ${root} to ${id}`, REPLICATION_PUSH_TIMEOUT_MS)),
          REPLICATION_PUSH_TIMEOUT_MS,
        );
        try {
          const session = await this.swarm.connect(id);
          await pushHeldFile(session, root, this.store, abort.signal, { copies: target });
          ok.push(id);
          this.log.info('copy pushed', { root, to: id, target });
        } catch (error) {
          failed.push(id);
          this.log.warn('pushing a copy failed', { root, to: id, error: (error as Error).message });
        } finally {
          clearTimeout(deadline);
          this.aborts.delete(abort);
        }
      }),
    );
    return { ok, failed };
  }

  /** Drops this seed's copy of `root` (a surplus one): forgotten, withdrawn, its blocks evictable cache. */
  private async releaseCopy(root: BlockId): Promise<void> {
    const held = this.holds.get(root);
    if (!held || this.closed) return;
    this.holds.set(root, undefined);
    this.whole.delete(root);
    this.incomplete.delete(root);
    this.unwritten.delete(root);
    this.swarm.withdraw([root]);
    // Forgotten before unpinned: a crash in between leaves a pin without a record, undone at start.
    await this.records.delete(root);
    await this.store.unpin(filePin(root));
    this.log.info('surplus copy released', { root, bytes: held.bytes });
  }

  private refuse(peer: string, reason: RefusalReason, detail: string): StoreRefusedError {
    return new StoreRefusedError(peer, reason, detail);
  }

  private async receiveStore(peer: string, upload: Uint8Array, id: BlockId, bytes: Uint8Array): Promise<void> {
    if (!this.mayStore(peer)) throw this.refuse(peer, 'not-allowed', 'this seed keeps blocks only for its allow list');
    const key = toHex(upload);
    const stoppedBy = this.stopped.get(key);
    if (stoppedBy) throw this.refuse(peer, stoppedBy.reason, stoppedBy.detail);
    let entry = this.uploads.get(key);
    if (entry && entry.peer !== peer) throw this.refuse(peer, 'unknown-upload', 'that upload belongs to another peer');
    if (!entry) {
      const busy = this.uploadRefusal(peer);
      if (busy) throw this.refuse(peer, 'busy', busy);
      entry = {
        key,
        peer,
        open: this.isLimited(peer),
        ids: new Map(),
        written: new Set(),
        bytes: 0,
        lastActive: Date.now(),
        ended: false,
      };
      this.uploads.set(key, entry);
      this.log.info('upload started', { peer, upload: key });
    }
    entry.lastActive = Date.now();
    if (!entry.ids.has(id)) {
      const charge = Math.max(bytes.length, MIN_BLOCK_CHARGE);
      if (entry.open) {
        const refusal = this.holds.refusal(peer, { peer: charge, open: charge });
        if (refusal) return this.stop(entry, 'quota', refusal);
      }
      // Counted at once (no await since the check), so concurrent blocks cannot all pass it.
      entry.ids.set(id, charge);
      entry.bytes += charge;
      this.holds.reserve(peer, charge, entry.open);
      const low = await this.disk.refusal(bytes.length, entry.ids.size === 1);
      if (low) return this.stop(entry, 'unavailable', low);
      if (entry.ended) throw this.lateBlock(entry);
    }
    if (entry.ended) throw this.lateBlock(entry);
    const had = this.store.blockSize(id) !== undefined;
    let failure: Refusal | undefined;
    try {
      // Pinned before it is written, so the quota counts it and eviction cannot take it meanwhile.
      await this.store.pin(UPLOAD_PIN + key, [id]);
      await this.store.put(id, bytes);
    } catch (error) {
      if (error instanceof QuotaError) failure = { reason: 'quota', detail: error.message };
      else if (!isLocalFault(error)) throw error;
      else {
        this.faults.report('store', error, { peer, upload: key, block: id });
        failure = { reason: 'unavailable', detail: SEED_UNAVAILABLE };
      }
    }
    if (!failure && !had) {
      entry.written.add(id);
      this.disk.wrote(bytes.length);
    }
    if (entry.ended) {
      // The upload ended (stopped or committed) while this block was on its way: its pin, made
      // again just now, goes, and so does the block if nothing else keeps it.
      await this.dropUploadBlocks(entry, failure || had ? [] : [id]);
      throw this.lateBlock(entry);
    }
    if (failure) return this.stop(entry, failure.reason, failure.detail);
  }

  /** Why `peer` may not start another upload now (too many in progress), or undefined. */
  private uploadRefusal(peer: string): string | undefined {
    if (this.uploads.size >= MAX_UPLOADS) return 'the seed has too many uploads in progress; try again later';
    let mine = 0;
    for (const upload of this.uploads.values()) if (upload.peer === peer) mine++;
    if (mine >= MAX_UPLOADS_PER_PEER) return `at most ${MAX_UPLOADS_PER_PEER} uploads in progress per peer`;
    return undefined;
  }

  /** The answer to a block that arrives for an upload that has ended. */
  private lateBlock(entry: Upload): StoreRefusedError {
    const stoppedBy = this.stopped.get(entry.key);
    return stoppedBy
      ? this.refuse(entry.peer, stoppedBy.reason, stoppedBy.detail)
      : this.refuse(entry.peer, 'unknown-upload', 'that upload has ended; start a new one');
  }

  /** Stops an upload (refused or failed), releases what it holds, and throws the refusal. */
  private async stop(entry: Upload, reason: RefusalReason, detail: string): Promise<never> {
    await this.release(entry, { reason, detail });
    throw this.refuse(entry.peer, reason, detail);
  }

  /**
   * Ends an upload that will not be committed: its pin goes, the blocks it brought that nothing
   * else pins are deleted (a failed upload leaves no debris), and its later blocks are refused.
   */
  private async release(entry: Upload, why: Refusal): Promise<void> {
    if (entry.ended) return;
    entry.ended = true;
    this.uploads.delete(entry.key);
    this.stopped.set(entry.key, why);
    if (this.stopped.size > MAX_STOPPED_UPLOADS) this.stopped.delete(this.stopped.keys().next().value!);
    this.holds.unreserve(entry.peer, entry.bytes, entry.open);
    const dropped = await this.dropUploadBlocks(entry, [...entry.written]);
    this.log.info('upload released', {
      peer: entry.peer,
      upload: entry.key,
      reason: why.reason,
      blocks: entry.ids.size,
      dropped,
    });
  }

  private async dropUploadBlocks(entry: Upload, ids: BlockId[]): Promise<number> {
    let dropped = 0;
    try {
      await this.store.unpin(UPLOAD_PIN + entry.key);
      for (const id of ids) if (!this.store.isPinned(id) && (await this.store.delete(id))) dropped++;
    } catch (error) {
      this.faults.report('release', error, { upload: entry.key });
    }
    return dropped;
  }

  private async receiveCommit(peer: string, upload: Uint8Array, root: BlockId, terms: CommitTerms): Promise<void> {
    if (!this.mayStore(peer)) throw this.refuse(peer, 'not-allowed', 'this seed keeps blocks only for its allow list');
    const key = toHex(upload);
    const entry = this.uploads.get(key);
    const { expiresAt } = terms;
    const expired = expiresAt !== undefined && expiresAt <= Date.now();
    if (!entry) {
      const stoppedBy = this.stopped.get(key);
      if (stoppedBy) throw this.refuse(peer, stoppedBy.reason, stoppedBy.detail);
      if (expired) throw this.refuse(peer, 'not-allowed', EXPIRED_COMMIT);
      return this.renew(peer, root, expiresAt, terms.copies);
    }
    if (entry.peer !== peer) throw this.refuse(peer, 'unknown-upload', 'no such upload from this peer');
    if (expired) return this.stop(entry, 'not-allowed', EXPIRED_COMMIT);
    entry.lastActive = Date.now();
    try {
      const check = await this.checkFile(root);
      if (!check) return await this.stop(entry, 'bad-block', 'the committed root is not the root of a Mycel file');
      if (check.missing > 0) {
        const detail =
          check.total === 0
            ? 'the seed does not hold the root block, and keeps only whole files'
            : `the seed lacks ${check.atLeast ? 'at least ' : ''}${check.missing} of the file's ${check.total} blocks, and keeps only whole files`;
        return await this.stop(entry, 'incomplete', detail);
      }
      const expires = entry.open;
      if (!this.holds.hasRoomForOwner(peer, root))
        return await this.stop(entry, 'quota', 'this file is kept for as many peers as the seed allows');
      if (entry.open) {
        // The upload's own bytes turn into the file's: only the difference is new.
        const cost = this.holds.costOfHold(peer, root, check.bytes, expires);
        const refusal = this.holds.refusal(peer, { peer: cost.peer - entry.bytes, open: cost.open - entry.bytes });
        if (refusal) return await this.stop(entry, 'quota', refusal);
      }
      // The upload's bytes become the file's: uncounted first, so the two are never counted at once.
      this.holds.unreserve(peer, entry.bytes, entry.open);
      let kept: boolean;
      try {
        kept = await this.keepFile(root, check.ids, check.bytes, peer, expires, expiresAt, terms.copies);
      } catch (error) {
        this.holds.reserve(peer, entry.bytes, entry.open);
        throw error;
      }
      if (!kept) {
        this.holds.reserve(peer, entry.bytes, entry.open);
        return await this.stop(
          entry,
          'incomplete',
          'blocks of the file were dropped while it was committed; send it again',
        );
      }
      entry.ended = true;
      this.uploads.delete(key);
      // A held file that was missing blocks is whole again: this upload brought them back.
      if (this.incomplete.has(root)) this.markWhole(root);
      await this.store.unpin(UPLOAD_PIN + key).catch((error) => this.faults.report('release', error, { upload: key }));
      this.log.info('file stored', { peer, root, blocks: check.ids.size, bytes: check.bytes, expires });
    } catch (error) {
      if (!isLocalFault(error)) throw error;
      this.faults.report('commit', error, { peer, upload: key, root });
      await this.release(entry, { reason: 'unavailable', detail: SEED_UNAVAILABLE });
      throw this.refuse(peer, 'unavailable', SEED_UNAVAILABLE);
    }
  }

  /** A commit of a held root under a new upload id: renews `peer`'s hold (making it an owner). */
  private async renew(
    peer: string,
    root: BlockId,
    expiresAt: number | undefined,
    copies: number | undefined,
  ): Promise<void> {
    const held = this.holds.get(root);
    if (!held) {
      throw this.refuse(
        peer,
        'unknown-upload',
        'no such upload, and this seed does not hold that file (files of peers not on its allow list expire unless renewed)',
      );
    }
    const expires = this.isLimited(peer);
    const mine = held.owners.find((o) => o.peer === peer);
    if (mine && Date.now() - mine.renewedAt < Math.min(RENEW_WRITE_GAP_MS, this.holds.policy.ttlMs / 10)) {
      // Renewed a moment ago: written with the next flush, not now.
      this.holds.hold(root, held.bytes, peer, expires, expiresAt, copies);
      this.unwritten.add(root);
      this.armExpiry();
      this.log.info('file renewed', { peer, root });
      if (this.incomplete.has(root))
        throw this.refuse(
          peer,
          'incomplete',
          'the seed is missing blocks of this file and is repairing it; renewed all the same',
        );
      return;
    }
    if (!this.holds.hasRoomForOwner(peer, root))
      throw this.refuse(peer, 'quota', 'this file is kept for as many peers as the seed allows');
    if (expires) {
      const refusal = this.holds.refusal(peer, this.holds.costOfHold(peer, root, held.bytes, expires));
      if (refusal) throw this.refuse(peer, 'quota', refusal);
    }
    try {
      await this.keepFile(root, undefined, held.bytes, peer, expires, expiresAt, copies);
    } catch (error) {
      if (!isLocalFault(error)) throw error;
      this.faults.report('renew', error, { peer, root });
      throw this.refuse(peer, 'unavailable', SEED_UNAVAILABLE);
    }
    this.log.info('file renewed', { peer, root });
    if (this.incomplete.has(root))
      throw this.refuse(
        peer,
        'incomplete',
        'the seed is missing blocks of this file and is repairing it; renewed all the same',
      );
  }

  /**
   * Pins (for a new file) and records `peer` as an owner, durably, before anyone is told; undone if
   * either fails. Announces a file new to the seed. False (nothing kept) if a block of a new file
   * went missing since it was checked (it was unpinned cache, and evicted meanwhile).
   */
  private async keepFile(
    root: BlockId,
    ids: Set<BlockId> | undefined,
    bytes: number,
    peer: string,
    expires: boolean,
    expiresAt?: number,
    copies?: number,
  ): Promise<boolean> {
    const before = this.holds.get(root);
    const pin = filePin(root);
    try {
      if (!before && ids) {
        await this.store.pin(pin, ids);
        if (this.missingBlocks(root).length > 0) {
          await this.store.unpin(pin);
          return false;
        }
      }
      await this.records.put(this.holds.hold(root, bytes, peer, expires, expiresAt, copies));
    } catch (error) {
      this.holds.set(root, before);
      if (!before) {
        await this.store.unpin(pin).catch(() => {
          // The commit's own error is the one to report; a pin without a record is undone at start.
        });
      }
      throw error;
    }
    this.armExpiry();
    if (!before) {
      this.whole.add(root);
      this.swarm.announce([root]);
      this.audits.refresh([root]).catch((error: unknown) => this.faults.report('audit', error, { root }));
    }
    return true;
  }

  /**
   * Lists the file `root` from the store, without the key: undefined if `root` is not a file's root
   * (or is damaged); else how many of its blocks are missing. Reads only the root and the index
   * blocks the store holds (a missing one counts with every id it would list). It stops once it
   * has listed more ids than the store holds blocks, plus one index block's worth: such a file
   * cannot be whole, and a root declaring millions of ids costs no more than that (`atLeast`).
   */
  private async checkFile(root: BlockId): Promise<FileCheck | undefined> {
    const rootBytes = await this.store.get(root);
    if (!rootBytes) return { total: 0, missing: 1, atLeast: false, ids: new Set(), bytes: 0 };
    let structure;
    try {
      structure = decodeRootStructure(root, rootBytes);
    } catch (error) {
      if (isLocalFault(error)) throw error;
      return undefined;
    }
    const indexed = structure.layout === 'indexed';
    const total = structure.blockCount + (indexed ? structure.refCount : 0) + 1;
    const budget = (await this.store.usage()).blocks + IDS_PER_INDEX_BLOCK;
    const ids = new Set<BlockId>();
    let missing = 0;
    let bytes = 0;
    let listed = 0;
    const add = (id: BlockId) => {
      listed++;
      const size = this.store.blockSize(id);
      if (size === undefined) missing++;
      else if (!ids.has(id)) {
        ids.add(id);
        bytes += size;
      }
    };
    const backend = defaultBackend();
    const getBlock = async (id: BlockId) => {
      const block = await this.store.get(id);
      if (!block) throw new BlockMissingError(id);
      return block;
    };
    for (let j = 0; j < structure.refCount; j++) {
      if (listed > budget) {
        return { total, missing: Math.max(missing, total - (budget - IDS_PER_INDEX_BLOCK)), atLeast: true, ids, bytes };
      }
      const ref = refAt(structure, j);
      if (!indexed) {
        add(ref);
        continue;
      }
      if (this.store.blockSize(ref) === undefined) {
        missing += 1 + idsInIndexBlock(structure.blockCount, j, DEFAULT_ID_LAYOUT);
        continue;
      }
      let packed: Uint8Array;
      try {
        packed = await fetchIndexIds(root, structure, j, getBlock, backend, DEFAULT_ID_LAYOUT, undefined);
      } catch (error) {
        if (isLocalFault(error)) throw error;
        if (error instanceof BlockMissingError) {
          missing += 1 + idsInIndexBlock(structure.blockCount, j, DEFAULT_ID_LAYOUT);
          continue;
        }
        return undefined;
      }
      add(ref);
      for (const id of unpackIds(packed)) add(id);
    }
    add(root);
    return { total, missing, atLeast: false, ids, bytes };
  }

  /** Writes renewals kept in memory. */
  private async writeRenewals(): Promise<void> {
    const files = [...this.unwritten].map((root) => this.holds.get(root)).filter((f): f is HeldFile => f !== undefined);
    this.unwritten.clear();
    // Put together: the records batch them into one or two writes.
    await Promise.all(
      files.map((file) =>
        this.records.put(file).catch((error) => this.faults.report('renew', error, { root: file.root })),
      ),
    );
  }

  /** Ends holds past their expiry; a file nobody holds any more is unpinned and withdrawn. */
  private async expireHolds(): Promise<void> {
    const { changed, dropped } = this.holds.expire();
    await Promise.all(
      changed.map((file) =>
        this.records.put(file).catch((error) => this.faults.report('expire', error, { root: file.root })),
      ),
    );
    if (dropped.length === 0) return;
    for (const file of dropped) {
      this.whole.delete(file.root);
      this.incomplete.delete(file.root);
      this.unwritten.delete(file.root);
      clearTimeout(this.retries.get(file.root));
      this.retries.delete(file.root);
      this.audits.forget(file.root);
    }
    this.swarm.withdraw(dropped.map((f) => f.root));
    // Forgotten before unpinned: a crash in between leaves a pin without a record, undone at start.
    await Promise.all(
      dropped.map((f) =>
        this.records.delete(f.root).catch((error) => this.faults.report('expire', error, { root: f.root })),
      ),
    );
    const now = Date.now();
    for (const file of dropped) {
      const ended = file.expiresAt !== undefined && file.expiresAt <= now;
      const ids = ended ? [...(this.store.pinSet(filePin(file.root)) ?? [])] : [];
      await this.store
        .unpin(filePin(file.root))
        .catch((error) => this.faults.report('expire', error, { root: file.root }));
      // Past the owner's expiry the file must not be kept at all: its blocks go now, not as cache.
      const collected = ended ? await this.collect(ids) : 0;
      if (ended) this.housekeeping.expiredFiles++;
      this.log.info('file expired', {
        root: file.root,
        bytes: file.bytes,
        ...(ended ? { expiresAt: file.expiresAt, collected } : {}),
      });
    }
  }

  /**
   * The next file expiry gets a timer of its own when it comes before the next sweep: a file is
   * never kept past its expiry by more than the time it takes to drop it.
   */
  private armExpiry(): void {
    clearTimeout(this.expiryTimer);
    const next = this.holds.nextExpiry();
    if (next === undefined || this.closed) return;
    const delay = Math.max(0, Math.min(next - Date.now(), EXPIRY_SWEEP_MAX_MS));
    this.expiryTimer = setTimeout(() => {
      this.expireHolds()
        .catch((error) => this.faults.report('expire', error))
        .finally(() => this.armExpiry());
    }, delay);
    this.expiryTimer.unref();
  }

  /**
   * Collection: deletes blocks no pin has needed for COLLECT_DELAY_MS (at most COLLECT_BATCH a
   * sweep). A block pinned again meanwhile (an upload pushing it again, a renewal) is spared.
   */
  private async collectUnneeded(): Promise<void> {
    const now = Date.now();
    const due: BlockId[] = [];
    const seen = new Set<BlockId>();
    for await (const id of this.store.ids()) {
      if (this.store.isPinned(id)) continue;
      seen.add(id);
      const since = this.unneeded.get(id);
      if (since === undefined) {
        if (this.unneeded.size < MAX_COLLECT_CANDIDATES) this.unneeded.set(id, now);
      } else if (now - since >= (this.options.collectMs ?? COLLECT_DELAY_MS) && due.length < COLLECT_BATCH)
        due.push(id);
    }
    // Needed again, or gone: forgotten, so a later spell of being unneeded starts from zero.
    for (const id of [...this.unneeded.keys()]) if (!seen.has(id)) this.unneeded.delete(id);
    const deleted = await this.collect(due);
    for (const id of due) this.unneeded.delete(id);
    if (deleted > 0) this.log.info('collected blocks no file needs', { blocks: deleted });
  }

  /**
   * Deletes those of `ids` that no pin needs (a file, or an upload in progress that pushed one
   * again), keeping the ledger in step (the store's delete updates it). Returns how many went.
   */
  private async collect(ids: Iterable<BlockId>): Promise<number> {
    let deleted = 0;
    for (const id of ids) {
      if (this.store.isPinned(id)) continue;
      try {
        if (await this.store.delete(id)) deleted++;
      } catch (error) {
        this.faults.report('collect', error, { block: id });
      }
    }
    this.housekeeping.collectedBlocks += deleted;
    return deleted;
  }

  private async dropIdleUploads(): Promise<void> {
    const now = Date.now();
    for (const upload of [...this.uploads.values()]) {
      if (now - upload.lastActive < UPLOAD_IDLE_TTL_MS) continue;
      upload.ended = true;
      this.uploads.delete(upload.key);
      this.holds.unreserve(upload.peer, upload.bytes, upload.open);
      // Its blocks stay as evictable cache: a slow uploader's next attempt may reuse them.
      await this.store
        .unpin(UPLOAD_PIN + upload.key)
        .catch((error) => this.faults.report('release', error, { upload: upload.key }));
      this.log.info('abandoned upload released', { peer: upload.peer, upload: upload.key, blocks: upload.ids.size });
    }
  }

  /** A pinned block is gone (rotted, vanished, unreadable): repair every held file naming it. */
  private blockLost(id: BlockId): void {
    for (const root of this.holds.roots()) {
      if (this.store.pinSet(filePin(root))?.has(id)) this.scheduleRepair(root);
    }
  }

  private scheduleRepair(root: BlockId): void {
    if (this.closed) return;
    const running = this.repairs.get(root);
    if (running) {
      running.again = true;
      return;
    }
    if (this.repairQueue.includes(root)) return;
    this.repairQueue.push(root);
    this.pumpRepairs();
  }

  private pumpRepairs(): void {
    while (this.repairs.size < HEAL_CONCURRENCY && this.repairQueue.length > 0 && !this.closed) {
      const root = this.repairQueue.shift()!;
      const state = { again: false };
      this.repairs.set(root, state);
      void this.repair(root, state)
        .catch((error) => this.faults.report('repair', error, { root }))
        .finally(() => {
          this.repairs.delete(root);
          if (state.again && this.holds.has(root)) this.scheduleRepair(root);
          this.pumpRepairs();
        });
    }
  }

  /**
   * Fetches the blocks of `root` the store lost from the file's other holders. Whole again: the
   * file is (or stays) announced. Not: it is withdrawn, and tried again in HEAL_RETRY_MS.
   */
  private async repair(root: BlockId, state: { readonly again: boolean }): Promise<void> {
    clearTimeout(this.retries.get(root));
    this.retries.delete(root);
    if (!this.holds.has(root)) return;
    const missing = this.missingBlocks(root);
    if (missing.length === 0) return this.markWhole(root);
    this.log.warn('repairing a file: fetching lost blocks from other holders', { root, blocks: missing.length });
    const abort = new AbortController();
    this.aborts.add(abort);
    const deadline = setTimeout(
      () => abort.abort(new TimeoutError(`repairing file ${root}`, HEAL_DEADLINE_MS)),
      HEAL_DEADLINE_MS,
    );
    const store = new GuardedStore(this.store.inner, {
      onReadFault: (id, error, lasting) => this.faults.report('read', error, { block: id, dropped: lasting }),
      onPinnedMissing: () => {
        // This repair is what brings missing blocks back.
      },
      // A write that fails here fails again on the next try: stop at once rather than loop.
      onWriteFault: (id, error) => {
        this.faults.report('repair', error, { root, block: id });
        abort.abort(error);
      },
    });
    const fetcher = new BlockFetcher({
      swarm: this.swarm,
      store,
      topic: root,
      signal: abort.signal,
      noHolderTimeoutMs: HEAL_NO_HOLDER_MS,
      log: this.log,
    });
    try {
      await fetcher.fetchAll(missing);
    } catch (error) {
      if (this.closed || !this.holds.has(root)) return;
      this.markIncomplete(root, this.missingBlocks(root).length, error as Error);
      return;
    } finally {
      clearTimeout(deadline);
      this.aborts.delete(abort);
      fetcher.stop();
    }
    // Other blocks found bad meanwhile (a read dropped them) are repaired next: their drop asks for
    // it (blockLost), even when it lands after this check (the ledger forgets a block before the
    // read that dropped it returns). Withdrawing the file for them would hide, for a moment, a
    // holder about to be whole again. Only a block this repair fetched and lost again withdraws it.
    if (state.again) return;
    const fetched = new Set(missing);
    const missingNow = this.missingBlocks(root);
    const lostAgain = missingNow.find((id) => fetched.has(id));
    if (lostAgain !== undefined) {
      this.markIncomplete(
        root,
        missingNow.length,
        new BlockMissingError(lostAgain, 'it went missing again during the repair'),
      );
      return;
    }
    if (missingNow.length > 0) return;
    this.log.info('file repaired', { root, blocks: missing.length });
    this.markWhole(root);
  }

  private markWhole(root: BlockId): void {
    this.incomplete.delete(root);
    if (this.whole.has(root)) return;
    this.whole.add(root);
    this.swarm.announce([root]);
  }

  private markIncomplete(root: BlockId, missing: number, error: Error): void {
    this.incomplete.add(root);
    if (this.whole.delete(root)) this.swarm.withdraw([root]);
    this.log.error('file withdrawn: blocks of it are lost and no other holder gave them back', {
      root,
      missing,
      error: error.message,
      retryInMs: HEAL_RETRY_MS,
    });
    const timer = setTimeout(() => this.scheduleRepair(root), HEAL_RETRY_MS);
    timer.unref();
    this.retries.set(root, timer);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.audits.close();
    clearTimeout(this.expiryTimer);
    this.replication.close();
    for (const timer of this.timers) clearInterval(timer);
    for (const timer of this.retries.values()) clearTimeout(timer);
    for (const abort of this.aborts) abort.abort(new ClosedError('seed'));
    this.swarm.close();
    await this.writeRenewals();
    await this.records.close();
    await this.store.close();
  }
}
