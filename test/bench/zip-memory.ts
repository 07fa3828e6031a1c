// Run as its own process, once per mode (`node --expose-gc --import tsx test/bench/zip-memory.ts
// <alone|collection> [MiB]`, or by the bench runner): how much memory "download all" takes, as a
// peak RSS beside the RSS before the zip starts.
//   alone:      client-zip fed a generator of generated entries, into a sink that only counts;
//   collection: the real path: a collection of that size sealed into the file-system store on
//               disk, then opened, listed and zipped (each file read, verified and decrypted from
//               disk) into that sink.
// Both should stay flat whatever the size: a few chunks in flight plus the central directory.
// Prints one JSON line.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeZip } from 'client-zip';
import { openCollection } from '../../src/content/collection-open.js';
import { sealCollection, type CollectionEntryInput } from '../../src/content/collection-seal.js';
import { sealFile } from '../../src/content/seal.js';
import { zipCollection } from '../../src/content/zip.js';
import { openFsBlockStore } from '../../src/store/fs.node.js';
import { BlockMissingError } from '../../src/errors.js';
import { generated } from './pipeline.js';
import { measureRss } from './rss.js';
import { MiB } from './units.js';

const mode = process.argv[2] === 'collection' ? 'collection' : 'alone';
const total = Number(process.argv[3] ?? 200) * MiB;
const FILES = 50;
const perFile = Math.floor(total / FILES);

async function counted(stream: ReadableStream<Uint8Array>): Promise<number> {
  let bytes = 0;
  await stream.pipeTo(new WritableStream({ write: (chunk) => void (bytes += chunk.length) }));
  return bytes;
}

async function zipAlone() {
  function* entries() {
    for (let i = 0; i < FILES; i++) {
      yield {
        name: `folder ${i % 5}/file ${i}.bin`,
        size: perFile,
        input: generated(perFile),
        lastModified: new Date(),
      };
    }
  }
  return measureRss(() => counted(makeZip(entries())));
}

async function zipSealed() {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mycel-bench-zip-'));
  try {
    const store = await openFsBlockStore({ dir, durable: false });
    const get = async (id: string) => {
      const bytes = await store.get(id);
      if (!bytes) throw new BlockMissingError(id);
      return bytes;
    };
    const inputs: CollectionEntryInput[] = [];
    for (let i = 0; i < FILES; i++) {
      const file = await sealFile(generated(perFile), (b) => store.put(b.id, b.bytes), { name: `file ${i}.bin` });
      inputs.push({ path: `folder ${i % 5}/file ${i}.bin`, root: file.root, key: file.key });
    }
    const collection = await sealCollection(inputs, (b) => store.put(b.id, b.bytes), { getBlock: get });
    const zipped = await measureRss(async () => {
      const opened = await openCollection(collection.root, collection.key, get);
      return counted(zipCollection(opened, get));
    });
    await store.close();
    return zipped;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

const report = mode === 'alone' ? await zipAlone() : await zipSealed();
console.log(
  JSON.stringify({
    mode,
    bytes: FILES * perFile,
    files: FILES,
    zipBytes: report.result,
    baselineMB: report.baselineMB,
    peakMB: report.peakMB,
  }),
);
