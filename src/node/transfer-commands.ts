// `mycel put`, `mycel get` and `mycel renew`: short-lived peers that join the network, move (or
// renew) one file, and leave.

import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { BadInputError, NoSeedError, ServerUnreachableError } from '../errors.js';
import { formatLink, parseLink } from '../content/share-link.js';
import { safeFileName } from '../content/names.js';
import { ephemeralIdentity, type PeerIdentity } from '../net/identity.js';
import { loadNodeIdentity } from './identity-file.js';
import { httpOriginFor, signalUrlFor } from '../net/server-url.js';
import { Swarm } from '../net/swarm.js';
import type { PathType } from '../net/peer-link.js';
import {
  connectSeeds,
  openRemoteRoot,
  renewFile,
  uploadCollection,
  uploadFile,
  type RemoteFile,
} from '../net/transfer.js';
import { getCollection, planPut } from './collection-commands.js';
import { createMemoryBlockStore } from '../store/memory.js';
import { createPassingStore } from '../store/passing.js';
import { verifiedPrefix } from '../content/resume.js';
import { claimPartial, type PartialClaim } from './partial-claim.js';
import type { OpenedManifest } from '../content/open.js';
import type { BlockStore } from '../store/block-store.js';
import { LEDGER_DIR, fsStoreLayout, openFsBlockStore } from '../store/fs.node.js';
import { createLogger } from './log.js';
import { mediaTypeOf } from './media-types.js';
import { progressBar } from './progress.js';
import { nodeSocketFactory } from './seed.js';
import { formatSize } from '../sizes.js';
import { DEFAULT_TARGET_COPIES } from '../replication/policy.js';
import { MAX_SEEDS_USED, MEMORY_DOWNLOAD_AHEAD, MEMORY_DOWNLOAD_BLOCKS } from '../net/limits.js';
import { UsageError } from './usage-error.js';
import { nodeWrtc } from './wrtc.js';

/**
 * The servers a command may use, in the order they are tried: each as its http(s) origin (what
 * links carry) and its signaling URL. Several are processes of one deployment (one Redis).
 */
export interface Servers {
  readonly origins: readonly string[];
  readonly signalUrls: readonly string[];
}

/** @throws UsageError for a URL that does not parse. */
export function serversOf(urls: readonly string[]): Servers {
  const origins: string[] = [];
  for (const url of urls) {
    let origin: string;
    try {
      origin = httpOriginFor(url);
    } catch {
      throw new UsageError(`bad server URL: ${url}`);
    }
    if (!origins.includes(origin)) origins.push(origin);
  }
  return { origins, signalUrls: origins.map(signalUrlFor) };
}

/** For get and renew: the --server URLs in turn, then the link's own origin; or that alone. */
export function serversForLink(linkOrigin: string, given: readonly string[] | undefined): Servers {
  const urls = given?.length ? [...given, ...(linkOrigin ? [linkOrigin] : [])] : linkOrigin ? [linkOrigin] : [];
  if (urls.length === 0) throw new UsageError('the link has no server: give the full link or --server');
  return serversOf(urls);
}

/**
 * A one-shot peer: by default a fresh identity in memory, forgotten when the command ends. With
 * several servers it moves to the next when one cannot be reached or is lost, as a seed does
 * (SignalClient's alternates).
 */
export function joinSwarm(servers: Servers, store: BlockStore, identity: PeerIdentity = ephemeralIdentity()): Swarm {
  const [signalUrl, ...signalAlternates] = servers.signalUrls;
  const swarm = new Swarm({
    identity,
    signalUrl: signalUrl!,
    signalAlternates,
    createSocket: nodeSocketFactory,
    wrtc: nodeWrtc,
    log: createLogger({ level: process.env.MYCEL_LOG ? undefined : 'warn', fields: { component: 'peer' } }),
    host: { store },
  });
  swarm.start();
  return swarm;
}

export async function reach(swarm: Swarm, servers: Servers, timeoutMs: number): Promise<void> {
  try {
    await swarm.signaling.ready(Math.min(timeoutMs, 15_000));
  } catch (error) {
    throw new ServerUnreachableError(servers.origins.join(', '), {
      cause: error,
      reason: explainSocketError(swarm.signaling.lastError),
    });
  }
}

