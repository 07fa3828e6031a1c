// The seed: an always-on peer that keeps blocks on disk and serves them to anyone who asks by id.
// It never has a key: it sees ciphertext blocks, upload ids and root ids, nothing else.
//
// Dev docs. Pushed blocks are pinned under `upload:<upload id>` as they arrive, so the quota can
// refuse them but eviction never takes them; a commit turns the upload into `file:<root>` and the
// seed announces the root. Uploads never committed are unpinned after UPLOAD_IDLE_TTL_MS idle, and
// at every start (their blocks stay as evictable cache). The seed's key lives in <data>/identity.key
// (identity-file.ts), so it is the same peer id across restarts, and only it can be that id. Files it
// holds are the `file:*` pin sets on disk. That it is a seed is the deployment's word (the signaling
// server's list of seeds), not its own: it announces the seeds topic, and an unlisted seed is told
// no. `allow` names peer ids as proven on the channel, so an allow list means what it says.

import WebSocket from 'ws';
import { StoreRefusedError } from '../errors.js';
import { toHex } from '../content/bytes.js';
import { isBlockId, type BlockId } from '../content/format.js';
import type { BlockStore } from '../store/block-store.js';
import type { PeerIdentity } from '../net/identity.js';
import { UPLOAD_IDLE_TTL_MS } from '../net/limits.js';
import { SEEDS_TOPIC } from '../net/signal-messages.js';
import type { WebSocketLike } from '../net/signal-client.js';
import { Swarm } from '../net/swarm.js';
import { openFsBlockStore } from './fs-store.js';
import { loadNodeIdentity } from './identity-file.js';
import { createLogger, type Logger } from './log.js';
import { nodeWrtc } from './wrtc.js';

const FILE_PIN = 'file:';
const UPLOAD_PIN = 'upload:';

export interface SeedOptions {
  readonly dataDir: string;
  readonly quota: number;
  readonly signalUrl: string;
  /** Peer ids allowed to push blocks; absent = anyone (within the quota). */
  readonly allow?: readonly string[];
  readonly log?: Logger;
  /** fsync each block (default true). */
  readonly durable?: boolean;
  /** Headers sent on the signaling upgrade (the embedded seed's internal token). */
  readonly signalHeaders?: Readonly<Record<string, string>>;
  /** Who the seed is; default the identity kept in `dataDir`. */
  readonly identity?: PeerIdentity;
  /** Where blocks are kept; default a file-system store in `dataDir` (tests give others). */
  readonly store?: BlockStore;
}

interface Upload {
  peer: string;
  ids: Set<BlockId>;
  lastActive: number;
}

/** The WebSocket constructor Node peers use (ws), as the signaling client wants it. */
export function nodeSocketFactory(url: string, headers?: Readonly<Record<string, string>>): WebSocketLike {
  return new WebSocket(url, { maxPayload: 1024 * 1024, headers: { ...headers } }) as unknown as WebSocketLike;
}

export class Seed {
  private readonly uploads = new Map<string, Upload>();
  private readonly files = new Set<BlockId>();
  private readonly sweep: ReturnType<typeof setInterval>;

  private constructor(
    readonly peerId: string,
    readonly store: BlockStore,
    readonly swarm: Swarm,
    private readonly options: SeedOptions,
    private readonly log: Logger,
  ) {
    this.sweep = setInterval(() => void this.dropIdleUploads(), 60_000);
    this.sweep.unref();
  }

