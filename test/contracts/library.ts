// What every Library promises, run against the in-memory one (Node) and IndexedDB (Chromium).
import { describe, expect, it } from 'vitest';
import type { Library, LibraryEntry } from '../../src/store/library.js';

export const libraryEntry = (root: string, addedAt: number): LibraryEntry => ({
  root,
  link: `https://x/#${root}`,
  name: `file-${addedAt}.txt`,
  size: addedAt,
  mediaType: 'text/plain',
  source: 'added',
  addedAt,
  pinned: false,
  complete: true,
});

export function libraryContract(
  name: string,
  open: () => Promise<{ library: Library; reopen?: () => Promise<Library> }>,
): void {
  describe(`${name} library`, () => {
    it('lists files newest first, updates and removes them', async () => {
      const { library, reopen } = await open();
      await library.put(libraryEntry('a'.repeat(64), 1));
      await library.put(libraryEntry('b'.repeat(64), 2));
      expect((await library.update('a'.repeat(64), { pinned: true, copies: 2 }))?.pinned).toBe(true);
      expect(await library.update('c'.repeat(64), { pinned: true })).toBeUndefined();
      const again = reopen ? await reopen() : library;
      const list = await again.list();
      expect(list.map((e) => e.addedAt)).toEqual([2, 1]);
      expect(list[1]).toMatchObject({ pinned: true, copies: 2, root: 'a'.repeat(64) });
      expect(await again.get('b'.repeat(64))).toMatchObject({ name: 'file-2.txt' });
      expect(await again.remove('b'.repeat(64))).toBe(true);
      expect(await again.remove('b'.repeat(64))).toBe(false);
      expect((await again.list()).length).toBe(1);
    });

    it('keeps an entry it was given from later changes by the caller', async () => {
      const { library } = await open();
      const entry = { ...libraryEntry('d'.repeat(64), 5) };
      await library.put(entry);
      (entry as { name: string }).name = 'changed';
      expect((await library.get('d'.repeat(64)))?.name).toBe('file-5.txt');
    });
  });
}
