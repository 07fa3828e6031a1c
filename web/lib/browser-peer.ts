// The browser as a full peer: its IndexedDB block store and Library, its signaling connection to
// the page's own origin, WebRTC links to other browsers and seeds, and the file operations the app
// offers (add, open, download, pin, unpin, remove). The page's UI talks to this class only.
//
// The browser serves every block it holds to any peer that asks, and announces the files it holds
// whole, so browsers replicate to each other and not only to the seed. Keys stay in the Library
// (IndexedDB on this device) and in links; nothing here sends one anywhere.
//
// An open seed keeps a file only for a while after its uploader last renewed it, so the page renews
// the files it added with the seeds that hold them: once connected, and every RENEW_INTERVAL_MS.
// Which seeds hold a file is placement's and repair's choice (issue 12); a file no seed holds is
// sent from this device, if its blocks are still here, to the first seed in rendezvous order.
//
// A file whose owner's expiry has passed is dropped here too, the person's own and copies kept for
// others alike (expiry.ts), and blocks nothing needs any more are collected (collector.ts).
//
// While online, the page audits the holders of the files it added (page-audit.ts) with challenges
// made at Add (audit-book.ts), and tells the seeds of a holder that fails; the Copies view marks it.

import { formatLink, parseLink, type FileLink } from '../../src/content/share-link.js';
import { listFileBlockIds } from '../../src/content/block-list.js';
import { BadInputError, BlockMissingError, abortedBy, throwIfAborted } from '../../src/errors.js';
import type { Manifest } from '../../src/content/manifest.js';
import type { BlockId } from '../../src/content/format.js';
import { Emitter } from '../../src/net/emitter.js';
import { RENEW_INTERVAL_MS, REPLICATION_TICK_MAX_MS } from '../../src/net/limits.js';
import { quietLog, type Logger } from '../../src/log.js';
import { signalUrlFor } from '../../src/net/server-url.js';
import type { WebSocketLike } from '../../src/net/signal-client.js';
import { Swarm } from '../../src/net/swarm.js';
import {
  connectSeeds,
  fileBlockIds,
  openRemoteFile,
  renewFile,
  uploadFile,
  type RemoteFile,
} from '../../src/net/transfer.js';
import type { FetchProgress } from '../../src/net/fetch.js';
import type { BlockStore, StoreUsage } from '../../src/store/block-store.js';
import { DEFAULT_DB_NAME, IdbLibrary, openMycelDatabase, type MycelDB } from '../../src/store/idb.browser.js';
import { openBrowserBlockStore } from '../../src/store/opfs.browser.js';
import { KEEPERS_TOPIC, PERSISTED_KEEPERS_TOPIC, SEEDS_TOPIC } from '../../src/net/signal-messages.js';
import { Keeper, type KeepingSettings, type KeepingState } from './keeper.js';
import { ExpiryClock } from './expiry.js';
import { BlockCollector, COLLECT_SWEEP_MS } from './collector.js';
import { checkCanary, rememberHoldings, rememberUnreported, type Wipe } from './canary.js';
import { rankHolders } from '../../src/replication/policy.js';
import type { CommitTerms } from '../../src/net/wire.js';
import { countLiveCopies, reportWipe, type LiveCopies, type SelfKind } from './durability.js';
import { loadBrowserIdentity } from './browser-identity.js';
import { trackedStore } from './add-cleanup.js';
import type { LibraryEntry } from '../../src/store/library.js';
import { filePin } from '../../src/store/block-store.js';
import {
  addCollection,
  collectionOf,
  describeLink,
  fetchCollection,
  fetchEntry,
  fileEntry,
  openLink,
  type LinkKind,
  type PickedFile,
} from './collection-peer.js';
import { checkAvailable } from './availability.js';
import { OpenLinks } from './open-links.js';
import { throttleProgress } from './progress-throttle.js';
import { PageChallengeBook } from './audit-book.js';
import { DEFAULT_PAGE_AUDIT_INTERVAL_MS, PageAuditor } from './page-audit.js';

/** How long adding a file looks for a seed before keeping the file on this device only. */
export const SEED_SEARCH_MS = 3_000;
/** Share of the browser's storage quota the block store may use. */
const QUOTA_SHARE = 0.8;
/** How long after an eviction the Library's "held whole" marks are checked again. */
const RECHECK_DELAY_MS = 1_000;
/** How long a file opened for viewing or streaming stays open after its last reader let go. */
const OPEN_FILE_IDLE_MS = 60_000;
/** A wipe report is sent again once after this long (see reportWipeInBackground). */
const LOST_REPORT_REPEAT_MS = 2 * REPLICATION_TICK_MAX_MS;
/** How long opening a link looks for a holder before saying nobody holds it. */
const OPEN_NO_HOLDER_MS = 20_000;
/** How often, while connected, the page asks how many seeds are online (for the status line). */
const SEED_COUNT_EVERY_MS = 30_000;

export interface PeerStatus {
  readonly signaling: 'connecting' | 'connected' | 'disconnected';
  readonly peers: number;
  /** Of those, how many go through a TURN relay, and how many are known to be direct. */
  readonly relayed: number;
  readonly direct: number;
  /** Seeds the signaling server names as online, once asked (the status line says "1 seed"). */
  readonly seeds?: number;
}

