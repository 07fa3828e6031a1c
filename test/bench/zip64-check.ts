// A check, not a figure (too slow for the test suites: about a minute of CRC-32 a run): that the
// zips client-zip streams stay valid past 4 GiB. `node --import tsx test/bench/zip64-check.ts
// [MiB per entry…]` (default: one entry of 4,200 MiB, then two of 2,200 MiB, whose central
// directory starts past 4 GiB) streams generated zeros through makeZip into a sparse file (runs of
// the zero buffer are skipped, not written), then has Debian's unzip and Python's zipfile test
// it. Exits non-zero if either reader finds a fault. Needs about 5 GiB of sparse-file room in the
// system temp folder, and little real disk.
import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeZip } from 'client-zip';
import { MiB } from './units.js';

const zero = new Uint8Array(MiB);

async function* zeros(size: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < size; offset += MiB) yield zero.subarray(0, Math.min(MiB, size - offset));
}

async function writeSparse(file: string, sizes: number[]): Promise<number> {
  const items = sizes.map((size, i) => ({ name: `big-${i}.bin`, size, input: zeros(size), lastModified: new Date() }));
  const fd = openSync(file, 'w');
  let position = 0;
  try {
    const reader = makeZip(items).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (value.buffer !== zero.buffer) writeSync(fd, value, 0, value.length, position);
      position += value.length;
    }
    ftruncateSync(fd, position);
  } finally {
    closeSync(fd);
  }
  return position;
}

const READ = `
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
bad = z.testzip()
print("python zipfile:", "ok" if bad is None else "bad entry " + bad, [(i.filename, i.file_size, i.header_offset) for i in z.infolist()])
sys.exit(0 if bad is None else 1)
`;

const runs = process.argv.length > 2 ? [process.argv.slice(2).map(Number)] : [[4200], [2200, 2200]];
const dir = mkdtempSync(path.join(os.tmpdir(), 'mycel-zip64-'));
try {
  for (const mebibytes of runs) {
    const file = path.join(dir, 'big.zip');
    const started = performance.now();
    const bytes = await writeSparse(
      file,
      mebibytes.map((m) => m * MiB),
    );
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `${mebibytes.join(' + ')} MiB: zip of ${bytes} bytes in ${seconds.toFixed(1)} s (${(bytes / 1e6 / seconds).toFixed(0)} MB/s through client-zip)`,
    );
    console.log(execFileSync('unzip', ['-t', file], { encoding: 'utf8' }).trim().split('\n').at(-1));
    console.log(execFileSync('python3', ['-c', READ, file], { encoding: 'utf8' }).trim());
    rmSync(file);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
