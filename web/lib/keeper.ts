// Keeping copies for others: a person may let this browser hold files for the network (off by
// default, up to a size they pick). Then the deployment's seeds may push whole files here when a
// file's copies fall (repair, issue 12); nobody else may. A file kept for others has no name here
// (the browser never gets its key): it is a root, its blocks and their size. It is pinned under
// KEEP_PIN (never evicted while kept), announced like any file held whole, and released (its pin,
// its topic, the blocks nothing else needs) when the person turns the setting off, or when the
// expiry its commit carried has passed (the owner's `put --expire`: every holder drops it then).
//
// The setting lives in localStorage (it is the person's choice for this browser, read before the
// peer starts); which files are kept lives in the block store's pins (IndexedDB), so both survive a
// reload and a wipe of IndexedDB leaves no claim of holdings behind. A kept file's expiry lives
// there too, in the name of a second pin set (KEEP_UNTIL_PIN) naming only its root, which the keep
// pin already holds: no extra block is kept by it.

import { listFileBlockIds } from '../../src/content/block-list.js';
import { toHex } from '../../src/content/bytes.js';
import type { BlockId } from '../../src/content/format.js';
import { BlockMissingError, QuotaError, StoreRefusedError } from '../../src/errors.js';
import type { BlockStore } from '../../src/store/block-store.js';
import type { CommitTerms } from '../../src/net/wire.js';

export const KEEP_SETTINGS_KEY = 'mycel:keep-for-others';
/** What a person keeps for others unless they pick another size. */
export const DEFAULT_KEEP_LIMIT = 2 ** 30;
/** Smallest and largest limits the page offers (the browser's own quota bounds it further). */
export const MIN_KEEP_LIMIT = 2 ** 20;
export const MAX_KEEP_LIMIT = 2 ** 40;
/** Pushes from seeds in progress at once; more are refused as busy. */
export const MAX_KEEP_UPLOADS = 8;
/** An upload that sent nothing for this long is dropped with its blocks. */
export const KEEP_UPLOAD_IDLE_MS = 2 * 60_000;
/** How long the deployment's list of seeds is trusted before it is looked up again. */
export const SEEDS_CACHE_MS = 30_000;
/** A peer not in the cached list triggers a fresh lookup at most this often (a new seed joined). */
export const SEEDS_RECHECK_MS = 5_000;

/** Refused uploads remembered, so their late blocks are refused rather than starting them again. */
const MAX_REFUSED_UPLOADS = 64;

const KEEP_PIN = 'keep:';
const KEEP_UPLOAD_PIN = 'keep-upload:';
/** `keep-until:<ms since the epoch>:<root>`: when the kept file `root` expires. */
const KEEP_UNTIL_PIN = 'keep-until:';
const EXPIRED_COMMIT = "the file's expiry has passed";

export interface KeepingSettings {
  readonly enabled: boolean;
  /** Bytes of files kept for others at most. */
  readonly limit: number;
}

export interface KeptFile {
  readonly root: BlockId;
  readonly bytes: number;
}

/** What the page shows of keeping copies for others. */
export interface KeepingState extends KeepingSettings {
  /** Whether the browser promised not to evict this origin's storage (announced as such). */
  readonly persisted: boolean;
  readonly used: number;
  readonly files: KeptFile[];
}

export const DEFAULT_KEEPING: KeepingSettings = { enabled: false, limit: DEFAULT_KEEP_LIMIT };

/** The saved setting, or the default for anything missing or malformed. */
export function loadKeepingSettings(storage: Pick<Storage, 'getItem'> | undefined): KeepingSettings {
  try {
    const raw = storage?.getItem(KEEP_SETTINGS_KEY);
    if (!raw) return DEFAULT_KEEPING;
    const parsed = JSON.parse(raw) as Partial<KeepingSettings>;
    return checkKeepingSettings({ enabled: parsed.enabled === true, limit: Number(parsed.limit) });
  } catch {
    return DEFAULT_KEEPING;
  }
}