/** The origin of the server the swarm is connected to now. */
function reachedOrigin(swarm: Swarm, servers: Servers): string {
  const index = servers.signalUrls.indexOf(swarm.signaling.currentUrl);
  return servers.origins[Math.max(0, index)]!;
}

/**
 * The part of a socket error a person can act on: a certificate Node does not trust, and how to
 * trust a private CA. Other failures (refused, unreachable) say no more than the address does.
 */
function explainSocketError(message: string | undefined): string | undefined {
  if (!message || !/certificate|self[- ]signed|CERT_/i.test(message)) return undefined;
  return `${message} (a server with a private CA: point NODE_EXTRA_CA_CERTS at the CA's certificate)`;
}

export interface PutOptions {
  /** One file (shared as a file), or a folder or several paths (shared as one collection). */
  readonly paths: readonly string[];
  readonly json?: boolean;
  /** Servers of one deployment, tried in turn (the first that answers is used). */
  readonly servers: readonly string[];
  readonly timeoutMs: number;
  /** A folder holding the identity to put as (made if missing), so a seed's --allow can name it. */
  readonly identityDir?: string;
  /** `--expire`: seeds drop the file this long after the put. */
  readonly expireMs?: number;
  /** Live copies wanted (the commit's terms): the file goes to this many seeds. */
  readonly copies?: number;
}

export async function runPut(options: PutOptions): Promise<number> {
  if (options.paths.length === 0) throw new UsageError('put takes a file, a folder or several files');
  const stat = options.paths.length === 1 ? await fs.stat(options.paths[0]!).catch(() => undefined) : undefined;
  if (options.paths.length === 1 && !stat?.isFile() && !stat?.isDirectory())
    throw new UsageError(`not a file or a folder: ${options.paths[0]}`);
  // Everything is checked (and a folder walked) before the network is touched.
  const plan = stat?.isFile() ? undefined : await planPut(options.paths);
  for (const { absolute, why } of plan?.skipped ?? [])
    process.stderr.write(
      `mycel: left out ${absolute} (${why === 'symbolic-link' ? 'a symbolic link' : 'not a file'})\n`,
    );
  if (options.servers.length === 0) throw new UsageError('put needs a server');
  const servers = serversOf(options.servers);
  const identity = options.identityDir ? await loadNodeIdentity(options.identityDir) : undefined;
  const copies = options.copies ?? DEFAULT_TARGET_COPIES;
  const swarm = joinSwarm(servers, createMemoryBlockStore(), identity);
  let scratch: { store: BlockStore; dir: string } | undefined;
  try {
    await reach(swarm, servers, options.timeoutMs);
    // One seed past the copies wanted: a spare to move down to when one refuses.
    const seeds = await connectSeeds(swarm, {
      timeoutMs: options.timeoutMs,
      max: Math.max(MAX_SEEDS_USED, copies + 1),
    });
    if (seeds.length === 0)
      throw new NoSeedError(`no seed answered at ${reachedOrigin(swarm, servers)}: nowhere to keep the file`);
    if (seeds.length > copies) {
      // The file goes to the seeds its root ranks first, known once sealed: sealed to disk first.
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mycel-put-'));
      scratch = { dir, store: await openFsBlockStore({ dir, durable: false }) };
    }
    // The server's public URL, if its operator set one: the address we reached may be private.
    // Else the server that answered: a link must not name one that was down.
    const linkOrigin = swarm.signaling.publicOrigin ?? reachedOrigin(swarm, servers);
    const terms = {
      copies,
      ...(options.expireMs === undefined ? {} : { expiresAt: Date.now() + options.expireMs }),
    };
    let link: string;
    let size: number;
    let stored: { seeds: string[]; failed: { peer: string; error: Error }[] };
    let entries: unknown[] | undefined;
    if (plan) {
      size = plan.bytes;
      const bar = progressBar(`put ${plan.items.length} entries`);
      const result = await uploadCollection(plan.items, {
        seeds,
        terms,
        store: scratch?.store,
        onProgress: ({ bytesRead }) => bar.update(bytesRead, size),
      });
      bar.update(size, size);
      bar.finish();
      link = formatLink(linkOrigin, result.collection.root, result.collection.key);
      stored = result;
      entries = result.collection.entries.map((e) =>
        e.kind === 'folder'
          ? { path: e.path, kind: 'folder' }
          : { path: e.path, kind: 'file', size: e.size, mediaType: e.mediaType },
      );
    } else {
      const file = options.paths[0]!;
      size = stat!.size;
      const name = path.basename(file);
      const bar = progressBar(`put ${name}`);
      const result = await uploadFile(createReadStream(file, { highWaterMark: 1024 * 1024 }), {
        name,
        mediaType: mediaTypeOf(name),
        seeds,
        terms,
        store: scratch?.store,
        onProgress: ({ bytesRead }) => bar.update(bytesRead, size),
      });
      bar.update(size, size);
      bar.finish();
      link = formatLink(linkOrigin, result.file.root, result.file.key);
      stored = result;
    }
    for (const { peer, error } of stored.failed) process.stderr.write(`mycel: seed ${peer} failed: ${error.message}\n`);
    const placed = stored.seeds.length;
    if (options.json) {
      process.stdout.write(
        JSON.stringify({ link, bytes: size, seeds: placed, copies: { target: copies, placed }, entries }) + '\n',
      );
    } else process.stdout.write(link + '\n');
    const what = plan ? `${plan.items.length} entries, ` : '';
    if (placed < copies) {
      process.stderr.write(
        `${placed} of ${copies} copies placed: the network adds the rest as seeds and keepers appear\n`,
      );
    }
    // Last, as before copies were counted: what was stored where.
    process.stderr.write(`stored ${what}${formatSize(size)} on ${placed} seed${placed === 1 ? '' : 's'}\n`);
    return 0;
  } finally {
    swarm.close();
    if (scratch) {
      await scratch.store.close().catch(() => undefined);
      await fs.rm(scratch.dir, { recursive: true, force: true });
    }
  }
}

