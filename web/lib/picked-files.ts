// What a person picked or dropped, as files with their paths: a folder pick (webkitdirectory) gives
// each file's webkitRelativePath; a drop of folders is walked through the entries API. The paths
// are checked later, by the collection's path rules, like any other sender's.

import type { PickedFile } from './collection-peer.js';

/** Files from an <input type=file>, with the folder path a folder pick gives them. */
export function pickedFromInput(files: FileList): PickedFile[] {
  return [...files].map((file) => ({ file, path: file.webkitRelativePath || file.name }));
}

function readAll(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  // readEntries answers in batches (100 in Chromium) until it answers with none.
  return new Promise((resolve, reject) => {
    const all: FileSystemEntry[] = [];
    const next = () =>
      reader.readEntries((batch) => {
        if (batch.length === 0) resolve(all);
        else {
          all.push(...batch);
          next();
        }
      }, reject);
    next();
  });
}

async function walk(entry: FileSystemEntry, out: PickedFile[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push({ file, path: entry.fullPath.replace(/^\/+/, '') || file.name });
  } else if (entry.isDirectory) {
    for (const child of await readAll((entry as FileSystemDirectoryEntry).createReader())) await walk(child, out);
  }
}

/** Files from a drop: folders walked to their files; without the entries API, the files alone. */
export async function pickedFromDrop(data: DataTransfer): Promise<PickedFile[]> {
  // The entries must be taken before the first await: the drop's data is gone after it.
  const entries = [...data.items].map((item) => item.webkitGetAsEntry?.() ?? null);
  if (entries.some((e) => e === null)) return [...data.files].map((file) => ({ file, path: file.name }));
  const out: PickedFile[] = [];
  for (const entry of entries) await walk(entry!, out);
  return out;
}