/** Settings with the limit brought within MIN_KEEP_LIMIT..MAX_KEEP_LIMIT (default when not a number). */
export function checkKeepingSettings(settings: KeepingSettings): KeepingSettings {
  const limit = Number.isFinite(settings.limit)
    ? Math.min(MAX_KEEP_LIMIT, Math.max(MIN_KEEP_LIMIT, Math.floor(settings.limit)))
    : DEFAULT_KEEP_LIMIT;
  return { enabled: settings.enabled === true, limit };
}

interface KeepUpload {
  readonly key: string;
  readonly peer: string;
  readonly ids: Set<BlockId>;
  /** Of those, blocks this upload brought (not held before): deleted if it does not complete. */
  readonly written: Set<BlockId>;
  bytes: number;
  lastActive: number;
}

export interface KeeperOptions {
  readonly store: BlockStore;
  /** Where the setting is saved (localStorage in the page). */
  readonly storage?: Pick<Storage, 'getItem' | 'setItem'>;
  /** The peer ids in the signaling server's `seeds` lookup: the deployment's seeds, nobody else. */
  seeds(): Promise<readonly string[]>;
  /** Whether the Library holds `root` whole for the person (then its blocks stay when released). */
  heldForLibrary(root: BlockId): Promise<boolean>;
  announce(roots: BlockId[]): void;
  withdraw(roots: BlockId[]): void;
  /** The kept files changed (a commit, a release). */
  onChange(): void;
  readonly now?: () => number;
}

export class Keeper {
  private settings: KeepingSettings;
  private readonly uploads = new Map<string, KeepUpload>();
  /** Uploads refused past the limit (newest kept): their blocks still on the way are refused too. */
  private readonly refused = new Set<string>();
  private seedList: { readonly ids: ReadonlySet<string>; readonly at: number } | undefined;
  private seedLookup: Promise<ReadonlySet<string>> | undefined;
  private readonly now: () => number;

  constructor(private readonly options: KeeperOptions) {
    this.settings = loadKeepingSettings(options.storage);
    this.now = options.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.settings.enabled;
  }

  get current(): KeepingSettings {
    return this.settings;
  }

  /** Roots of the files kept for others. */
  async roots(): Promise<BlockId[]> {
    const names = await this.options.store.pins();
    return names.filter((n) => n.startsWith(KEEP_PIN)).map((n) => n.slice(KEEP_PIN.length));
  }

  async files(): Promise<KeptFile[]> {
    const { store } = this.options;
    return (await this.roots()).map((root) => {
      let bytes = 0;
      for (const id of store.pinSet(KEEP_PIN + root) ?? []) bytes += store.blockSize(id) ?? 0;
      return { root, bytes };
    });
  }

  /** Bytes kept for others and on their way here. */
  private async used(): Promise<number> {
    let bytes = 0;
    for (const file of await this.files()) bytes += file.bytes;
    for (const upload of this.uploads.values()) bytes += upload.bytes;
    return bytes;
  }

  /**
   * Saves and applies new settings. Turning keeping off (or lowering nothing: the limit bounds new
   * copies only) releases every kept file.
   */
  async update(next: KeepingSettings): Promise<void> {
    const settings = checkKeepingSettings(next);
    this.settings = settings;
    try {
      this.options.storage?.setItem(KEEP_SETTINGS_KEY, JSON.stringify(settings));
    } catch {
      // Storage full or blocked: the setting holds until the page closes.
    }
    if (!settings.enabled) await this.releaseAll();
    this.options.onChange();
  }

  /** Drops every file kept for others: its pin, its announcement, and the blocks nothing else needs. */
  async releaseAll(): Promise<void> {
    for (const upload of [...this.uploads.values()]) await this.dropUpload(upload);
    for (const root of await this.roots()) await this.release(root);
  }

  /** Drops one kept file: its pin and expiry, its announcement, and the blocks nothing else needs. */
  private async release(root: BlockId): Promise<void> {
    const { store } = this.options;
    const ids = [...(store.pinSet(KEEP_PIN + root) ?? [])];
    await store.unpin(KEEP_PIN + root);
    await this.forgetExpiry(root);
    if (await this.options.heldForLibrary(root)) return;
    this.options.withdraw([root]);
    for (const id of ids) if (!store.isPinned(id)) await store.delete(id);
  }