  static async start(options: SeedOptions): Promise<Seed> {
    const log = options.log ?? createLogger({ fields: { component: 'seed' } });
    const identity = options.identity ?? (await loadNodeIdentity(options.dataDir));
    const peerId = identity.id;
    const store =
      options.store ??
      (await openFsBlockStore({
        dir: options.dataDir,
        quota: options.quota,
        durable: options.durable,
        onCorrupt: (id) => log.warn('dropped a block that no longer matches its id', { block: id }),
      }));
    let seed: Seed | undefined;
    const swarm = new Swarm({
      identity,
      signalUrl: options.signalUrl,
      createSocket: (url) => nodeSocketFactory(url, options.signalHeaders),
      wrtc: nodeWrtc,
      log,
      maxPeers: 256,
      host: {
        store,
        receiveStore: (peer, upload, id, bytes) => seed!.receiveStore(peer, upload, id, bytes),
        receiveCommit: (peer, upload, root) => seed!.receiveCommit(peer, upload, root),
      },
    });
    seed = new Seed(peerId, store, swarm, options, log);
    for (const name of await store.pins()) {
      if (name.startsWith(UPLOAD_PIN)) await store.unpin(name);
      else if (name.startsWith(FILE_PIN) && isBlockId(name.slice(FILE_PIN.length))) seed.files.add(name.slice(FILE_PIN.length));
    }
    swarm.on('session-closed', ({ peer, session }) => {
      if (session.stats.blocksServed > 0 || session.stats.blocksFetched > 0) {
        log.info('peer session ended', { peer, blocksServed: session.stats.blocksServed, bytesServed: session.stats.bytesServed });
      }
    });
    swarm.signaling.on('rejected', ({ code }) => {
      if (code !== 'not-a-seed') return;
      log.error('the signaling server does not list this seed, so nobody is offered it as a seed', {
        peer: peerId,
        fix: `start the signaling server with --seed ${peerId}`,
      });
    });
    swarm.on('replaced', () => {
      log.error('another process proved this seed\'s id to the signaling server; this one is off the network', { peer: peerId });
    });
    swarm.announce([SEEDS_TOPIC, ...seed.files]);
    swarm.start();
    const usage = await store.usage();
    log.info('seed ready', { peer: peerId, files: seed.files.size, blocks: usage.blocks, bytes: usage.bytes, quota: options.quota });
    return seed;
  }

  /** Roots of the files this seed holds whole. */
  heldFiles(): BlockId[] {
    return [...this.files];
  }

  private async receiveStore(peer: string, upload: Uint8Array, id: BlockId, bytes: Uint8Array): Promise<void> {
    if (this.options.allow && !this.options.allow.includes(peer)) {
      throw new StoreRefusedError(peer, 'not-allowed', 'this seed keeps blocks only for its allow list');
    }
    const key = toHex(upload);
    let entry = this.uploads.get(key);
    if (entry && entry.peer !== peer) throw new StoreRefusedError(peer, 'unknown-upload', 'that upload belongs to another peer');
    if (!entry) {
      entry = { peer, ids: new Set(), lastActive: Date.now() };
      this.uploads.set(key, entry);
      this.log.info('upload started', { peer, upload: key });
    }
    entry.lastActive = Date.now();
    // Pinned before it is written, so the quota counts it and eviction cannot take it meanwhile.
    await this.store.pin(UPLOAD_PIN + key, [id]);
    await this.store.put(id, bytes);
    entry.ids.add(id);
  }

  private async receiveCommit(peer: string, upload: Uint8Array, root: BlockId): Promise<void> {
    const key = toHex(upload);
    const entry = this.uploads.get(key);
    if (!entry || entry.peer !== peer) throw new StoreRefusedError(peer, 'unknown-upload', 'no such upload from this peer');
    if (!entry.ids.has(root)) throw new StoreRefusedError(peer, 'bad-block', 'the root block was never stored');
    await this.store.pin(FILE_PIN + root, entry.ids);
    await this.store.unpin(UPLOAD_PIN + key);
    this.uploads.delete(key);
    this.files.add(root);
    this.swarm.announce([root]);
    this.log.info('file stored', { peer, root, blocks: entry.ids.size });
  }

  private async dropIdleUploads(): Promise<void> {
    const now = Date.now();
    for (const [key, upload] of this.uploads) {
      if (now - upload.lastActive < UPLOAD_IDLE_TTL_MS) continue;
      this.uploads.delete(key);
      await this.store.unpin(UPLOAD_PIN + key).catch(() => {});
      this.log.info('abandoned upload released', { peer: upload.peer, upload: key, blocks: upload.ids.size });
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweep);
    this.swarm.close();
    await this.store.close();
  }
}