export interface RenewOptions {
  readonly link: string;
  /** Servers to try before the link's own origin (see GetOptions.servers). */
  readonly servers?: readonly string[];
  readonly timeoutMs: number;
  /** The folder holding the identity to renew as: the one that put the file, or any other. */
  readonly identityDir: string;
  /** `--expire`: a new expiry, this long from now (seeds only ever push an expiry later). */
  readonly expireMs?: number;
}

/** Renews every reachable seed's hold on the file; fails unless at least one renewed it. */
export async function runRenew(options: RenewOptions): Promise<number> {
  const link = parseLink(options.link);
  const servers = serversForLink(link.origin, options.servers);
  const identity = await loadNodeIdentity(options.identityDir);
  const swarm = joinSwarm(servers, createMemoryBlockStore(), identity);
  try {
    await reach(swarm, servers, options.timeoutMs);
    const seeds = await connectSeeds(swarm, { timeoutMs: options.timeoutMs });
    if (seeds.length === 0) throw new NoSeedError(`no seed answered at ${reachedOrigin(swarm, servers)}`);
    let renewed = 0;
    let firstError: unknown;
    for (const seed of seeds) {
      try {
        await renewFile(seed, link.root, {
          terms: options.expireMs === undefined ? undefined : { expiresAt: Date.now() + options.expireMs },
        });
        renewed++;
      } catch (error) {
        firstError ??= error;
        process.stderr.write(`mycel: seed ${seed.peer} did not renew: ${(error as Error).message}\n`);
      }
    }
    if (renewed === 0) throw firstError;
    process.stderr.write(`renewed on ${renewed} seed${renewed === 1 ? '' : 's'}\n`);
    return 0;
  } finally {
    swarm.close();
  }
}

/** Blocks fetched from each peer, and the path its connection took (host, srflx, prflx, relay). */
async function sourcesOf(
  swarm: Swarm,
  blocksFrom: ReadonlyMap<string, number>,
): Promise<Record<string, { blocks: number; candidate: PathType | null }>> {
  const out: Record<string, { blocks: number; candidate: PathType | null }> = {};
  for (const [peer, blocks] of blocksFrom) {
    const candidate = swarm.pathOf(peer) ?? (await swarm.session(peer)?.link.pathType());
    out[peer] = { blocks, candidate: candidate ?? null };
  }
  return out;
}

export interface GetOptions {
  readonly link: string;
  readonly output?: string;
  readonly force: boolean;
  readonly cacheDir?: string;
  readonly cacheQuota: number;
  /**
   * Servers of the file's deployment, tried in turn before the link's own origin (which alone is
   * used without them): for links without an origin, or when that process is down.
   */
  readonly servers?: readonly string[];
  readonly timeoutMs: number;
  readonly json: boolean;
}

