// The file-system block store as it was before its ledger moved into LMDB (src/store/fs.node.ts):
// the account in memory, rebuilt at every open by walking blocks/ and reading pins/. Kept for tests
// and benches only: it writes the folders a seed's first start with a ledger migrates, and it is the
// "today" the ledger bench puts its figures beside. Never open a folder with it that has a ledger/.

import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isBlockId, type BlockId } from '../../src/content/format.js';
import { mapInOrder } from '../../src/in-order.js';
import { fromHex, toHex } from '../../src/content/bytes.js';
import type { BlockStore } from '../../src/store/block-store.js';
import { Ledger, recencyStamp } from '../../src/store/ledger.js';
import { ManagedBlockStore, type ManagedStoreOptions, type RawBlocks } from '../../src/store/managed-store.js';

/** Directory entries stat'ed at once while scanning at open. */
const SCAN_CONCURRENCY = 64;

interface FsStoreOptions extends ManagedStoreOptions {
  readonly dir: string;
  readonly quota?: number;
  /** fsync each block before it is renamed into place (default true). */
  readonly durable?: boolean;
  /** Test hooks, to simulate a crash at a precise point. */
  readonly hooks?: { beforeRename?: (tmpPath: string, finalPath: string) => void | Promise<void> };
}

interface FsStoreLayout {
  readonly blocks: string;
  readonly tmp: string;
  readonly pins: string;
}

function fsStoreLayout(dir: string): FsStoreLayout {
  return { blocks: path.join(dir, 'blocks'), tmp: path.join(dir, 'tmp'), pins: path.join(dir, 'pins') };
}

function blockPath(dir: string, id: BlockId): string {
  return path.join(dir, 'blocks', id.slice(0, 2), id.slice(2, 4), id);
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT';
}

async function unlinkQuietly(file: string): Promise<void> {
  await fs.unlink(file).catch((error) => {
    if (!isNotFound(error)) throw error;
  });
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

class FsRawBlocks implements RawBlocks {
  private readonly shards = new Set<string>();
  constructor(
    private readonly dir: string,
    private readonly options: FsStoreOptions,
  ) {}

  async read(id: BlockId) {
    try {
      const buffer = await fs.readFile(blockPath(this.dir, id));
      return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async write(id: BlockId, bytes: Uint8Array, evict: readonly BlockId[]) {
    const layout = fsStoreLayout(this.dir);
    const tmp = path.join(layout.tmp, `${id}.${nodeRandomBytes(6).toString('hex')}`);
    const final = blockPath(this.dir, id);
    try {
      const handle = await fs.open(tmp, 'wx');
      try {
        await handle.writeFile(bytes);
        const stamp = new Date(recencyStamp());
        await handle.utimes(stamp, stamp);
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
      await unlinkQuietly(tmp).catch(() => {
        // The write's own error is the one to report; tmp/ is emptied at the next open.
      });
      throw error;
    }
    await this.remove(evict);
  }

  async remove(ids: readonly BlockId[]) {
    await Promise.all(ids.map((id) => unlinkQuietly(blockPath(this.dir, id))));
  }

  private pinFile(name: string): string {
    return path.join(fsStoreLayout(this.dir).pins, toHex(encoder.encode(name)));
  }

  async addPins(name: string, ids: readonly BlockId[]) {
    await fs.appendFile(this.pinFile(name), ids.join('\n') + '\n');
  }

  async dropPins(name: string) {
    await unlinkQuietly(this.pinFile(name));
  }

  touched(id: BlockId) {
    const stamp = new Date(recencyStamp());
    fs.utimes(blockPath(this.dir, id), stamp, stamp).catch(() => {
      // Recency is a hint for eviction after a restart; the read itself succeeded.
    });
  }

  close() {
    // Every write is awaited by its put: nothing is left open.
    return Promise.resolve();
  }
}

const SHARD_RE = /^[0-9a-f]{2}$/;

/** Finds every whole block under blocks/ (size and last use); ignores anything else there. */
async function scanBlocks(dir: string): Promise<{ id: BlockId; size: number; used: number }[]> {
  const layout = fsStoreLayout(dir);
  const blocks: { id: BlockId; size: number; used: number }[] = [];
  for (const a of await fs.readdir(layout.blocks)) {
    if (!SHARD_RE.test(a)) continue;
    for (const b of await fs.readdir(path.join(layout.blocks, a)).catch(() => [] as string[])) {
      if (!SHARD_RE.test(b)) continue;
      const shard = path.join(layout.blocks, a, b);
      const names = (await fs.readdir(shard)).filter((n) => isBlockId(n) && n.startsWith(a + b));
      // A file gone since the listing (evicted, or not a block after all) is simply not found.
      const stat = (id: string) => fs.stat(path.join(shard, id)).catch(() => undefined);
      let i = 0;
      for await (const found of mapInOrder(names, SCAN_CONCURRENCY, stat)) {
        const id = names[i++]!;
        if (found?.isFile()) blocks.push({ id, size: found.size, used: found.mtimeMs });
      }
    }
  }
  return blocks;
}

async function loadPins(dir: string, ledger: Ledger): Promise<void> {
  const pinsDir = fsStoreLayout(dir).pins;
  for (const file of await fs.readdir(pinsDir)) {
    const nameBytes = fromHex(file);
    if (!nameBytes) continue;
    const text = await fs.readFile(path.join(pinsDir, file), 'utf8');
    // A crash mid-append can leave a partial last line: only whole ids count.
    ledger.pin(decoder.decode(nameBytes), text.split('\n').filter(isBlockId));
  }
}

/**
 * Opens (creating if needed) a store in `dir`. Temp files left by a crash are removed; files in
 * blocks/ that are not named like a block are left alone and never served.
 */
export async function openLegacyFsBlockStore(options: FsStoreOptions): Promise<BlockStore> {
  const dir = path.resolve(options.dir);
  // Blocks added here would be unknown to that ledger: refuse rather than break its agreement.
  if (await fs.stat(path.join(dir, 'ledger')).catch(() => undefined)) throw new Error(`${dir} has a ledger/`);
  const layout = fsStoreLayout(dir);
  await Promise.all([layout.blocks, layout.tmp, layout.pins].map((d) => fs.mkdir(d, { recursive: true })));
  for (const leftover of await fs.readdir(layout.tmp)) {
    await fs.rm(path.join(layout.tmp, leftover), { force: true, recursive: true });
  }
  const ledger = new Ledger(options.quota);
  await loadPins(dir, ledger);
  const blocks = await scanBlocks(dir);
  blocks.sort((x, y) => x.used - y.used);
  for (const block of blocks) ledger.add(block.id, block.size);
  return new ManagedBlockStore(new FsRawBlocks(dir, options), ledger, {
    verifyReads: true,
    ...options,
  });
}