/** Fetch progress of a file opened on this peer. */
export interface FileProgress extends FetchProgress {
  readonly root: BlockId;
}

export interface BrowserPeerEvents extends Record<string, unknown> {
  status: PeerStatus;
  library: LibraryEntry[];
  progress: FileProgress;
  /** Keeping copies for others: the setting, and the files kept. */
  keeping: KeepingState;
  /** A wipe of this browser's storage was noticed at start, and how its report went. */
  wipe: WipeNotice;
}

/** What the page says of a wipe noticed at start. */
export interface WipeNotice {
  /** Files this browser held whole before the wipe. */
  readonly lost: number;
  /** Of those, how many the seeds holding them were told of (repair starts at once for them). */
  readonly reported: number;
}

/** What the app shows of an opened link. */
export interface FileInfo {
  readonly link: FileLink;
  readonly manifest: Manifest;
}

interface SharedFile {
  readonly file: Promise<OpenedFile>;
  users: number;
  idle?: ReturnType<typeof setTimeout>;
}

export interface AddProgress {
  readonly bytesRead: number;
  readonly size: number;
}

export interface OpenedFile {
  readonly link: FileLink;
  readonly manifest: Manifest;
  readonly remote: RemoteFile;
}

export interface BrowserPeerOptions {
  readonly dbName?: string;
  /** Bytes the block store may use; default a share of the browser's quota. */
  readonly quota?: number;
  readonly log?: Logger;
  /** Where the signaling server is; default the page's own origin. */
  readonly origin?: string;
  /** Where the wipe canary and the keeping setting live; default localStorage. */
  readonly storage?: Pick<Storage, 'getItem' | 'setItem'>;
  /**
   * Tests only: the collection sweep's period and delay (COLLECT_SWEEP_MS, COLLECT_DELAY_MS), both
   * set to this, so a test sees unneeded blocks collected without waiting twenty minutes.
   */
  readonly collectMs?: number;
  /**
   * How often the holders of the files this device added are audited, at most (default
   * DEFAULT_PAGE_AUDIT_INTERVAL_MS; the app reads `mycel:audit-every`, page-audit.ts).
   */
  readonly auditIntervalMs?: number;
}

/** What one round of renewals did. */
export interface RenewReport {
  readonly files: number;
  readonly seeds: number;
  /** Holds renewed, and files sent again to a seed that had lost them. */
  readonly renewed: number;
  readonly pushed: number;
  readonly failed: number;
}

export class BrowserPeer extends Emitter<BrowserPeerEvents> {
  private signalingState: PeerStatus['signaling'] = 'connecting';
  private renewTimer: ReturnType<typeof setInterval> | undefined;
  private renewing: Promise<RenewReport> | undefined;
  /** When a round of renewals last reached a seed (0: not yet on this run). */
  private lastRenewal = 0;
  private seedsOnline: number | undefined;
  private seedCountTimer: ReturnType<typeof setInterval> | undefined;

  /** A wipe noticed at start (this run or an earlier one) and not yet fully reported. */
  private wipe: Wipe | undefined;
  wipeNotice: WipeNotice | undefined;

  private constructor(
    readonly db: MycelDB,
    readonly store: BlockStore,
    readonly library: IdbLibrary,
    readonly swarm: Swarm,
    readonly origin: string,
    private readonly log: Logger,
    readonly keeper: Keeper,
    private readonly dbName: string,
    private readonly storage: Pick<Storage, 'getItem' | 'setItem'> | undefined,
    readonly auditBook: PageChallengeBook,
    auditIntervalMs: number,
  ) {
    super();
    this.audits = new PageAuditor({
      swarm,
      book: auditBook,
      log,
      intervalMs: auditIntervalMs,
      addedRoots: async () => (await library.list()).filter((e) => e.source === 'added').map((e) => e.root),
      blocksOf: (root) => this.localBlockIds(root),
      localBlock: (id) => store.get(id),
    });
    swarm.signaling.on('ready', () => {
      this.setSignaling('connected');
      this.countSeeds();
      this.reportWipeInBackground();
      if (Date.now() - this.lastRenewal >= RENEW_INTERVAL_MS) this.renewInBackground();
    });
    swarm.signaling.on('disconnected', () => this.setSignaling('disconnected'));
    swarm.on('replaced', () => this.setSignaling('disconnected'));
    swarm.on('session', () => this.emitStatus());
    swarm.on('session-closed', () => this.emitStatus());
    swarm.on('path', () => this.emitStatus());
  }

  /** The origin links carry: the server's public URL if its operator set one, else the page's. */
  get linkOrigin(): string {
    return this.swarm.signaling.publicOrigin ?? this.origin;
  }

