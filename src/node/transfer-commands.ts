// `mycel put`, `mycel get` and `mycel renew`: short-lived peers that join the network, move (or
// renew) one file, and leave.

import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { once } from 'node:events';
import { BadInputError, NoSeedError, ServerUnreachableError } from '../errors.js';
import { formatLink, parseLink } from '../content/share-link.js';
import { safeFileName } from '../content/names.js';
import { ephemeralIdentity, type PeerIdentity } from '../net/identity.js';
import { loadNodeIdentity } from './identity-file.js';
import { httpOriginFor, signalUrlFor } from '../net/server-url.js';
import { Swarm } from '../net/swarm.js';
import { connectSeeds, openRemoteFile, renewFile, uploadFile } from '../net/transfer.js';
import { createMemoryBlockStore } from '../store/memory.js';
import type { BlockStore } from '../store/block-store.js';
import { openFsBlockStore } from '../store/fs.node.js';
import { createLogger } from './log.js';
import { mediaTypeOf } from './media-types.js';
import { progressBar } from './progress.js';
import { nodeSocketFactory } from './seed.js';
import { formatSize } from './sizes.js';
import { UsageError } from './usage-error.js';
import { nodeWrtc } from './wrtc.js';

/** A one-shot peer: by default a fresh identity in memory, forgotten when the command ends. */
function joinSwarm(signalUrl: string, store: BlockStore, identity: PeerIdentity = ephemeralIdentity()): Swarm {
  const swarm = new Swarm({
    identity,
    signalUrl,
    createSocket: nodeSocketFactory,
    wrtc: nodeWrtc,
    log: createLogger({ level: process.env.MYCEL_LOG ? undefined : 'warn', fields: { component: 'peer' } }),
    host: { store },
  });
  swarm.start();
  return swarm;
}

async function reach(swarm: Swarm, origin: string, timeoutMs: number): Promise<void> {
  try {
    await swarm.signaling.ready(Math.min(timeoutMs, 15_000));
  } catch (error) {
    throw new ServerUnreachableError(origin, { cause: error });
  }
}

export interface PutOptions {
  readonly file: string;
  readonly server: string;
  readonly timeoutMs: number;
  /** A folder holding the identity to put as (made if missing), so a seed's --allow can name it. */
  readonly identityDir?: string;
}

export async function runPut(options: PutOptions): Promise<number> {
  const stat = await fs.stat(options.file).catch(() => undefined);
  if (!stat?.isFile()) throw new UsageError(`not a file: ${options.file}`);
  let origin: string;
  let signalUrl: string;
  try {
    origin = httpOriginFor(options.server);
    signalUrl = signalUrlFor(origin);
  } catch {
    throw new UsageError(`bad server URL: ${options.server}`);
  }
  const identity = options.identityDir ? await loadNodeIdentity(options.identityDir) : undefined;
  const swarm = joinSwarm(signalUrl, createMemoryBlockStore(), identity);
  try {
    await reach(swarm, origin, options.timeoutMs);
    const seeds = await connectSeeds(swarm, { timeoutMs: options.timeoutMs });
    if (seeds.length === 0) throw new NoSeedError(`no seed answered at ${origin}: nowhere to keep the file`);
    const name = path.basename(options.file);
    const bar = progressBar(`put ${name}`);
    const result = await uploadFile(createReadStream(options.file, { highWaterMark: 1024 * 1024 }), {
      name,
      mediaType: mediaTypeOf(name),
      seeds,
      onProgress: ({ bytesRead }) => bar.update(bytesRead, stat.size),
    });
    bar.update(stat.size, stat.size);
    bar.finish();
    for (const { peer, error } of result.failed) process.stderr.write(`mycel: seed ${peer} failed: ${error.message}\n`);
    process.stdout.write(formatLink(origin, result.file.root, result.file.key) + '\n');
    process.stderr.write(
      `stored ${formatSize(stat.size)} on ${result.seeds.length} seed${result.seeds.length === 1 ? '' : 's'}\n`,
    );
    return 0;
  } finally {
    swarm.close();
  }
}

