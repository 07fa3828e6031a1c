// The Library: the files this device added or opened, with their links (the keys stay on this
// device), sizes, pin state and how many live copies the network had when last asked.

import type { BlockId } from '../content/format.js';

export interface LibraryEntry {
  readonly root: BlockId;
  /** The full share link, key included. */
  readonly link: string;
  readonly name: string;
  readonly size: number;
  readonly mediaType: string;
  /** How this device came to know the file. */
  readonly source: 'added' | 'opened';
  readonly addedAt: number;
  readonly pinned: boolean;
  /** Whether every block of the file is held on this device. */
  readonly complete: boolean;
  /** Live copies (holders) last seen on the network, this device excluded; undefined if unknown. */
  readonly copies?: number;
  /** What the link names: several files under one link, or (absent) one file. */
  readonly kind?: 'file' | 'collection';
  /** The copies and expiry asked for when this device added it (sent with its commits). */
  readonly terms?: { readonly copies?: number; readonly expiresAt?: number };
}

export interface Library {
  /** Newest first. */
  list(): Promise<LibraryEntry[]>;
  get(root: BlockId): Promise<LibraryEntry | undefined>;
  put(entry: LibraryEntry): Promise<void>;
  /** Changes some fields of an entry; returns the new entry, or undefined if there is none. */
  update(root: BlockId, patch: Partial<Omit<LibraryEntry, 'root'>>): Promise<LibraryEntry | undefined>;
  remove(root: BlockId): Promise<boolean>;
}

export function sortNewestFirst(entries: LibraryEntry[]): LibraryEntry[] {
  return entries.sort((a, b) => b.addedAt - a.addedAt || a.name.localeCompare(b.name));
}

export class MemoryLibrary implements Library {
  private readonly entries = new Map<BlockId, LibraryEntry>();
  async list() {
    return sortNewestFirst([...this.entries.values()]);
  }
  async get(root: BlockId) {
    return this.entries.get(root);
  }
  async put(entry: LibraryEntry) {
    this.entries.set(entry.root, { ...entry });
  }
  async update(root: BlockId, patch: Partial<Omit<LibraryEntry, 'root'>>) {
    const entry = this.entries.get(root);
    if (!entry) return undefined;
    const next = { ...entry, ...patch, root };
    this.entries.set(root, next);
    return next;
  }
  async remove(root: BlockId) {
    return this.entries.delete(root);
  }
}