  static async start(options: BrowserPeerOptions = {}): Promise<BrowserPeer> {
    const origin = options.origin ?? location.origin;
    const dbName = options.dbName ?? DEFAULT_DB_NAME;
    const db = await openMycelDatabase(dbName);
    const storage = options.storage ?? globalThis.localStorage;
    // Before anything else writes to the database: a wiped one gets a new peer key below.
    const wipe = storage ? await checkCanary(db, storage, dbName) : undefined;
    const identity = await loadBrowserIdentity(db);
    const estimate = await navigator.storage?.estimate?.().catch(() => undefined);
    const quota = options.quota ?? (estimate?.quota ? Math.floor(estimate.quota * QUOTA_SHARE) : undefined);
    let peer: BrowserPeer | undefined;
    // OPFS segments where the browser has them (a quarter of IndexedDB's CPU per MB), else IndexedDB.
    const store = await openBrowserBlockStore({ db, quota, onEvict: () => peer?.scheduleRecheck() });
    const library = new IdbLibrary(db);
    const log = options.log ?? quietLog;
    const keeper = new Keeper({
      store,
      storage,
      seeds: () => swarm.holders(SEEDS_TOPIC),
      heldForLibrary: async (root) => (await library.get(root))?.complete ?? false,
      announce: (roots) => swarm.announce(roots),
      withdraw: (roots) => swarm.withdraw(roots),
      onChange: () => peer?.keepingChanged(),
    });
    const swarm: Swarm = new Swarm({
      identity,
      signalUrl: signalUrlFor(origin),
      createSocket: (url) => new WebSocket(url) as unknown as WebSocketLike,
      log,
      host: {
        store,
        // Only the deployment's seeds may push here, and only while the person lets it (keeper.ts).
        receiveStore: (from, upload, id, bytes) => keeper.receiveStore(from, upload, id, bytes),
        receiveCommit: (from, upload, root, terms) => keeper.receiveCommit(from, upload, root, terms),
      },
    });
    const auditBook = await PageChallengeBook.open(db);
    // Files removed while an older page ran leave no challenges behind.
    await auditBook.keepOnly(new Set((await library.list()).filter((e) => e.source === 'added').map((e) => e.root)));
    peer = new BrowserPeer(
      db,
      store,
      library,
      swarm,
      origin,
      log,
      keeper,
      dbName,
      storage,
      auditBook,
      options.auditIntervalMs ?? DEFAULT_PAGE_AUDIT_INTERVAL_MS,
    );
    if (wipe) {
      peer.wipe = wipe;
      peer.wipeNotice = { lost: wipe.roots.length, reported: 0 };
    }
    await peer.refreshHeld();
    // Before announcing: a file that expired while the page was closed is not offered again.
    await peer.expiry.run();
    swarm.announce(peer.heldRoots);
    await peer.announceKeeping();
    swarm.start();
    peer.renewTimer = setInterval(() => peer.renewInBackground(), RENEW_INTERVAL_MS);
    peer.seedCountTimer = setInterval(() => peer.countSeeds(), SEED_COUNT_EVERY_MS);
    peer.startCollecting(options.collectMs);
    return peer;
  }

  private heldRoots: BlockId[] = [];
  /** Audits of the holders of the files this device added. */
  readonly audits: PageAuditor;

  /** A file's block ids listed from this device's copy (its root and index blocks), or undefined. */
  private async localBlockIds(root: BlockId): Promise<BlockId[] | undefined> {
    const getBlock = async (id: BlockId) => {
      const bytes = await this.store.get(id);
      if (!bytes) throw new BlockMissingError(id);
      return bytes;
    };
    try {
      const ids: BlockId[] = [];
      for await (const id of listFileBlockIds(root, getBlock)) ids.push(id);
      return ids;
    } catch {
      return undefined;
    }
  }

  /**
   * Makes the audit challenges of a file just added, from its blocks while they are at hand
   * (audit-book.ts). A failure costs only the challenges: audits then use fresh nonces or fetches.
   */
  async prepareAudits(root: BlockId): Promise<void> {
    try {
      const ids = await this.localBlockIds(root);
      if (!ids || ids.length === 0) return;
      await this.auditBook.prepare(root, ids, async (id) => {
        const bytes = await this.store.get(id);
        if (!bytes) throw new BlockMissingError(id);
        return bytes;
      });
      this.audits
        .refresh()
        .catch((error: unknown) =>
          this.log.warn('looking up holders to audit failed', { error: (error as Error).message }),
        );
    } catch (error) {
      this.log.warn('preparing audit challenges failed', { root, error: (error as Error).message });
    }
  }

  /** Drops files whose owner's expiry has passed: the person's own and those kept for others. */
  private readonly expiry = new ExpiryClock({
    next: () => this.nextExpiry(),
    dropDue: (now) => this.dropExpired(now),
    onError: (error) => this.log.warn('dropping expired files failed', { error: (error as Error).message }),
  });

  private async nextExpiry(): Promise<number | undefined> {
    let next: number | undefined;
    const consider = (at: number | undefined) => {
      if (at !== undefined && (next === undefined || at < next)) next = at;
    };
    for (const entry of await this.library.list()) consider(entry.terms?.expiresAt);
    for (const at of (await this.keeper.expiries()).values()) consider(at);
    return next;
  }

  private async dropExpired(now: number): Promise<void> {
    for (const entry of await this.library.list()) {
      const at = entry.terms?.expiresAt;
      if (at !== undefined && at <= now) await this.remove(entry.root);
    }
    await this.keeper.dropExpired(now);
  }

