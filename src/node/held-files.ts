// The seed's durable list of the files it keeps and for whom: per file its root, its size in bytes,
// whether the operator keeps it regardless (`kept`), and its owners (peer id, when the peer last
// committed or renewed it, and whether that hold expires). Blocks and pins stay in the block store;
// this is the part a block store does not know.
//
// Behind `HeldFileRecords` so the seed does not care where records live (a later change moves them
// into an embedded database). `openHeldFileRecords` keeps them in <data>/held-files.json:
//
//   {"format":"mycel-held-files","version":1,"files":[
//     {"root":"<64 hex>","bytes":3146752,"kept":false,
//      "owners":[{"peer":"<43-char peer id>","renewed":1767225600000,"expires":true}],"copies":3}]}
//
// `copies` (optional): the live copies the owner asked for in its commit's terms, so the file's
// replication target survives restarts and travels with repair pushes.
//
// A hold's expiry is `renewed` + the seed's --open-ttl, computed at use, so an operator who shortens
// the TTL shortens it for files already held. Every change rewrites the file atomically: written and
// synced under a temporary name, renamed over the old one, and the folder synced; a crash leaves
// the old list or the new one, never half of either. Changes made while a write is running are
// batched into the next write, and each change's promise settles once a write that includes it is
// durable. The file is read with bounds and every entry checked; a damaged file stops the seed with
// a line saying so (silently starting over would turn every stranger's file into nobody's).

import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BadInputError } from '../errors.js';
import { isBlockId, type BlockId } from '../content/format.js';
import { isPeerId } from '../net/identity.js';
import { MAX_OWNERS_PER_FILE } from '../net/limits.js';
import { MAX_TARGET_COPIES } from '../replication/policy.js';

export const HELD_FILES_NAME = 'held-files.json';
const FORMAT = 'mycel-held-files';
const VERSION = 1;
/** Far above any real list (about 250 bytes a file): a file larger than this is not ours. */
const MAX_FILE_BYTES = 512 * 1024 * 1024;

export interface FileOwner {
  readonly peer: string;
  /** When the peer last committed or renewed the file (ms since the epoch). */
  readonly renewedAt: number;
  /** False for peers on the allow list: their holds last until they are removed. */
  readonly expires: boolean;
}

export interface HeldFile {
  readonly root: BlockId;
  /** Bytes of the file's distinct blocks, as stored. */
  readonly bytes: number;
  /** Kept whatever its owners do (files stored before owners were recorded). */
  readonly kept: boolean;
  readonly owners: readonly FileOwner[];
  /** Live copies the owner asked for (its commit's terms); absent: the seed's default. */
  readonly copies?: number;
}

export interface LoadedRecords {
  readonly files: HeldFile[];
  /** False when there was no list yet (a new data folder, or one from before lists were kept). */
  readonly existed: boolean;
  /** Entries that failed their checks and were left out. */
  readonly skipped: number;
}

/** Where a seed keeps its held-file records. Each write settles once it is durable. */
export interface HeldFileRecords {
  load(): Promise<LoadedRecords>;
  put(file: HeldFile): Promise<void>;
  delete(root: BlockId): Promise<void>;
  /** Waits for writes in progress. */
  close(): Promise<void>;
}

interface Stored {
  root: string;
  bytes: number;
  kept: boolean;
  owners: { peer: string; renewed: number; expires: boolean }[];
  copies?: number;
}

function toStored(file: HeldFile): Stored {
  return {
    root: file.root,
    bytes: file.bytes,
    kept: file.kept,
    owners: file.owners.map((o) => ({ peer: o.peer, renewed: o.renewedAt, expires: o.expires })),
    ...(file.copies === undefined ? {} : { copies: file.copies }),
  };
}

