// Isomorphic: runs in Node and in Chromium (see vite.config.ts).
//
// The property format 2 exists for (issue 7, item 5): across every block of a file, no AES-GCM
// (key, nonce) pair is used twice, and nothing sealed is also known to a holder without the key.
// Format 1 broke both for files with index blocks: the root and index block 0 were sealed under one
// key with nonce 0, and index block 0's plaintext was the public list of data ids.
//
// Many files of random sizes and chunk sizes are sealed through a crypto backend that records every
// seal (raw key, nonce, plaintext), on the default layout and on small id layouts that reach index
// blocks with a few chunks. Each file is read back, so every recorded seal is of a real file.
import { describe, expect, it } from 'vitest';
import { listFileBlockIds } from '../../src/content/block-list.js';
import { toHex } from '../../src/content/bytes.js';
import { webCrypto, type CryptoBackend } from '../../src/content/crypto.js';
import { DEFAULT_ID_LAYOUT, type IdLayout } from '../../src/content/manifest.js';
import { openManifest, readFile } from '../../src/content/open.js';
import { collectIds, recordingGetter, sealToMap } from '../helpers/blocks.js';
import { collect, pseudoRandomBytes, sameBytes } from '../helpers/data.js';

interface Seal {
  readonly key: string;
  readonly nonce: string;
  readonly plain: Uint8Array;
}

/** A backend that seals like `inner` and records each seal. */
function recordingBackend(inner: CryptoBackend) {
  const seals: Seal[] = [];
  const backend: CryptoBackend = {
    name: inner.name,
    sha256: (data) => inner.sha256(data),
    async importKey(raw) {
      const key = toHex(raw); // taken now: the caller wipes `raw` once imported
      const imported = await inner.importKey(raw);
      return {
        open: (nonce, aad, sealed) => imported.open(nonce, aad, sealed),
        seal(nonce, aad, plaintext) {
          seals.push({ key, nonce: toHex(nonce), plain: plaintext.slice() });
          return imported.seal(nonce, aad, plaintext);
        },
      };
    },
  };
  return { backend, seals };
}

/** True when any 32 consecutive bytes of `plain`, at any offset, are one of `ids`. */
function containsAnyId(plain: Uint8Array, ids: Set<string>, prefixes: Set<number>): boolean {
  const view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
  for (let o = 0; o + 32 <= plain.length; o++) {
    if (prefixes.has(view.getUint32(o)) && ids.has(toHex(plain.subarray(o, o + 32)))) return true;
  }
  return false;
}

/** Deterministic choices, so a failure names a case that can be run again. */
function lcg(seed: number) {
  let x = seed >>> 0;
  return (below: number) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x % below;
  };
}

async function checkFile(bytes: Uint8Array, chunkSize: number, idLayout: IdLayout) {
  const { backend, seals } = recordingBackend(webCrypto()!);
  const { file, blocks } = await sealToMap(bytes, { chunkSize, idLayout, backend });
  const where = `${bytes.length} bytes, ${chunkSize}-byte chunks, layout ${JSON.stringify(idLayout)}`;

  const pairs = seals.map((s) => `${s.key}/${s.nonce}`);
  expect(new Set(pairs).size, `a (key, nonce) pair repeats: ${where}`).toBe(pairs.length);
  // Stronger: the kind byte keeps nonces apart even across the two keys.
  expect(new Set(seals.map((s) => s.nonce)).size, where).toBe(seals.length);
  // One key per kind of sealed object, and each key's nonces all carry that kind.
  const kindsByKey = new Map<string, Set<string>>();
  for (const s of seals) kindsByKey.set(s.key, (kindsByKey.get(s.key) ?? new Set()).add(s.nonce.slice(0, 2)));
  expect([...kindsByKey.values()].map((kinds) => [...kinds]).sort(), where).toEqual([['01'], ['02']]);

  // What a holder without the key can list (every block id) appears in nothing sealed.
  const known = new Set(await collectIds(listFileBlockIds(file.root, recordingGetter(blocks).get, { idLayout })));
  expect(known, where).toEqual(new Set(file.allIds()));
  const prefixes = new Set([...known].map((id) => parseInt(id.slice(0, 8), 16)));
  const leaks = seals.filter((s) => containsAnyId(s.plain, known, prefixes));
  expect(leaks.length, `a sealed plaintext holds a public id: ${where}`).toBe(0);

  const opened = await openManifest(file.root, file.key, recordingGetter(blocks).get, { idLayout });
  expect(sameBytes(await collect(readFile(opened, recordingGetter(blocks).get)), bytes), where).toBe(true);
  // Only the data chunks and the metadata are sealed: index blocks and the root's refs are public.
  expect(seals.length, where).toBe(opened.manifest.blockCount + 1);
  return { opened, file };
}

const LAYOUTS: IdLayout[] = [
  DEFAULT_ID_LAYOUT,
  { maxInlineIds: 1, idsPerIndexBlock: 1 },
  { maxInlineIds: 4, idsPerIndexBlock: 3 },
  { maxInlineIds: 16, idsPerIndexBlock: 7 },
];
const FILES_PER_LAYOUT = 12;

describe('no (key, nonce) pair repeats across the blocks of a file', () => {
  for (const idLayout of LAYOUTS) {
    it(`over ${FILES_PER_LAYOUT} random files with ${idLayout.maxInlineIds} inline ids, ${idLayout.idsPerIndexBlock} per index block`, async () => {
      const pick = lcg(idLayout.maxInlineIds * 31 + idLayout.idsPerIndexBlock);
      const small = idLayout !== DEFAULT_ID_LAYOUT;
      const { maxInlineIds, idsPerIndexBlock } = idLayout;
      // On a small layout: the last inline count, the first indexed one, a full last index block.
      const edges = small
        ? [maxInlineIds, maxInlineIds + 1, idsPerIndexBlock * Math.ceil((maxInlineIds + 1) / idsPerIndexBlock)]
        : [];
      let indexed = 0;
      for (let n = 0; n < FILES_PER_LAYOUT; n++) {
        const chunkSize = 1024 + pick(2049);
        const chunks = edges[n - 1] ?? 1 + pick(small ? 3 * (maxInlineIds + idsPerIndexBlock) : 40);
        // Sizes that end inside, at the end of, and just past a chunk, and empty files.
        const size = n === 0 ? 0 : Math.max(0, (chunks - 1) * chunkSize + [1, chunkSize, pick(chunkSize)][n % 3]!);
        const { opened } = await checkFile(pseudoRandomBytes(size, 1000 + n), chunkSize, idLayout);
        if (opened.layout === 'indexed') indexed++;
      }
      // The small layouts must really reach index blocks, or the property says nothing about them.
      if (small) expect(indexed).toBeGreaterThan(FILES_PER_LAYOUT / 2);
    });
  }

  it('on the default layout, for a file with two index blocks (where format 1 reused nonce 0)', async () => {
    const chunkSize = 1024;
    const chunks = DEFAULT_ID_LAYOUT.idsPerIndexBlock + 5;
    const { opened } = await checkFile(pseudoRandomBytes(chunks * chunkSize - 100, 4), chunkSize, DEFAULT_ID_LAYOUT);
    expect(opened.indexIds.length).toBe(2);
  }, 60_000);
});
