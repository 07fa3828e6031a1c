// Local disk failures, handled the way a database handles them: the operator hears every kind of
// fault once, at error level, with its details (paths included: the log stays on this machine);
// peers hear only a generic refusal or not-found. Free space is watched so stores are refused before
// the disk is full. Everything else about the seed's storage is in seed.ts.

import { promises as fs } from 'node:fs';
import { LocalStorageError, MycelError } from '../errors.js';
import type { BlockId } from '../content/format.js';
import type { BlockStore, PutOptions, StoreUsage } from '../store/block-store.js';
import { DISK_STAT_INTERVAL_MS, FAULT_LOG_INTERVAL_MS } from '../net/limits.js';
import type { Logger } from '../log.js';
import { formatSize } from '../sizes.js';

/** Distinct faults remembered for rate limiting (error codes: a handful in practice). */
const MAX_FAULT_KINDS = 256;

/**
 * Read errors that say the block's file itself is bad, not the moment: the block is dropped and
 * fetched again. Others (EMFILE, EAGAIN, ENOMEM…) pass, and the block stays.
 */
const LASTING_READ_FAULTS = new Set(['EISDIR', 'ENOTDIR', 'EIO', 'ELOOP', 'EBADMSG', 'EUCLEAN']);

/** An error of our own storage: a LocalStorageError, or any error that is not a Mycel error. */
export function isLocalFault(error: unknown): boolean {
  return !(error instanceof MycelError) || error instanceof LocalStorageError;
}

export function faultCode(error: unknown): string {
  const e = error as NodeJS.ErrnoException | undefined;
  return typeof e?.code === 'string' ? e.code : (e?.name ?? 'Error');
}

/** Whether a read that failed with `error` means the block on disk is unusable. */
export function isLastingReadFault(error: unknown): boolean {
  return LASTING_READ_FAULTS.has(faultCode(error));
}

/**
 * Logs each kind of local fault (its error code: one full disk fails stores, pins and releases
 * alike) once per FAULT_LOG_INTERVAL_MS, with the first one's details and how many followed.
 */
export class FaultLog {
  private readonly kinds = new Map<string, { loggedAt: number; since: number }>();

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = FAULT_LOG_INTERVAL_MS,
  ) {}

  report(op: string, error: unknown, fields: Record<string, unknown> = {}): void {
    const code = faultCode(error);
    const key = code;
    const now = Date.now();
    const kind = this.kinds.get(key);
    if (kind && now - kind.loggedAt < this.intervalMs) {
      kind.since++;
      return;
    }
    if (!kind && this.kinds.size >= MAX_FAULT_KINDS) this.kinds.delete(this.kinds.keys().next().value!);
    this.kinds.set(key, { loggedAt: now, since: 0 });
    const e = error as NodeJS.ErrnoException;
    this.log.error('local storage fault', {
      op,
      code,
      syscall: e?.syscall,
      path: e?.path,
      dest: (e as { dest?: string })?.dest,
      error: e?.message ?? String(error),
      ...(kind?.since ? { alsoSince: kind.since } : {}),
      ...fields,
    });
  }
}

/**
 * Free space on the file system holding `dir`: read at each upload's start and at most every
 * DISK_STAT_INTERVAL_MS during it, with the bytes written since subtracted, so a burst of stores
 * cannot run past the reserve between reads.
 */
export class DiskSpace {
  private free: number | undefined;
  private readAt = 0;
  /** The newest reading under way: checks made meanwhile wait for it. */
  private reading: Promise<void> | undefined;
  private readsStarted = 0;
  private readsApplied = 0;
  private lowSince: number | undefined;

  constructor(
    private readonly dir: string,
    readonly minFree: number,
    private readonly log: Logger,
    private readonly faults: FaultLog,
  ) {}

  /**
   * Why `bytes` more may not be written now (the reserve would be passed), or undefined. `fresh`
   * reads the file system first whatever the time (the first block of an upload: others may have
   * filled the disk since).
   */
  async refusal(bytes: number, fresh = false): Promise<string | undefined> {
    if (this.minFree <= 0) return undefined;
    if (fresh) await this.readNow();
    else if (this.reading) await this.reading;
    else if (Date.now() - this.readAt >= DISK_STAT_INTERVAL_MS) await this.read();
    if (this.free === undefined || this.free - bytes >= this.minFree) {
      this.lowSince = undefined;
      return undefined;
    }
    if (this.lowSince === undefined || Date.now() - this.lowSince >= FAULT_LOG_INTERVAL_MS) {
      this.lowSince = Date.now();
      this.log.error('disk space low: refusing stores', {
        dir: this.dir,
        free: this.free,
        minFree: this.minFree,
        fix: `free space on the disk holding ${this.dir}, or lower --min-free (now ${formatSize(this.minFree)})`,
      });
    }
    return 'the seed is low on disk space';
  }

