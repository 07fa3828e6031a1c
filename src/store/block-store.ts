// The interface every block store implements (memory, IndexedDB, file system), separate from the
// implementations so the network layer and the app depend on this file alone.

import { isBlockId, type BlockId } from '../content/format.js';

export interface StoreUsage {
  /** Bytes of block data held. */
  readonly bytes: number;
  readonly blocks: number;
  /** Bytes and count of held blocks some pin names; these are never evicted. */
  readonly pinnedBytes: number;
  readonly pinnedBlocks: number;
  /** The byte quota (Infinity when unlimited). */
  readonly quota: number;
}

export interface PutOptions {
  /**
   * Nothing waits on this put but the count of what is stored (a fetch hands its readers the
   * verified bytes without waiting for the store): a store that commits writes in groups may wait
   * longer to gather one (the OPFS store: FLUSH_LAZY_MS instead of FLUSH_MS).
   */
  readonly lazy?: boolean;
}

export interface BlockStore {
  /**
   * Stores `bytes` under `id` after checking that they hash to it. If the quota would be exceeded,
   * unpinned blocks are evicted least recently used first.
   * @throws IdMismatchError if the bytes do not hash to `id` (nothing is stored);
   *   QuotaError if pinned blocks alone leave no room (nothing is evicted or stored).
   */
  put(id: BlockId, bytes: Uint8Array, options?: PutOptions): Promise<void>;
  /** The block's bytes, or undefined if this store does not hold it. Marks it recently used. */
  get(id: BlockId): Promise<Uint8Array | undefined>;
  has(id: BlockId): Promise<boolean>;
  /** Removes a block even if pinned; returns whether it was held. */
  delete(id: BlockId): Promise<boolean>;
  ids(): AsyncIterable<BlockId>;
  usage(): Promise<StoreUsage>;
  /** Adds `ids` to the pin set `name` (creating it). Pinned ids need not be held yet. */
  pin(name: string, ids: Iterable<BlockId>): Promise<void>;
  /** Drops the pin set `name`; its blocks become evictable unless another set names them. */
  unpin(name: string): Promise<void>;
  /** Names of the pin sets. */
  pins(): Promise<string[]>;
  isPinned(id: BlockId): boolean;
  /** Bytes of a held block, or undefined if not held: the store's own account, no I/O. */
  blockSize(id: BlockId): number | undefined;
  /** The ids pin set `name` names (held or not), or undefined if there is no such set. Do not modify. */
  pinSet(name: string): ReadonlySet<BlockId> | undefined;
  close(): Promise<void>;
}

const FILE_PIN_PREFIX = 'file:';

/** The pin set that keeps every block of the file `root` (the seed's and the page's alike). */
export function filePin(root: BlockId): string {
  return FILE_PIN_PREFIX + root;
}

/** The root whose file the pin set `name` keeps, or undefined if it is no file's pin. */
export function filePinRoot(name: string): BlockId | undefined {
  const root = name.startsWith(FILE_PIN_PREFIX) ? name.slice(FILE_PIN_PREFIX.length) : undefined;
  return isBlockId(root) ? root : undefined;
}