  /** When each kept file expires (files kept without an expiry are absent). */
  async expiries(): Promise<Map<BlockId, number>> {
    const kept = new Set(await this.roots());
    const expiries = new Map<BlockId, number>();
    for (const name of await this.options.store.pins()) {
      if (!name.startsWith(KEEP_UNTIL_PIN)) continue;
      const [at, root] = name.slice(KEEP_UNTIL_PIN.length).split(':');
      const expiresAt = Number(at);
      if (root === undefined || !kept.has(root) || !Number.isFinite(expiresAt)) continue;
      expiries.set(root, Math.min(expiresAt, expiries.get(root) ?? Infinity));
    }
    return expiries;
  }

  /** Releases every kept file whose expiry is at or before `now`; returns their roots. */
  async dropExpired(now: number): Promise<BlockId[]> {
    const due = [...(await this.expiries())].filter(([, at]) => at <= now).map(([root]) => root);
    for (const root of due) await this.release(root);
    if (due.length > 0) this.options.onChange();
    return due;
  }

  private async forgetExpiry(root: BlockId): Promise<void> {
    const { store } = this.options;
    for (const name of await store.pins()) {
      if (name.startsWith(KEEP_UNTIL_PIN) && name.endsWith(':' + root)) await store.unpin(name);
    }
  }

  /** Records the expiry a commit carried (a later commit's terms replace an earlier one's). */
  private async rememberExpiry(root: BlockId, expiresAt: number | undefined): Promise<void> {
    await this.forgetExpiry(root);
    if (expiresAt !== undefined) await this.options.store.pin(`${KEEP_UNTIL_PIN}${expiresAt}:${root}`, [root]);
  }

  /** Whether `peer` is one of the deployment's seeds (its id was proven on the data channel). */
  private async isSeed(peer: string): Promise<boolean> {
    const now = this.now();
    const fresh = this.seedList && now - this.seedList.at < SEEDS_CACHE_MS;
    if (fresh && this.seedList!.ids.has(peer)) return true;
    if (fresh && now - this.seedList!.at < SEEDS_RECHECK_MS) return false;
    this.seedLookup ??= this.options
      .seeds()
      .then((ids) => {
        const set = new Set(ids);
        this.seedList = { ids: set, at: this.now() };
        return set;
      })
      .finally(() => (this.seedLookup = undefined));
    return (await this.seedLookup.catch(() => new Set<string>())).has(peer);
  }

  private refuse(peer: string, reason: 'not-allowed' | 'busy' | 'unknown-upload' | 'incomplete', detail: string) {
    return new StoreRefusedError(peer, reason, detail);
  }

  private async admit(peer: string): Promise<void> {
    if (!this.settings.enabled) throw this.refuse(peer, 'not-allowed', 'this browser keeps no copies for others');
    if (!(await this.isSeed(peer))) {
      throw this.refuse(peer, 'not-allowed', "this browser keeps copies only for the deployment's seeds");
    }
  }

  /** SessionHost.receiveStore: a block of a file a seed wants kept here. */
  async receiveStore(peer: string, upload: Uint8Array, id: BlockId, bytes: Uint8Array): Promise<void> {
    await this.admit(peer);
    this.dropIdle();
    const key = toHex(upload);
    if (this.refused.has(key)) throw this.refuse(peer, 'unknown-upload', 'that upload was refused; start a new one');
    let entry = this.uploads.get(key);
    if (entry && entry.peer !== peer) throw this.refuse(peer, 'unknown-upload', 'that upload belongs to another peer');
    if (!entry) {
      if (this.uploads.size >= MAX_KEEP_UPLOADS) throw this.refuse(peer, 'busy', 'too many copies arriving at once');
      entry = { key, peer, ids: new Set(), written: new Set(), bytes: 0, lastActive: this.now() };
      this.uploads.set(key, entry);
    }
    entry.lastActive = this.now();
    if (entry.ids.has(id)) return;
    // Counted before the limit is checked, so concurrent blocks cannot all pass it.
    entry.ids.add(id);
    entry.bytes += bytes.length;
    if ((await this.used()) > this.settings.limit) {
      this.refused.add(key);
      if (this.refused.size > MAX_REFUSED_UPLOADS) this.refused.delete(this.refused.values().next().value!);
      await this.dropUpload(entry);
      throw new QuotaError(bytes.length, this.settings.limit, 'this browser keeps no more for others (its limit)');
    }
    const { store } = this.options;
    const had = store.blockSize(id) !== undefined;
    try {
      // Pinned before it is written: eviction cannot take it while the file arrives.
      await store.pin(KEEP_UPLOAD_PIN + key, [id]);
      await store.put(id, bytes);
      if (!had) entry.written.add(id);
    } catch (error) {
      await this.dropUpload(entry);
      throw error;
    }
  }

