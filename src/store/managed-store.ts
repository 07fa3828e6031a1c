// The BlockStore every implementation shares: it checks ids against bytes, keeps the ledger (sizes,
// recency, pins, quota), decides evictions, and leaves only raw reads and writes to a small
// `RawBlocks` backend (a Map, IndexedDB, a folder). One place for the rules, three places for bytes.

import { BadInputError, ClosedError, IdMismatchError } from '../errors.js';
import { defaultBackend, type CryptoBackend } from '../content/crypto.js';
import { MAX_BLOCK_BYTES, isBlockId, type BlockId } from '../content/format.js';
import { verifyBlock } from '../content/verified.js';
import type { BlockStore, PutOptions, StoreUsage } from './block-store.js';
import type { BlockLedger } from './block-ledger.js';

/** Where a store's bytes and pins actually live. */
export interface RawBlocks {
  read(id: BlockId): Promise<Uint8Array | undefined>;
  /**
   * Writes a block and removes `evict`. Must leave things unchanged if it throws before the block is
   * written (so the ledger can roll back).
   */
  write(id: BlockId, bytes: Uint8Array, evict: readonly BlockId[], options?: PutOptions): Promise<void>;
  remove(ids: readonly BlockId[]): Promise<void>;
  addPins(name: string, ids: readonly BlockId[]): Promise<void>;
  dropPins(name: string): Promise<void>;
  /** Called after a read, so a backend can persist recency if it wants to. */
  touched?(id: BlockId): void;
  close(): Promise<void>;
}

export interface ManagedStoreOptions {
  readonly backend?: CryptoBackend;
  /** Check every block read against its id (for media that can rot: disks). */
  readonly verifyReads?: boolean;
  /** Told about a held block whose bytes no longer match its id; it has been dropped. */
  readonly onCorrupt?: (id: BlockId) => void;
  /** Told which blocks were evicted to make room, once they are gone. */
  readonly onEvict?: (ids: readonly BlockId[]) => void;
}

export class ManagedBlockStore implements BlockStore {
  private readonly pending = new Map<BlockId, Promise<void>>();
  private readonly backend: CryptoBackend;
  private closed = false;

  constructor(
    private readonly raw: RawBlocks,
    private readonly ledger: BlockLedger,
    private readonly options: ManagedStoreOptions = {},
  ) {
    this.backend = options.backend ?? defaultBackend();
  }

  /** Whether `bytes` hash to `id`; bytes already verified as `id` (content/verified.ts) are not hashed again. */
  private async matches(id: BlockId, bytes: Uint8Array): Promise<boolean> {
    return (await verifyBlock(bytes, id, this.backend)) !== undefined;
  }

  async put(id: BlockId, bytes: Uint8Array, options?: PutOptions): Promise<void> {
    this.assertOpen();
    if (!isBlockId(id)) throw new IdMismatchError(String(id));
    if (!(bytes instanceof Uint8Array)) throw new TypeError('block bytes must be a Uint8Array');
    if (bytes.length > MAX_BLOCK_BYTES) {
      throw new BadInputError(`a block is at most ${MAX_BLOCK_BYTES} bytes, got ${bytes.length}`);
    }
    if (!(await this.matches(id, bytes))) throw new IdMismatchError(id);
    const inFlight = this.pending.get(id);
    if (inFlight) return inFlight;
    if (this.ledger.has(id)) {
      this.ledger.touch(id);
      return;
    }
    const victims = this.ledger.planPut(id, bytes.length);
    const victimSizes = victims.map((victim) => this.ledger.sizeOf(victim)!);
    for (const victim of victims) this.ledger.remove(victim);
    this.ledger.add(id, bytes.length);
    const writing = this.raw.write(id, bytes, victims, options).then(
      () => {
        this.pending.delete(id);
        if (victims.length > 0) this.options.onEvict?.(victims);
      },
      (error: unknown) => {
        this.pending.delete(id);
        this.ledger.remove(id);
        // The backend left everything as it was: the victims are still held.
        victims.forEach((victim, i) => this.ledger.add(victim, victimSizes[i]!));
        throw error;
      },
    );
    this.pending.set(id, writing);
    return writing;
  }

  async get(id: BlockId): Promise<Uint8Array | undefined> {
    this.assertOpen();
    // A write of this id in progress: its outcome (the ledger says) is all a read waits for.
    await this.pending.get(id)?.catch(() => undefined);
    if (!this.ledger.has(id)) return undefined;
    const bytes = await this.raw.read(id);
    if (!bytes) {
      this.ledger.remove(id);
      return undefined;
    }
    if (this.options.verifyReads && !(await this.matches(id, bytes))) {
      this.ledger.remove(id);
      await this.raw.remove([id]);
      this.options.onCorrupt?.(id);
      return undefined;
    }
    this.ledger.touch(id);
    this.raw.touched?.(id);
    return bytes;
  }

  async has(id: BlockId): Promise<boolean> {
    // A write in progress (a lazy one may wait a while to be grouped with others) counts once it
    // has ended: a reader elsewhere (the service worker) told the block is here must find it.
    await this.pending.get(id)?.catch(() => undefined);
    return this.ledger.has(id);
  }

  async delete(id: BlockId): Promise<boolean> {
    this.assertOpen();
    // A write of this id in progress: its outcome (the ledger says) is all a delete waits for.
    await this.pending.get(id)?.catch(() => undefined);
    if (!this.ledger.remove(id)) return false;
    await this.raw.remove([id]);
    return true;
  }

  async *ids(): AsyncIterable<BlockId> {
    yield* [...this.ledger.ids()];
  }

  async usage(): Promise<StoreUsage> {
    return this.ledger.usage();
  }

  async pin(name: string, ids: Iterable<BlockId>): Promise<void> {
    this.assertOpen();
    const checked = [...ids];
    for (const id of checked) if (!isBlockId(id)) throw new TypeError(`not a block id: ${String(id)}`);
    const added = this.ledger.pin(name, checked);
    if (added.length > 0) await this.raw.addPins(name, added);
  }

  async unpin(name: string): Promise<void> {
    this.assertOpen();
    if (this.ledger.unpin(name)) await this.raw.dropPins(name);
  }

  async pins(): Promise<string[]> {
    return this.ledger.pinNames();
  }

  isPinned(id: BlockId): boolean {
    return this.ledger.isPinned(id);
  }

  blockSize(id: BlockId): number | undefined {
    return this.ledger.sizeOf(id);
  }

  pinSet(name: string): ReadonlySet<BlockId> | undefined {
    return this.ledger.pinSet(name);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.pending.values()]);
    await this.raw.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError('block store');
  }
}