  private recheckTimer: ReturnType<typeof setTimeout> | undefined;
  private collectTimer: ReturnType<typeof setInterval> | undefined;
  /** Adds running: their blocks are in the store before the Library names them. */
  private addsRunning = 0;

  private startCollecting(collectMs: number | undefined): void {
    const collector = new BlockCollector({
      store: this.store,
      needed: () => this.neededBlocks(),
      busy: () => this.addsRunning > 0,
      delayMs: collectMs,
    });
    let sweeping = false;
    this.collectTimer = setInterval(() => {
      if (sweeping || this.closed) return;
      sweeping = true;
      collector
        .sweep()
        .then((deleted) => {
          if (deleted > 0) this.log.info('unneeded blocks collected', { deleted });
        })
        .catch((error: unknown) =>
          this.log.warn('collecting unneeded blocks failed', { error: (error as Error).message }),
        )
        .finally(() => (sweeping = false));
    }, collectMs ?? COLLECT_SWEEP_MS);
  }

  /** Every block the Library's entries and the kept files list, as far as the blocks held here tell. */
  private async neededBlocks(): Promise<Set<BlockId>> {
    const needed = new Set<BlockId>();
    const getBlock = async (id: BlockId) => {
      const bytes = await this.store.get(id);
      if (!bytes) throw new BlockMissingError(id);
      return bytes;
    };
    const roots = [...(await this.library.list()).map((e) => e.root), ...(await this.keeper.roots())];
    for (const root of roots) {
      needed.add(root);
      try {
        for await (const id of listFileBlockIds(root, getBlock)) needed.add(id);
      } catch {
        // A block of its index is not here: what it lists cannot be here either (it was fetched
        // through that index), and whatever is stays for the delay the collector waits.
      }
    }
    return needed;
  }

  /** Runs an add, telling the collector to keep its hands off the store meanwhile. */
  private async whileAdding<T>(add: () => Promise<T>): Promise<T> {
    this.addsRunning++;
    try {
      return await add();
    } finally {
      this.addsRunning--;
    }
  }

  /**
   * Blocks were evicted to make room: files once held whole may not be any more. Soon (once per
   * burst of evictions), every unpinned file marked whole is checked and, if a block is gone,
   * marked incomplete and no longer announced.
   */
  private scheduleRecheck(): void {
    this.recheckTimer ??= setTimeout(() => {
      this.recheckTimer = undefined;
      this.recheckHeld().catch((error: unknown) =>
        this.log.warn('checking which files are held whole failed', { error: (error as Error).message }),
      );
    }, RECHECK_DELAY_MS);
  }

  private async recheckHeld(): Promise<void> {
    for (const entry of await this.library.list()) {
      if (!entry.complete || entry.pinned || (await this.holdsWhole(entry))) continue;
      await this.library.update(entry.root, { complete: false });
      this.swarm.withdraw([entry.root]);
    }
    await this.refreshHeld();
  }

  private async holdsWhole(entry: LibraryEntry): Promise<boolean> {
    if (!(await this.store.has(entry.root))) return false;
    const getBlock = async (id: BlockId) => {
      const bytes = await this.store.get(id);
      if (!bytes) throw new BlockMissingError(id);
      return bytes;
    };
    try {
      // Keyless: a collection's root lists every block of its files as a file's lists its own.
      for await (const id of listFileBlockIds(entry.root, getBlock)) if (!(await this.store.has(id))) return false;
      return true;
    } catch {
      return false;
    }
  }

  /** Reads the Library again, announces what is held whole and tells the page (after a change). */
  async refreshHeld(): Promise<LibraryEntry[]> {
    const entries = await this.library.list();
    const kept = await this.keeper.roots();
    this.heldRoots = [...new Set([...entries.filter((e) => e.complete).map((e) => e.root), ...kept])];
    // Newest first, so the bounded memory of holdings keeps the files most likely still wanted.
    if (this.storage) rememberHoldings(this.storage, this.dbName, this.peerId, this.heldRoots);
    this.emit('library', entries);
    this.expiry.rearm();
    return entries;
  }

  /** Whether the browser promised to keep this origin's storage (asked by the page, app.svelte.ts). */
  private async isPersisted(): Promise<boolean> {
    return (await navigator.storage?.persisted?.().catch(() => false)) ?? false;
  }

  /**
   * Announces that this browser keeps copies for others (under the persisted topic if its storage
   * is persisted), or withdraws both topics when the person does not let it.
   */
  async announceKeeping(): Promise<KeepingState> {
    const persisted = await this.isPersisted();
    if (!this.keeper.enabled) this.swarm.withdraw([KEEPERS_TOPIC, PERSISTED_KEEPERS_TOPIC]);
    else {
      this.swarm.withdraw([persisted ? KEEPERS_TOPIC : PERSISTED_KEEPERS_TOPIC]);
      this.swarm.announce([persisted ? PERSISTED_KEEPERS_TOPIC : KEEPERS_TOPIC]);
    }
    const state = await this.keeper.state(persisted);
    this.emit('keeping', state);
    return state;
  }