/** A checked record, or undefined if `entry` is not one. */
function fromStored(entry: unknown): HeldFile | undefined {
  if (typeof entry !== 'object' || entry === null) return undefined;
  const e = entry as Partial<Stored>;
  if (!isBlockId(e.root) || !Number.isSafeInteger(e.bytes) || e.bytes! < 0 || typeof e.kept !== 'boolean')
    return undefined;
  if (!Array.isArray(e.owners) || e.owners.length > MAX_OWNERS_PER_FILE) return undefined;
  const owners: FileOwner[] = [];
  for (const o of e.owners as unknown[]) {
    const owner = o as Partial<Stored['owners'][number]>;
    if (typeof o !== 'object' || o === null || !isPeerId(owner.peer)) return undefined;
    if (!Number.isSafeInteger(owner.renewed) || typeof owner.expires !== 'boolean') return undefined;
    owners.push({ peer: owner.peer, renewedAt: owner.renewed!, expires: owner.expires });
  }
  if (owners.length === 0 && !e.kept) return undefined;
  if (e.copies !== undefined && !(Number.isInteger(e.copies) && e.copies >= 1 && e.copies <= MAX_TARGET_COPIES))
    return undefined;
  return {
    root: e.root,
    bytes: e.bytes!,
    kept: e.kept,
    owners,
    ...(e.copies === undefined ? {} : { copies: e.copies }),
  };
}

class JsonHeldFiles implements HeldFileRecords {
  private readonly files = new Map<BlockId, HeldFile>();
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(
    private readonly dir: string,
    private readonly file: string,
  ) {}

  async load(): Promise<LoadedRecords> {
    await fs.mkdir(this.dir, { recursive: true });
    // Temporary files of a write a crash interrupted: the list they were to replace still stands.
    for (const name of await fs.readdir(this.dir).catch(() => [] as string[])) {
      if (name.startsWith(`${HELD_FILES_NAME}.`) && name.endsWith('.tmp'))
        await fs.rm(path.join(this.dir, name), { force: true });
    }
    let text: string;
    try {
      const stat = await fs.stat(this.file);
      if (!stat.isFile() || stat.size > MAX_FILE_BYTES)
        throw new BadInputError(`${this.file} is not a Mycel list of held files`);
      text = await fs.readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // Written now, so from the next start on a file pin without a record means an unfinished commit.
      await this.flush();
      return { files: [], existed: false, skipped: 0 };
    }
    let parsed: { format?: unknown; version?: unknown; files?: unknown };
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new BadInputError(
        `${this.file} is damaged (not JSON). Move it aside to start: the files it listed are then kept for no one and never expire.`,
      );
    }
    if (parsed?.format !== FORMAT || !Array.isArray(parsed.files))
      throw new BadInputError(`${this.file} is not a Mycel list of held files`);
    if (parsed.version !== VERSION)
      throw new BadInputError(
        `${this.file} has version ${String(parsed.version)}; this Mycel reads version ${VERSION}`,
      );
    let skipped = 0;
    for (const entry of parsed.files) {
      const file = fromStored(entry);
      if (file) this.files.set(file.root, file);
      else skipped++;
    }
    return { files: [...this.files.values()], existed: true, skipped };
  }

  put(file: HeldFile): Promise<void> {
    this.files.set(file.root, file);
    return this.flush();
  }

  delete(root: BlockId): Promise<void> {
    this.files.delete(root);
    return this.flush();
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.running, this.next]);
  }

  /** A write that starts after this call (so it includes every change made before it). */
  private flush(): Promise<void> {
    if (!this.running) return this.start();
    this.next ??= this.running
      .catch(() => {
        // That write's callers hear its failure; this one starts all the same.
      })
      .then(() => {
        this.next = undefined;
        return this.start();
      });
    return this.next;
  }

  private start(): Promise<void> {
    const running = this.write(
      JSON.stringify({ format: FORMAT, version: VERSION, files: [...this.files.values()].map(toStored) }),
    );
    this.running = running;
    const clear = () => {
      if (this.running === running) this.running = undefined;
    };
    running.then(clear, clear);
    return running;
  }

  private async write(text: string): Promise<void> {
    const temp = `${this.file}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const handle = await fs.open(temp, 'wx', 0o600);
      try {
        await handle.writeFile(text + '\n');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(temp, this.file);
    } catch (error) {
      await fs.rm(temp, { force: true }).catch(() => {
        // The write's own error is the one to report; stray temp files are removed at load.
      });
      throw error;
    }
    const dir = await fs.open(this.dir, 'r').catch(() => undefined);
    // Some file systems cannot sync a folder; the rename is then as durable as they make it.
    await dir?.sync().catch(() => undefined);
    await dir?.close();
  }
}

/** The records in <dataDir>/held-files.json. */
export function openHeldFileRecords(dataDir: string): HeldFileRecords {
  const dir = path.resolve(dataDir);
  return new JsonHeldFiles(dir, path.join(dir, HELD_FILES_NAME));
}
