// Run as its own process by the bench runner: a 1 GiB generated file goes through the whole
// pipeline (seal → file-system store on disk → read back, verified and decrypted) while RSS is
// sampled. Prints one JSON line.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GiB } from './units.js';
import { generated } from './pipeline.js';
import { measureRss } from './rss.js';
import { openManifest, readFile } from '../../src/content/open.js';
import { sealFile } from '../../src/content/seal.js';
import { openFsBlockStore } from '../../src/store/fs.node.js';
import { BlockMissingError } from '../../src/errors.js';

const total = Number(process.argv[2] ?? GiB);
const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mycel-bench-mem-'));
try {
  const store = await openFsBlockStore({ dir, durable: false });
  const get = async (id: string) => {
    const bytes = await store.get(id);
    if (!bytes) throw new BlockMissingError(id);
    return bytes;
  };
  const sealing = await measureRss(() =>
    sealFile(generated(total), (block) => store.put(block.id, block.bytes), { name: 'big.bin' }),
  );
  const reading = await measureRss(async () => {
    const opened = await openManifest(sealing.result.root, sealing.result.key, get);
    let seen = 0;
    for await (const part of readFile(opened, get)) seen += part.length;
    if (seen !== total) throw new Error(`read ${seen} of ${total} bytes`);
  });
  await store.close();
  console.log(
    JSON.stringify({
      bytes: total,
      seal: { baselineMB: sealing.baselineMB, peakMB: sealing.peakMB },
      read: { baselineMB: reading.baselineMB, peakMB: reading.peakMB },
    }),
  );
} finally {
  await fs.rm(dir, { recursive: true, force: true });
}