  /** The setting and the files kept for others. */
  async keeping(): Promise<KeepingState> {
    return this.keeper.state(await this.isPersisted());
  }

  /** Changes the setting (turning it off releases every copy kept for others). */
  async setKeeping(settings: KeepingSettings): Promise<KeepingState> {
    await this.keeper.update(settings);
    return this.announceKeeping();
  }

  private reportingWipe: Promise<void> | undefined;
  private wipeRepeatTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  /**
   * Tells the seeds what a wipe took from this browser (durability.ts), once connected; what they
   * did not take stays remembered (canary.ts) for the next connection.
   */
  private reportWipeInBackground(): void {
    const wipe = this.wipe;
    if (!wipe || this.reportingWipe) return;
    this.reportingWipe = (async () => {
      const { settled, pending } = await reportWipe(this.swarm, wipe);
      this.wipe = pending.length > 0 ? { ...wipe, roots: pending } : undefined;
      if (this.storage) rememberUnreported(this.storage, this.dbName, pending);
      const notice = this.wipeNotice ?? { lost: wipe.roots.length, reported: 0 };
      this.wipeNotice = { ...notice, reported: notice.reported + settled.length };
      this.emit('wipe', this.wipeNotice);
      this.log.info('reported the files a wipe took from this browser', {
        former: wipe.formerId,
        reported: settled.length,
        pending: pending.length,
      });
      // A seed believes a report only for a holder it already sees absent, and it looks at most
      // every REPLICATION_TICK_MAX_MS: one that still saw the old id a moment ago hears it again.
      if (settled.length === 0) return;
      await new Promise<void>((resolve) => (this.wipeRepeatTimer = setTimeout(resolve, LOST_REPORT_REPEAT_MS)));
      if (!this.closed) await reportWipe(this.swarm, { ...wipe, roots: settled });
    })()
      .catch((error: unknown) => this.log.warn('reporting the wipe failed', { error: (error as Error).message }))
      .finally(() => (this.reportingWipe = undefined));
  }

  /**
   * Live copies of each of `roots` (at most MAX_COUNTED_ROOTS), from a seed's report or lookups
   * (durability.ts). A file this device added that no seed holds is pushed to a seed now, if one is
   * reachable (the renew round does it).
   */
  async liveCopies(roots: readonly BlockId[]): Promise<LiveCopies[]> {
    const held = new Set(this.heldRoots);
    const selfKind: SelfKind = (await this.isPersisted()) ? 'persisted-browser' : 'browser';
    const counts = await countLiveCopies(
      this.swarm,
      roots,
      (root) => (held.has(root) ? selfKind : undefined),
      this.audits,
    );
    if (counts.some((c) => c.byKind.seed === 0)) this.pushUnseededInBackground(counts);
    return counts;
  }

  /** Files added here that no seed holds go to a seed as soon as one is reachable. */
  private pushUnseededInBackground(counts: readonly LiveCopies[]): void {
    const unseeded = new Set(counts.filter((c) => c.byKind.seed === 0).map((c) => c.root));
    (async () => {
      const added = (await this.library.list()).filter((e) => e.source === 'added' && unseeded.has(e.root));
      if (added.length === 0 || !this.swarm.signaling.connected) return;
      if ((await this.swarm.holders(SEEDS_TOPIC).catch(() => [])).length === 0) return;
      await this.renewAdded();
    })().catch((error: unknown) =>
      this.log.warn('pushing files no seed holds failed', { error: (error as Error).message }),
    );
  }

  async wipeStatus(): Promise<WipeNotice | undefined> {
    return this.wipeNotice;
  }

  /** The kept files changed: announced holdings and the page follow. */
  private keepingChanged(): void {
    this.refreshHeld()
      .then(() => this.announceKeeping())
      .catch((error: unknown) =>
        this.log.warn('updating the files kept for others failed', { error: (error as Error).message }),
      );
  }

  /** This device's peer id (its public key): what a seed's allow list would name. */
  get peerId(): string {
    return this.swarm.peerId;
  }

  get status(): PeerStatus {
    const sessions = this.swarm.sessions();
    const paths = sessions.map((s) => this.swarm.pathOf(s.peer));
    const relayed = paths.filter((p) => p === 'relay').length;
    const direct = paths.filter((p) => p !== undefined && p !== 'relay').length;
    return { signaling: this.signalingState, peers: sessions.length, relayed, direct, seeds: this.seedsOnline };
  }

  /** Asks the signaling server how many seeds are online; the status line shows it. */
  private countSeeds(): void {
    if (!this.swarm.signaling.connected) return;
    this.swarm
      .holders(SEEDS_TOPIC)
      .then((seeds) => {
        if (seeds.length === this.seedsOnline) return;
        this.seedsOnline = seeds.length;
        this.emitStatus();
      })
      .catch(() => {
        // Only a figure shown: the next count asks again.
      });
  }

  private setSignaling(state: PeerStatus['signaling']): void {
    this.signalingState = state;
    this.emitStatus();
  }

  private emitStatus(): void {
    this.emit('status', this.status);
  }

  async entries(): Promise<LibraryEntry[]> {
    return this.library.list();
  }

  async usage(): Promise<StoreUsage> {
    return this.store.usage();
  }