  /**
   * SessionHost.receiveCommit: the upload is the file `root`. Kept only whole; a commit of a root
   * already kept (a seed renewing under a fresh upload id) is acknowledged as it stands. A commit
   * whose expiry has passed is refused; an expiry in the future is remembered and kept to.
   */
  async receiveCommit(peer: string, upload: Uint8Array, root: BlockId, terms: CommitTerms): Promise<void> {
    await this.admit(peer);
    const entry = this.uploads.get(toHex(upload));
    const { store } = this.options;
    const { expiresAt } = terms;
    if (expiresAt !== undefined && expiresAt <= this.now()) {
      if (entry && entry.peer === peer) await this.dropUpload(entry);
      throw this.refuse(peer, 'not-allowed', EXPIRED_COMMIT);
    }
    if (!entry) {
      if (!store.pinSet(KEEP_PIN + root)) {
        throw this.refuse(peer, 'unknown-upload', 'no such upload, and this browser does not keep that file');
      }
      // A renewal without terms leaves the expiry known as it was.
      if (expiresAt !== undefined) {
        await this.rememberExpiry(root, expiresAt);
        this.options.onChange();
      }
      return;
    }
    if (entry.peer !== peer) throw this.refuse(peer, 'unknown-upload', 'no such upload from this peer');
    const ids: BlockId[] = [];
    const getBlock = async (id: BlockId) => {
      const bytes = await store.get(id);
      if (!bytes) throw new BlockMissingError(id, 'not sent');
      return bytes;
    };
    try {
      for await (const id of listFileBlockIds(root, getBlock)) {
        if (!(await store.has(id))) throw new BlockMissingError(id, 'not sent');
        ids.push(id);
      }
    } catch {
      await this.dropUpload(entry);
      throw this.refuse(peer, 'incomplete', 'this browser keeps only whole files, and lacks blocks of this one');
    }
    await store.pin(KEEP_PIN + root, ids);
    await this.rememberExpiry(root, expiresAt);
    this.uploads.delete(entry.key);
    await store.unpin(KEEP_UPLOAD_PIN + entry.key);
    this.options.announce([root]);
    this.options.onChange();
  }

  /** Drops uploads idle for KEEP_UPLOAD_IDLE_MS (a seed that went away mid-push). */
  private dropIdle(): void {
    const now = this.now();
    for (const upload of [...this.uploads.values()]) {
      if (now - upload.lastActive < KEEP_UPLOAD_IDLE_MS) continue;
      this.dropUpload(upload).catch(() => {
        // Its blocks stay unpinned: the store's eviction takes them in time.
      });
    }
  }

  private async dropUpload(upload: KeepUpload): Promise<void> {
    this.uploads.delete(upload.key);
    const { store } = this.options;
    await store.unpin(KEEP_UPLOAD_PIN + upload.key);
    for (const id of upload.written) if (!store.isPinned(id)) await store.delete(id);
  }

  /** What the page shows. */
  async state(persisted: boolean): Promise<KeepingState> {
    const files = await this.files();
    return { ...this.settings, persisted, used: files.reduce((n, f) => n + f.bytes, 0), files };
  }
}
