// A peer in this process that puts and gets files the way the page does (uploadFile, openRemoteFile)
// over real data channels, with its own identity: one Swarm across several puts, so a test can see
// whether it stopped trusting a seed (a ban) between them.
import { ephemeralIdentity, type PeerIdentity } from '../../src/net/identity.js';
import { Swarm } from '../../src/net/swarm.js';
import { connectSeeds, openRemoteFile, uploadFile, type UploadResult } from '../../src/net/transfer.js';
import { nodeSocketFactory } from '../../src/node/seed.js';
import { nodeWrtc } from '../../src/node/wrtc.js';
import { createMemoryBlockStore } from '../../src/store/memory.js';
import { collect } from './data.js';

export interface Uploader {
  readonly swarm: Swarm;
  put(bytes: Uint8Array, options?: { name?: string; fileKey?: Uint8Array }): Promise<UploadResult>;
  /** The file's plaintext, fetched from whoever holds it into a fresh memory store. */
  get(root: string, key: Uint8Array): Promise<Uint8Array>;
  close(): void;
}

export async function startUploader(
  signalUrl: string,
  identity: PeerIdentity = ephemeralIdentity(),
): Promise<Uploader> {
  const swarm = new Swarm({
    identity,
    signalUrl,
    createSocket: nodeSocketFactory,
    wrtc: nodeWrtc,
    host: { store: createMemoryBlockStore() },
  });
  swarm.start();
  await swarm.signaling.ready();
  return {
    swarm,
    async put(bytes, options = {}) {
      const seeds = await connectSeeds(swarm, { timeoutMs: 15_000 });
      return uploadFile([bytes], { name: options.name ?? 'file.bin', fileKey: options.fileKey, seeds });
    },
    async get(root, key) {
      const remote = await openRemoteFile(root, key, {
        swarm,
        store: createMemoryBlockStore(),
        noHolderTimeoutMs: 15_000,
      });
      try {
        return await collect(remote.read());
      } finally {
        remote.close();
      }
    },
    close: () => swarm.close(),
  };
}