  /** Several files, or a folder: one collection, one link (see collection-peer.ts). */
  addCollection(
    picked: readonly PickedFile[],
    onProgress?: (bytesRead: number) => void,
    signal?: AbortSignal,
    terms?: CommitTerms,
  ): Promise<LibraryEntry> {
    return this.whileAdding(() => addCollection(this, picked, onProgress, signal, terms));
  }

  /**
   * Encrypts `file` in this browser, keeps its blocks here and pushes them to the seeds it finds;
   * resolves with the Library entry (its link carries the key). Its `copies` counts only seeds that
   * proved they hold the file (they gave back blocks of it after their commit).
   */
  addFile(
    file: File,
    onProgress?: (progress: AddProgress) => void,
    signal?: AbortSignal,
    terms?: CommitTerms,
  ): Promise<LibraryEntry> {
    return this.whileAdding(() => this.addFileNow(file, onProgress, signal, terms));
  }

  private async addFileNow(
    file: File,
    onProgress: ((progress: AddProgress) => void) | undefined,
    signal: AbortSignal | undefined,
    terms: CommitTerms | undefined,
  ): Promise<LibraryEntry> {
    await this.swarm.signaling.ready(SEED_SEARCH_MS).catch(() => {
      // No server in time: the file is kept on this device only (below).
    });
    const seeds = this.swarm.signaling.connected ? await connectSeeds(this.swarm, { timeoutMs: SEED_SEARCH_MS }) : [];
    // An add that does not finish leaves no blocks behind.
    const tracked = trackedStore(this.store);
    let result;
    try {
      result = await uploadFile(file.stream(), {
        name: file.name,
        mediaType: file.type,
        seeds,
        store: tracked.store,
        signal,
        terms,
        onProgress: ({ bytesRead }) => onProgress?.({ bytesRead, size: file.size }),
      });
    } catch (error) {
      await tracked.discard();
      throw error;
    }
    const entry: LibraryEntry = {
      root: result.file.root,
      link: formatLink(this.linkOrigin, result.file.root, result.file.key),
      name: file.name,
      size: file.size,
      mediaType: result.file.manifest.mediaType,
      source: 'added',
      addedAt: Date.now(),
      pinned: false,
      complete: true,
      copies: result.seeds.length,
      terms,
    };
    await this.library.put(entry);
    await this.prepareAudits(entry.root);
    await this.refreshHeld();
    this.swarm.announce([entry.root]);
    return entry;
  }

  /**
   * Renews, with every seed it reaches, the hold on each file this device added (one round at a
   * time); a seed that lost one is sent it again when this device still holds it whole. Updates
   * each file's count of seed copies.
   */
  private renewInBackground(): void {
    this.renewAdded().catch((error: unknown) =>
      this.log.warn('renewing the files this device added failed', { error: (error as Error).message }),
    );
  }

  renewAdded(): Promise<RenewReport> {
    this.renewing ??= this.renewRound().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  private async renewRound(): Promise<RenewReport> {
    const added = (await this.library.list()).filter((e) => e.source === 'added');
    const report = { files: added.length, seeds: 0, renewed: 0, pushed: 0, failed: 0 };
    if (added.length === 0 || !this.swarm.signaling.connected) return report;
    const seeds = await connectSeeds(this.swarm, { timeoutMs: SEED_SEARCH_MS });
    report.seeds = seeds.length;
    if (seeds.length === 0) return report;
    for (const entry of added) {
      // Renewed with the seeds that hold it: placement and repair (the seeds') decide which those
      // are, so the page never spreads a file over every seed it reaches.
      const holders = new Set(await this.swarm.holders(entry.root).catch(() => [] as string[]));
      const holding = seeds.filter((s) => holders.has(s.peer));
      // No seed holds it (at risk): it goes to the first seed in rendezvous order that takes it.
      const ranked = rankHolders(
        entry.root,
        seeds.map((session) => ({ id: session.peer, kind: 'seed' as const, session })),
      ).map((c) => c.session);
      const tryOrder = holding.length > 0 ? holding : entry.complete ? ranked : [];
      let copies = 0;
      for (const seed of tryOrder) {
        try {
          const done = await renewFile(seed, entry.root, { store: entry.complete ? this.store : undefined });
          report[done]++;
          copies++;
          if (holding.length === 0) break;
        } catch (error) {
          report.failed++;
          this.log.warn('a seed did not renew a file', {
            peer: seed.peer,
            root: entry.root,
            error: (error as Error).message,
          });
        }
      }
      await this.library.update(entry.root, { copies });
    }
    this.lastRenewal = Date.now();
    await this.refreshHeld();
    return report;
  }

  /**
   * Opens a link: fetches and decrypts the manifest (from this device or from peers).
   * @throws LinkError, WrongKeyError, NoHolderError, BlockIntegrityError
   */
  async open(
    text: string,
    options: { signal?: AbortSignal; noHolderTimeoutMs?: number; onProgress?: (p: FetchProgress) => void } = {},
  ): Promise<OpenedFile> {
    const link = parseLink(text);
    const existing = await this.library.get(link.root);
    // A file held whole here opens without the network (offline, for a pinned file).
    if (!existing?.complete) {
      await this.swarm.signaling.ready().catch(() => {
        // No server in time: the blocks held here may still be enough; the fetch says if not.
      });
    }
    const remote = await openRemoteFile(link.root, link.key, {
      swarm: this.swarm,
      store: this.store,
      signal: options.signal,
      noHolderTimeoutMs: options.noHolderTimeoutMs ?? OPEN_NO_HOLDER_MS,
      onProgress: options.onProgress,
    });
    const { manifest } = remote.opened;
    if (!existing) {
      await this.library.put({
        root: link.root,
        link: formatLink(this.linkOrigin, link.root, link.key),
        name: manifest.name,
        size: manifest.size,
        mediaType: manifest.mediaType,
        source: 'opened',
        addedAt: Date.now(),
        pinned: false,
        complete: false,
      });
      await this.refreshHeld();
    }
    return { link, manifest, remote };
  }

  /** Files opened for viewing and streaming, one per root, shared by all their readers. */
  private readonly shared = new Map<BlockId, SharedFile>();

  /** Opens `text` (or reuses it if open), for one more user; call the returned release when done. */
  private async acquire(text: string): Promise<[OpenedFile, () => void]> {
    const root = parseLink(text).root;
    let held = this.shared.get(root);
    if (!held) {
      const file = this.open(text, {
        noHolderTimeoutMs: OPEN_NO_HOLDER_MS,
        onProgress: throttleProgress((p) => this.emit('progress', { root, ...p })),
      });
      held = { file, users: 0 };
      this.shared.set(root, held);
      file.catch(() => {
        if (this.shared.get(root) === held) this.shared.delete(root);
      });
    }
    const entry = held;
    clearTimeout(entry.idle);
    entry.users++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      if (--entry.users > 0) return;
      entry.idle = setTimeout(() => {
        if (this.shared.get(root) !== entry || entry.users > 0) return;
        this.shared.delete(root);
        entry.file
          .then((f) => f.remote.close())
          .catch(() => {
            // It never opened: nothing to close.
          });
      }, OPEN_FILE_IDLE_MS);
    };
    try {
      return [await entry.file, release];
    } catch (error) {
      release();
      throw error;
    }
  }

