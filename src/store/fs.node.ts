// The block store on a real disk, for the seed and the command line. Its ledger (sizes, recency,
// pins, quota) is an LMDB database (lmdb-ledger.node.ts) beside the blocks: opening it reads the
// database, never the block tree, and its memory does not grow with the number of blocks it holds.
//
// Layout under `dir`:
//   blocks/ab/cd/<id>   one file per block, sharded by the id's first two bytes
//   tmp/                blocks being written; a block reaches blocks/ only by rename once whole,
//                       so a crash never leaves a half block under a real id. Emptied at open.
//   ledger/             the LMDB ledger
//   pins/<hex name>     only in folders written before the ledger (one id per line): read once
// Blocks are verified on read: a file that rotted is dropped rather than served.
//
// Crash protocol, per block write (the ledger is written behind, in order):
//   1. ManagedBlockStore plans the put: the block becomes ADDING and its eviction victims REMOVING.
//   2. write() waits until those changes are durable (one LMDB commit and sync, shared by every
//      write in flight), writes the bytes to tmp/, syncs them, renames them into blocks/, then
//      unlinks the victims.
//   3. settle(): the block is HELD, the victims' records are gone.
// A crash between 2 and 3 leaves only pending records, which the next open settles against the
// disk (a record stays exactly when its file exists). Deletes go the same way: REMOVING, durable,
// unlink, settle; a delete whose commit failed (a full disk) is unlinked after the next commit that
// succeeds. So no record lacks a file and no file lacks a record, and start-up reads only
// the pending ids. `repairFsBlockStore` walks the whole tree when an operator asks for it.
//
// A folder written before the ledger (blocks/ and pins/, no ledger/) is migrated once, at its first
// open: its blocks (ordered by mtime, their last use then) and its pins/ files. The import is
// marked finished only at its end, so one a crash interrupted starts over.

import { randomBytes } from 'node:crypto';
import { close, open, promises as fs, read } from 'node:fs';
import path from 'node:path';
import { fromHex } from '../content/bytes.js';
import { isBlockId, type BlockId } from '../content/format.js';
import type { BlockStore } from './block-store.js';
import { ManagedBlockStore, type ManagedStoreOptions, type RawBlocks } from './managed-store.js';
import { LmdbLedger, type FoundBlock, type RepairReport } from './lmdb-ledger.node.js';

export interface FsStoreOptions extends ManagedStoreOptions {
  readonly dir: string;
  readonly quota?: number;
  /** fsync each block before it is renamed into place (default true). */
  readonly durable?: boolean;
  /** Test hooks, to simulate a crash at a precise point. */
  readonly hooks?: { beforeRename?: (tmpPath: string, finalPath: string) => void | Promise<void> };
}

export interface FsStoreLayout {
  readonly blocks: string;
  readonly tmp: string;
  readonly pins: string;
}

export function fsStoreLayout(dir: string): FsStoreLayout {
  return { blocks: path.join(dir, 'blocks'), tmp: path.join(dir, 'tmp'), pins: path.join(dir, 'pins') };
}

export function blockPath(dir: string, id: BlockId): string {
  return path.join(dir, 'blocks', id.slice(0, 2), id.slice(2, 4), id);
}

export const LEDGER_DIR = 'ledger';

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT';
}

/**
 * Reads `size` bytes from the start of a file: open, read, close. fs.readFile would stat the file
 * first, a fourth trip through the thread pool for every block a seed serves. Fewer bytes than
 * `size` (a file cut short) come back as they are; the caller's hash check refuses them.
 */
function readKnownSize(file: string, size: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    open(file, 'r', (error, fd) => {
      if (error) return reject(error);
      const buffer = Buffer.allocUnsafeSlow(size); // its own memory, never a shared pool slab
      const done = (failure: Error | null, got: number) =>
        close(fd, () => (failure ? reject(failure) : resolve(buffer.subarray(0, got))));
      const next = (got: number) =>
        read(fd, buffer, got, size - got, got, (failure, n) =>
          failure || n === 0 || got + n === size ? done(failure, got + n) : next(got + n),
        );
      if (size === 0) done(null, 0);
      else next(0);
    });
  });
}