export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'mycel');
}

async function exists(file: string): Promise<boolean> {
  return (await fs.stat(file).catch(() => undefined)) !== undefined;
}

export async function runGet(options: GetOptions): Promise<number> {
  const link = parseLink(options.link);
  const servers = serversForLink(link.origin, options.servers);
  // The disk cache takes the root (and a collection's or stdout get's blocks); a file written to a
  // path passes its data blocks through memory instead and resumes from its partial copy.
  const store = createPassingStore(
    await openFsBlockStore({
      dir: options.cacheDir ?? defaultCacheDir(),
      quota: options.cacheQuota,
      durable: false,
    }),
  );
  const swarm = joinSwarm(servers, store);
  const started = Date.now();
  let partial: string | undefined;
  // Held from before the partial is first touched until the get ends, however it ends.
  let claim: PartialClaim | undefined;
  let completed = false;
  let resumed = 0;
  // Ctrl-C or a TERM ends the get through its signal, so a partial copy is kept and said so; a
  // second one ends the process at once, should anything not heed the signal.
  const interrupt = new AbortController();
  const onSignal = () => {
    if (interrupt.signal.aborted) {
      claim?.releaseSync();
      process.exit(INTERRUPTED_EXIT_CODE);
    }
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await reach(swarm, servers, options.timeoutMs);
    // Time to first byte counts from here: connected to the signaling server, nothing else yet.
    const reached = Date.now();
    const bar = progressBar('get');
    let total = 0;
    let chunk = 0;
    const opened = await openRemoteRoot(link.root, link.key, {
      swarm,
      store,
      signal: interrupt.signal,
      noHolderTimeoutMs: options.timeoutMs,
      onProgress: (p) =>
        total &&
        chunk &&
        bar.update(
          Math.min(total, resumed + p.blocksDone * chunk),
          total,
          `${p.sources} source${p.sources === 1 ? '' : 's'}`,
        ),
    });
    if (opened.kind === 'collection') {
      const { remote } = opened;
      try {
        if (options.output === '-') throw new BadInputError('the link names a collection: give a folder, not -');
        const folder = options.output ?? `mycel-${link.root.slice(0, 8)}`;
        const result = await getCollection(remote, folder, {
          onProgress: (bytes, size) => bar.update(bytes, size, `${remote.fetcher.sourceCount} sources`),
        });
        bar.finish();
        const seconds = (Date.now() - started) / 1000;
        if (options.json) {
          const sources = Object.fromEntries(remote.fetcher.blocksFrom);
          process.stdout.write(JSON.stringify({ ...result, seconds, sources }) + '\n');
        } else {
          process.stderr.write(
            `saved ${result.files} file${result.files === 1 ? '' : 's'}${result.folders ? ` and ${result.folders} empty folder${result.folders === 1 ? '' : 's'}` : ''} (${formatSize(result.bytes)}) in ${folder} in ${seconds.toFixed(1)} s\n`,
          );
        }
        return 0;
      } finally {
        remote.close();
      }
    }
    const remote: RemoteFile = opened.file;
    const { manifest } = remote.opened;
    chunk = manifest.chunkSize;
    total = manifest.size;

    const toStdout = options.output === '-';
    let target = '';
    if (!toStdout) {
      const name = safeFileName(manifest.name);
      target = options.output ?? name;
      if ((await fs.stat(target).catch(() => undefined))?.isDirectory()) target = path.join(target, name);
      if (!options.force && (await exists(target))) {
        throw new BadInputError(`${target} exists: not overwriting it (use --force)`);
      }
      // A get already writing this partial keeps it: this one stops before reading or cutting it.
      const file = partialPath(target, link.root);
      claim = await claimPartial(file, target);
      partial = file;
      store.passThrough(MEMORY_DOWNLOAD_BLOCKS);
    }
    if (partial) resumed = (await resumePartial(partial, remote.opened, interrupt.signal)) * chunk;
    const out = toStdout ? process.stdout : createWriteStream(partial!, { flags: 'a' });
    let firstByteAt: number | undefined;
    let index = Math.floor(resumed / chunk);
    for await (const part of remote.read(
      toStdout ? {} : { start: resumed, fetchFromStart: true, ahead: MEMORY_DOWNLOAD_AHEAD },
    )) {
      firstByteAt ??= Date.now();
      if (!out.write(part)) await once(out, 'drain');
      // Each part is one chunk (the read starts on a chunk's first byte): its block is no longer needed.
      if (!toStdout) store.drop(await remote.opened.dataId(index++));
    }
    const lastByteAt = Date.now();
    if (!toStdout) {
      out.end();
      await once(out, 'finish');
      await fs.rename(partial!, target);
    }
    completed = true;
    bar.update(total, total);
    bar.finish();
    const sources = await sourcesOf(swarm, remote.fetcher.blocksFrom);
    remote.close();
    const seconds = (Date.now() - started) / 1000;
    if (options.json) {
      const summary = {
        file: toStdout ? '-' : target,
        name: manifest.name,
        bytes: manifest.size,
        resumed,
        seconds,
        ttfbMs: firstByteAt === undefined ? null : firstByteAt - reached,
        transferMs: firstByteAt === undefined ? null : lastByteAt - firstByteAt,
        sources,
      };
      // With the file itself on stdout, the summary goes to stderr.
      (toStdout ? process.stderr : process.stdout).write(JSON.stringify(summary) + '\n');
    } else if (!toStdout) {
      process.stderr.write(`saved ${target} (${formatSize(manifest.size)}) in ${seconds.toFixed(1)} s\n`);
    }
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    try {
      if (partial && !completed) await keepOrDrop(partial);
    } finally {
      await claim?.release();
    }
    swarm.close();
    await store.close();
  }
}