  /** Opens a link for the app to show (name, size, type); its blocks are fetched as it is read. */
  async openInfo(text: string): Promise<FileInfo> {
    const [file, release] = await this.acquire(text);
    release();
    return { link: file.link, manifest: file.manifest };
  }

  /**
   * Resolves when someone holding `root` is online (or this device holds it whole).
   * @throws OfflineError, ServerUnreachableError, NoHolderError
   */
  checkAvailable(root: BlockId): Promise<void> {
    return checkAvailable(this, root);
  }

  /** Links opened as collections for any tab, shared per root, closed when idle. */
  private readonly links = new OpenLinks((text, root) =>
    openLink(this, text, {
      noHolderTimeoutMs: OPEN_NO_HOLDER_MS,
      onProgress: throttleProgress((p) => this.emit('progress', { root, ...p })),
    }),
  );

  /**
   * Opens a link as a file or a collection; a collection is listed (and its fetches, here or from
   * any tab, report through 'progress' with its root).
   * @throws what openLink throws.
   */
  openLink(text: string): Promise<LinkKind> {
    return this.links.use(text, async (opened) => describeLink(text, opened));
  }

  /**
   * Fetches the blocks of the collection's file entry `index` into IndexedDB, for the service
   * worker. Aborting `signal` stops the fetch (see stopFetching); blocks already here stay.
   */
  fetchEntry(link: string, index: number, signal?: AbortSignal): Promise<void> {
    return this.links.use(link, async (opened) => {
      const collection = collectionOf(opened);
      await this.cancellable(opened.link.root, signal, () => fetchEntry(collection, fileEntry(collection, index)));
    });
  }

  /** Fetches the whole collection into IndexedDB; then this device holds and serves it. */
  fetchCollection(link: string, signal?: AbortSignal): Promise<void> {
    return this.links.use(link, (opened) =>
      this.cancellable(opened.link.root, signal, () => fetchCollection(this, collectionOf(opened))),
    );
  }

  /** Runs a fetch of `root` that `signal` stops (the fetch rejects with AbortError). */
  private async cancellable(root: BlockId, signal: AbortSignal | undefined, work: () => Promise<void>): Promise<void> {
    throwIfAborted(signal);
    const stop = () => {
      this.stopFetching(root).catch((error: unknown) =>
        this.log.warn('stopping a fetch failed', { root, error: (error as Error).message }),
      );
    };
    signal?.addEventListener('abort', stop, { once: true });
    try {
      await work();
    } catch (error) {
      if (signal?.aborted) throw abortedBy(signal, 'download cancelled');
      throw error;
    } finally {
      signal?.removeEventListener('abort', stop);
    }
  }

  /**
   * Stops every fetch of `root` (a cancelled download): the file or collection opened for it is
   * closed, so no more of its blocks are asked for; the blocks already stored stay as cache (each
   * was verified before it was stored). The next use opens it again.
   */
  async stopFetching(root: BlockId): Promise<void> {
    const held = this.shared.get(root);
    if (held) {
      this.shared.delete(root);
      clearTimeout(held.idle);
      await held.file.then(
        (f) => f.remote.close(),
        () => {
          // It never opened: nothing to close.
        },
      );
    }
    await this.links.drop(root);
  }