  /** Counts bytes just written against the last reading. */
  wrote(bytes: number): void {
    if (this.free !== undefined) this.free -= bytes;
  }

  /** Free bytes as last read (undefined before a reading, or if the file system cannot say). */
  get lastFree(): number | undefined {
    return this.free;
  }

  /** Reads the file system unless a reading is already under way (then shares it). */
  read(): Promise<void> {
    return this.reading ?? this.readNow();
  }

  /**
   * Starts a reading now, even if one is under way (it may have started before space was freed).
   * Every check waits for the newest reading, and an older one that ends later is not applied.
   */
  readNow(): Promise<void> {
    const sequence = ++this.readsStarted;
    const reading = fs
      .statfs(this.dir)
      .then(
        (stats) => {
          if (sequence < this.readsApplied) return;
          this.readsApplied = sequence;
          this.free = Number(stats.bavail) * Number(stats.bsize);
        },
        (error: unknown) => {
          // Not knowing is no reason to refuse: writes will say if the disk is really full.
          if (sequence < this.readsApplied) return;
          this.readsApplied = sequence;
          this.free = undefined;
          this.faults.report('statfs', error, { dir: this.dir });
        },
      )
      .finally(() => {
        this.readAt = Date.now();
        if (this.reading === reading) this.reading = undefined;
      });
    this.reading = reading;
    return reading;
  }
}

export interface GuardHooks {
  /** A read failed: report it; `lasting` when the block's file is unusable (it is then dropped). */
  onReadFault(id: BlockId, error: unknown, lasting: boolean): void;
  /** A pinned block was asked for and is not held (it rotted, vanished or was dropped). */
  onPinnedMissing(id: BlockId): void;
  /** A write failed with a local fault (told before the error is thrown on). */
  onWriteFault?(id: BlockId, error: unknown): void;
}

/**
 * The seed's store as peers and repairs see it: a read that fails is reported and answered as "not
 * held", never thrown at the peer; a pinned block found missing is reported so its file is
 * repaired. Everything else passes through.
 */
export class GuardedStore implements BlockStore {
  constructor(
    readonly inner: BlockStore,
    private readonly hooks: GuardHooks,
  ) {}

  async get(id: BlockId): Promise<Uint8Array | undefined> {
    let bytes: Uint8Array | undefined;
    try {
      bytes = await this.inner.get(id);
    } catch (error) {
      const lasting = isLastingReadFault(error);
      this.hooks.onReadFault(id, error, lasting);
      if (!lasting) return undefined;
      await this.inner.delete(id).catch(() => {
        // Its file may not even be removable (EISDIR): it stays out of the ledger all the same.
      });
    }
    if (!bytes && this.inner.isPinned(id)) this.hooks.onPinnedMissing(id);
    return bytes;
  }

  async put(id: BlockId, bytes: Uint8Array, options?: PutOptions): Promise<void> {
    try {
      await this.inner.put(id, bytes, options);
    } catch (error) {
      if (isLocalFault(error)) this.hooks.onWriteFault?.(id, error);
      throw error;
    }
  }
  has(id: BlockId): Promise<boolean> {
    return this.inner.has(id);
  }
  delete(id: BlockId): Promise<boolean> {
    return this.inner.delete(id);
  }
  ids(): AsyncIterable<BlockId> {
    return this.inner.ids();
  }
  usage(): Promise<StoreUsage> {
    return this.inner.usage();
  }
  pin(name: string, ids: Iterable<BlockId>): Promise<void> {
    return this.inner.pin(name, ids);
  }
  unpin(name: string): Promise<void> {
    return this.inner.unpin(name);
  }
  pins(): Promise<string[]> {
    return this.inner.pins();
  }
  isPinned(id: BlockId): boolean {
    return this.inner.isPinned(id);
  }
  blockSize(id: BlockId): number | undefined {
    return this.inner.blockSize(id);
  }
  pinSet(name: string): ReadonlySet<BlockId> | undefined {
    return this.inner.pinSet(name);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