/** A process ended by a signal it was sent exits with 128 + the signal's number (SIGINT's is 2). */
const INTERRUPTED_EXIT_CODE = 130;

/** Where a get of `root` to `target` writes until done: the same name each time, so a get resumes it. */
export function partialPath(target: string, root: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${root.slice(0, 16)}.mycel-partial`);
}

/**
 * Checks the partial copy at `file`, if any, against the file's block ids (content/resume.ts) and
 * cuts it after the last chunk that matched: returns how many whole chunks it keeps.
 */
async function resumePartial(file: string, opened: OpenedManifest, signal: AbortSignal): Promise<number> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r+');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  try {
    const { size } = await handle.stat();
    const read = async (offset: number, count: number) => {
      const bytes = new Uint8Array(count);
      let got = 0;
      while (got < count) {
        const { bytesRead } = await handle.read(bytes, got, count - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return bytes.subarray(0, got);
    };
    const chunks = await verifiedPrefix(opened, read, size, signal);
    const keep = chunks * opened.manifest.chunkSize;
    if (keep !== size) await handle.truncate(keep);
    return chunks;
  } finally {
    await handle.close();
  }
}

/** After a failure: a partial copy with bytes in it stays for the next get; an empty one goes. */
async function keepOrDrop(file: string): Promise<void> {
  const stat = await fs.stat(file).catch(() => undefined);
  if (!stat) return;
  if (stat.size === 0) {
    await fs.rm(file, { force: true });
    return;
  }
  process.stderr.write(`mycel: kept ${file} (${formatSize(stat.size)}): the same get resumes it\n`);
}

export interface CacheOptions {
  readonly cacheDir?: string;
  readonly cacheQuota: number;
  readonly clear: boolean;
}

/** Shows where get's block cache is and what it holds; empties it with `clear`. */
export async function runCache(options: CacheOptions): Promise<number> {
  const dir = options.cacheDir ?? defaultCacheDir();
  if (options.clear) {
    // Only the store's own folders: a --cache pointing somewhere unexpected loses nothing else. The
    // ledger goes with the blocks it lists (left alone, it would still count them).
    const layout = fsStoreLayout(dir);
    for (const folder of [layout.blocks, layout.tmp, layout.pins, path.join(dir, LEDGER_DIR)])
      await fs.rm(folder, { recursive: true, force: true });
    process.stdout.write(`emptied ${dir}\n`);
    return 0;
  }
  if (!(await exists(dir))) {
    process.stdout.write(`${dir}: empty (not made yet)\n`);
    return 0;
  }
  const store = await openFsBlockStore({ dir, quota: options.cacheQuota, durable: false });
  try {
    const usage = await store.usage();
    process.stdout.write(
      `${dir}: ${formatSize(usage.bytes)} in ${usage.blocks} block${usage.blocks === 1 ? '' : 's'}, at most ${formatSize(options.cacheQuota)}\n`,
    );
  } finally {
    await store.close();
  }
  return 0;
}