  /**
   * The plaintext of [start, end) of a file in the Library, verified, as its blocks arrive: the
   * range's blocks are fetched first, then the reader's way ahead; every block is kept. A read that
   * reaches the file's end marks the file held whole once every block is here.
   */
  async *readRange(root: BlockId, start: number, end: number): AsyncGenerator<Uint8Array> {
    const entry = await this.library.get(root);
    if (!entry) throw new BadInputError('this file is not in the library');
    const [file, release] = await this.acquire(entry.link);
    try {
      yield* file.remote.read({ start, end });
    } finally {
      release();
    }
    if (end === file.manifest.size && !entry.complete) await this.markIfWhole(root);
  }

  private async markIfWhole(root: BlockId): Promise<void> {
    const entry = await this.library.get(root);
    if (!entry || entry.complete || !(await this.holdsWhole(entry))) return;
    await this.library.update(root, { complete: true });
    await this.refreshHeld();
    this.swarm.announce([root]);
  }

  /**
   * Counts live copies (peers the signaling server names as holders, plus this device if it holds
   * the file whole) and records the peers' count in the Library entry, if there is one.
   */
  async countCopies(root: BlockId): Promise<{ peers: number; here: boolean }> {
    const peers = await this.swarm.holders(root).catch(() => [] as string[]);
    const entry = await this.library.get(root);
    const here = entry?.complete ?? false;
    await this.library.update(root, { copies: peers.length });
    return { peers: peers.length, here };
  }

  /** Fetches every block of an opened file into IndexedDB; then this device holds and serves it. */
  async fetchAll(file: OpenedFile): Promise<void> {
    await file.remote.fetchAll();
    await this.library.update(file.link.root, { complete: true });
    await this.refreshHeld();
    this.swarm.announce([file.link.root]);
  }

  /** Keeps every block of the file (and its key, in the Library) on this device. */
  async pin(root: BlockId): Promise<void> {
    const entry = await this.library.get(root);
    if (!entry) throw new BadInputError('not in the library');
    const [opened, release] = await this.acquire(entry.link);
    try {
      if (!entry.complete) await this.fetchAll(opened);
      await this.store.pin(filePin(root), await fileBlockIds(opened.remote.opened));
    } finally {
      release();
    }
    await this.library.update(root, { pinned: true });
    await this.refreshHeld();
  }

  async unpin(root: BlockId): Promise<void> {
    await this.store.unpin(filePin(root));
    await this.library.update(root, { pinned: false });
    await this.refreshHeld();
  }

  /** Forgets a file: its pin, its Library entry (and key), and the blocks only it needed. */
  async remove(root: BlockId): Promise<void> {
    const entry = await this.library.get(root);
    if (!entry) return;
    await this.store.unpin(filePin(root));
    if (entry.kind === 'collection') await this.dropCollectionBlocks(root);
    else if (entry.complete) {
      const file = await this.open(entry.link).catch(() => undefined);
      if (file) {
        // Listed before anything is deleted: data ids are read from the file's own index blocks.
        const { opened } = file.remote;
        const ids: BlockId[] = [];
        try {
          for await (const id of opened.dataIds()) ids.push(id);
        } catch {
          // An index block is gone: the data ids it listed cannot be found to delete.
        }
        ids.push(...opened.indexIds, opened.root);
        for (const id of ids) if (!this.store.isPinned(id)) await this.store.delete(id);
        file.remote.close();
      }
    }
    await this.library.remove(root);
    this.audits.forget(root);
    await this.auditBook.drop(root);
    this.swarm.withdraw([root]);
    await this.refreshHeld();
  }

  /** Deletes the blocks of a collection held here that nothing pinned (listed without the key). */
  private async dropCollectionBlocks(root: BlockId): Promise<void> {
    const ids: BlockId[] = [];
    const getBlock = async (id: BlockId) => {
      const bytes = await this.store.get(id);
      if (!bytes) throw new BlockMissingError(id);
      return bytes;
    };
    try {
      for await (const id of listFileBlockIds(root, getBlock)) ids.push(id);
    } catch {
      // An index block is gone: what it listed cannot be found to delete; the rest can.
    }
    for (const id of ids) if (!this.store.isPinned(id)) await this.store.delete(id);
  }

  async close(): Promise<void> {
    for (const held of this.shared.values()) {
      clearTimeout(held.idle);
      held.file
        .then((f) => f.remote.close())
        .catch(() => {
          // It never opened: nothing to close.
        });
    }
    this.shared.clear();
    this.links.closeAll();
    clearTimeout(this.recheckTimer);
    clearTimeout(this.wipeRepeatTimer);
    this.expiry.close();
    clearInterval(this.collectTimer);
    this.closed = true;
    clearInterval(this.renewTimer);
    clearInterval(this.seedCountTimer);
    this.audits.close();
    this.swarm.close();
    await this.store.close();
    this.db.close();
  }
}