export interface RenewOptions {
  readonly link: string;
  readonly server?: string;
  readonly timeoutMs: number;
  /** The folder holding the identity to renew as: the one that put the file, or any other. */
  readonly identityDir: string;
}

/** Renews every reachable seed's hold on the file; fails unless at least one renewed it. */
export async function runRenew(options: RenewOptions): Promise<number> {
  const link = parseLink(options.link);
  const origin = link.origin || (options.server ? httpOriginFor(options.server) : '');
  if (!origin) throw new UsageError('the link has no server: give the full link or --server');
  const identity = await loadNodeIdentity(options.identityDir);
  const swarm = joinSwarm(signalUrlFor(origin), createMemoryBlockStore(), identity);
  try {
    await reach(swarm, origin, options.timeoutMs);
    const seeds = await connectSeeds(swarm, { timeoutMs: options.timeoutMs });
    if (seeds.length === 0) throw new NoSeedError(`no seed answered at ${origin}`);
    let renewed = 0;
    let firstError: unknown;
    for (const seed of seeds) {
      try {
        await renewFile(seed, link.root);
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

export interface GetOptions {
  readonly link: string;
  readonly output?: string;
  readonly force: boolean;
  readonly cacheDir?: string;
  readonly cacheQuota: number;
  readonly server?: string;
  readonly timeoutMs: number;
  readonly json: boolean;
}

function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'mycel');
}

async function exists(file: string): Promise<boolean> {
  return (await fs.stat(file).catch(() => undefined)) !== undefined;
}

export async function runGet(options: GetOptions): Promise<number> {
  const link = parseLink(options.link);
  const origin = link.origin || (options.server ? httpOriginFor(options.server) : '');
  if (!origin) throw new UsageError('the link has no server: give the full link or --server');
  const store = await openFsBlockStore({
    dir: options.cacheDir ?? defaultCacheDir(),
    quota: options.cacheQuota,
    durable: false,
  });
  const swarm = joinSwarm(signalUrlFor(origin), store);
  const started = Date.now();
  let tmp: string | undefined;
  try {
    await reach(swarm, origin, options.timeoutMs);
    // Time to first byte counts from here: connected to the signaling server, nothing else yet.
    const reached = Date.now();
    const bar = progressBar('get');
    let total = 0;
    let chunk = 0;
    const remote = await openRemoteFile(link.root, link.key, {
      swarm,
      store,
      noHolderTimeoutMs: options.timeoutMs,
      onProgress: (p) =>
        total &&
        bar.update(Math.min(total, p.blocksDone * chunk), total, `${p.sources} source${p.sources === 1 ? '' : 's'}`),
    });
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
      tmp = path.join(
        path.dirname(target),
        `.${path.basename(target)}.${nodeRandomBytes(4).toString('hex')}.mycel-partial`,
      );
    }
    const out = toStdout ? process.stdout : createWriteStream(tmp!, { flags: 'wx' });
    let firstByteAt: number | undefined;
    for await (const part of remote.read()) {
      firstByteAt ??= Date.now();
      if (!out.write(part)) await once(out, 'drain');
    }
    const lastByteAt = Date.now();
    if (!toStdout) {
      out.end();
      await once(out, 'finish');
      await fs.rename(tmp!, target);
      tmp = undefined;
    }
    bar.update(total, total);
    bar.finish();
    remote.close();
    const seconds = (Date.now() - started) / 1000;
    if (options.json) {
      const summary = {
        file: toStdout ? '-' : target,
        name: manifest.name,
        bytes: manifest.size,
        seconds,
        ttfbMs: firstByteAt === undefined ? null : firstByteAt - reached,
        transferMs: firstByteAt === undefined ? null : lastByteAt - firstByteAt,
        sources: Object.fromEntries(remote.fetcher.blocksFrom),
      };
      // With the file itself on stdout, the summary goes to stderr.
      (toStdout ? process.stderr : process.stdout).write(JSON.stringify(summary) + '\n');
    } else if (!toStdout) {
      process.stderr.write(`saved ${target} (${formatSize(manifest.size)}) in ${seconds.toFixed(1)} s\n`);
    }
    return 0;
  } finally {
    if (tmp) await fs.rm(tmp, { force: true });
    swarm.close();
    await store.close();
  }
}