/** The size of block `id`'s file, or undefined if there is none. */
async function sizeOnDisk(dir: string, id: BlockId): Promise<number | undefined> {
  try {
    const stat = await fs.stat(blockPath(dir, id));
    return stat.isFile() ? stat.size : undefined;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

const SHARD_RE = /^[0-9a-f]{2}$/;

/** Every whole block under blocks/, one at a time (memory stays flat however many there are). */
export async function* scanBlockFiles(dir: string): AsyncGenerator<FoundBlock> {
  const blocks = fsStoreLayout(dir).blocks;
  for (const a of (await fs.readdir(blocks).catch(() => [] as string[])).sort()) {
    if (!SHARD_RE.test(a)) continue;
    for (const b of (await fs.readdir(path.join(blocks, a)).catch(() => [] as string[])).sort()) {
      if (!SHARD_RE.test(b)) continue;
      const shard = path.join(blocks, a, b);
      for (const name of await fs.readdir(shard).catch(() => [] as string[])) {
        if (!isBlockId(name) || !name.startsWith(a + b)) continue;
        const stat = await fs.stat(path.join(shard, name)).catch(() => undefined);
        if (stat?.isFile()) yield { id: name, size: stat.size, used: stat.mtimeMs };
      }
    }
  }
}

/**
 * Deletes whose files wait for the ledger to commit again, at most (about 100 bytes each): past it,
 * a block stays REMOVING with its file until the next open, which keeps it.
 */
const MAX_UNLINK_BEHIND = 65_536;

class FsRawBlocks implements RawBlocks {
  private readonly shards = new Set<string>();
  /**
   * Blocks deleted while the ledger could not commit (a full disk): no longer counted, their
   * REMOVING records not yet on disk, so their files stay for now (the crash protocol). The next
   * commit that succeeds (a write, a delete, a pin change) unlinks them; before this, nothing did
   * until a restart, which then found the file and kept the block a delete had removed.
   */
  private readonly unlinkBehind = new Set<BlockId>();

  constructor(
    private readonly dir: string,
    private readonly ledger: LmdbLedger,
    private readonly options: FsStoreOptions,
  ) {}

  async read(id: BlockId) {
    try {
      const size = this.ledger.sizeOf(id);
      const file = blockPath(this.dir, id);
      const buffer = size === undefined ? await fs.readFile(file) : await readKnownSize(file, size);
      return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      // The store drops it from the ledger right after; its record then needs no file.
      setImmediate(() => this.ledger.settle([], [id]));
      return undefined;
    }
  }

  async write(id: BlockId, bytes: Uint8Array, evict: readonly BlockId[]) {
    await this.durable();
    const tmp = path.join(fsStoreLayout(this.dir).tmp, `${id}.${randomBytes(6).toString('hex')}`);
    const final = blockPath(this.dir, id);
    try {
      const handle = await fs.open(tmp, 'wx');
      try {
        await handle.writeFile(bytes);
        if (this.options.durable !== false) await handle.sync();
      } finally {
        await handle.close();
      }
      await this.options.hooks?.beforeRename?.(tmp, final);
      const shard = path.dirname(final);
      if (!this.shards.has(shard)) {
        await fs.mkdir(shard, { recursive: true });
        this.shards.add(shard);
      }
      await fs.rename(tmp, final);
    } catch (error) {
      await fs.unlink(tmp).catch(() => {
        // The write's own error is the one to report; tmp/ is emptied at the next open.
      });
      // The store rolls the ledger back (the block is removed, the victims counted again) once
      // this rejects; then nothing on disk changed, so those records need no file check.
      setImmediate(() => this.ledger.settle(evict, [id]));
      throw error;
    }
    // The block is in place: a victim that cannot be unlinked stays pending (and counted again
    // at the next open) rather than failing a put that succeeded.
    const gone = await this.unlink(evict);
    this.ledger.settle([id], gone);
  }

  async remove(ids: readonly BlockId[]) {
    try {
      await this.durable();
    } catch (error) {
      for (const id of ids) if (this.unlinkBehind.size < MAX_UNLINK_BEHIND) this.unlinkBehind.add(id);
      throw error;
    }
    this.ledger.settle([], await this.unlink(ids));
  }

  async addPins() {
    await this.durable();
  }

  async dropPins() {
    await this.durable();
  }

  /**
   * Waits until every ledger change so far is durable, then unlinks the files of deletes whose
   * commit had failed (`unlinkBehind`), now that their REMOVING records are on disk.
   */
  private async durable(): Promise<void> {
    await this.ledger.durable();
    if (this.unlinkBehind.size === 0) return;
    // Only those still being removed: a put since may have taken the id again.
    const ids = [...this.unlinkBehind].filter((id) => this.ledger.isRemoving(id));
    this.unlinkBehind.clear();
    this.ledger.settle([], await this.unlink(ids));
  }

  async close() {
    await this.ledger.close();
  }

  /** Unlinks the files of `ids`; returns those now gone. */
  private async unlink(ids: readonly BlockId[]): Promise<BlockId[]> {
    const results = await Promise.all(
      ids.map((id) =>
        fs.unlink(blockPath(this.dir, id)).then(
          () => true,
          (error) => isNotFound(error),
        ),
      ),
    );
    return ids.filter((_, i) => results[i]);
  }
}

/** pins/<hex name> files of a folder written before the ledger: one id per line. */
async function importPins(dir: string, ledger: LmdbLedger): Promise<void> {
  const pinsDir = fsStoreLayout(dir).pins;
  for (const file of await fs.readdir(pinsDir).catch(() => [] as string[])) {
    const nameBytes = fromHex(file);
    if (!nameBytes) continue;
    const text = await fs.readFile(path.join(pinsDir, file), 'utf8');
    // A crash mid-append can leave a partial last line: only whole ids count.
    ledger.pin(new TextDecoder().decode(nameBytes), text.split('\n').filter(isBlockId));
  }
  await ledger.durable();
}

export interface FsBlockStore extends BlockStore {
  readonly ledger: LmdbLedger;
}

/**
 * Opens (creating if needed) a store in `options.dir` with its ledger in `<dir>/ledger`. Temp files
 * a crash left are removed and the ledger's pending ids are settled against the disk; nothing
 * else on disk is read. Blocks are verified on read.
 */
export async function openFsBlockStore(options: FsStoreOptions): Promise<FsBlockStore> {
  const dir = path.resolve(options.dir);
  const layout = fsStoreLayout(dir);
  await Promise.all([layout.blocks, layout.tmp, layout.pins].map((d) => fs.mkdir(d, { recursive: true })));
  for (const leftover of await fs.readdir(layout.tmp)) {
    await fs.rm(path.join(layout.tmp, leftover), { force: true, recursive: true });
  }
  const ledger = await LmdbLedger.open({
    path: path.join(dir, LEDGER_DIR),
    quota: options.quota,
    durable: options.durable,
  });
  try {
    if (!ledger.ready) {
      await ledger.importBlocks(scanBlockFiles(dir));
      await importPins(dir, ledger);
      ledger.markReady();
      await ledger.durable();
    }
    await ledger.reconcile((id) => sizeOnDisk(dir, id));
  } catch (error) {
    await ledger.close();
    throw error;
  }
  const store = new ManagedBlockStore(new FsRawBlocks(dir, ledger, options), ledger, {
    verifyReads: true,
    ...options,
  });
  return Object.assign(store, { ledger });
}

/**
 * The full check an operator runs when the disk and the ledger may disagree (blocks copied in or
 * deleted by hand): walks every block file and every record. The store must not be open.
 */
export async function repairFsBlockStore(dirPath: string): Promise<RepairReport> {
  const dir = path.resolve(dirPath);
  const ledger = await LmdbLedger.open({ path: path.join(dir, LEDGER_DIR) });
  try {
    // A folder from before the ledger brings its pins along, as its first open would.
    if (!ledger.ready) await importPins(dir, ledger);
    const report = await ledger.repair(scanBlockFiles(dir), (id) => sizeOnDisk(dir, id));
    ledger.markReady();
    await ledger.durable();
    return report;
  } finally {
    await ledger.close();
  }
}
