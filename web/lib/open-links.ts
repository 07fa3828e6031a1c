// Links opened in the tab that runs the peer for any tab's collection view: one open per root,
// shared by every call that needs it (listing, fetching an entry, fetching it all), and closed a
// while after the last of them let go, as BrowserPeer shares the files it opens. A link that turns
// out to be a single file is closed as soon as its caller is done: FileView opens files itself.

import type { BlockId } from '../../src/content/format.js';
import { parseLink } from '../../src/content/share-link.js';
import type { OpenedLink } from './collection-peer.js';

/** How long an opened collection stays open after its last user let go. */
export const OPEN_LINK_IDLE_MS = 60_000;

interface Shared {
  readonly opened: Promise<OpenedLink>;
  users: number;
  idle?: ReturnType<typeof setTimeout>;
}

export class OpenLinks {
  private readonly held = new Map<BlockId, Shared>();

  constructor(
    private readonly open: (text: string, root: BlockId) => Promise<OpenedLink>,
    private readonly idleMs = OPEN_LINK_IDLE_MS,
  ) {}

  /** How many roots are open now (tests). */
  get size(): number {
    return this.held.size;
  }

  /** Runs `action` on `text` opened (or reused if open), then lets go of it. */
  async use<T>(text: string, action: (opened: OpenedLink) => Promise<T>): Promise<T> {
    const root = parseLink(text).root;
    let shared = this.held.get(root);
    if (!shared) {
      const opened = this.open(text, root);
      const created: Shared = { opened, users: 0 };
      shared = created;
      this.held.set(root, created);
      opened.catch(() => {
        if (this.held.get(root) === created) this.held.delete(root);
      });
    }
    const entry = shared;
    clearTimeout(entry.idle);
    entry.users++;
    try {
      return await action(await entry.opened);
    } finally {
      if (--entry.users === 0) this.linger(root, entry);
    }
  }

  private linger(root: BlockId, entry: Shared): void {
    const close = () => {
      if (this.held.get(root) !== entry || entry.users > 0) return;
      this.held.delete(root);
      entry.opened
        .then((opened) => opened.remote.close())
        .catch(() => {
          // It never opened: nothing to close.
        });
    };
    entry.opened.then(
      (opened) => {
        if (opened.kind === 'file') close();
        else if (entry.users === 0) entry.idle = setTimeout(close, this.idleMs);
      },
      () => {
        // It never opened: the map no longer holds it.
      },
    );
  }

  /** Closes `root` now, whoever uses it (their fetches fail), and forgets it. */
  async drop(root: BlockId): Promise<void> {
    const entry = this.held.get(root);
    if (!entry) return;
    this.held.delete(root);
    clearTimeout(entry.idle);
    await entry.opened.then(
      (opened) => opened.remote.close(),
      () => {
        // It never opened: nothing to close.
      },
    );
  }

  closeAll(): void {
    for (const entry of this.held.values()) {
      clearTimeout(entry.idle);
      entry.opened
        .then((opened) => opened.remote.close())
        .catch(() => {
          // It never opened: nothing to close.
        });
    }
    this.held.clear();
  }
}
