// An add that does not finish (cancelled, the tab leaving, a failure) must leave no blocks behind:
// the store the upload writes to is wrapped so every block it puts is known, and discard() waits
// for puts still on their way, then deletes each one nothing pinned meanwhile.

import type { BlockId } from '../../src/content/format.js';
import type { BlockStore } from '../../src/store/block-store.js';

export interface TrackedStore {
  /** What the upload writes to. */
  readonly store: Pick<BlockStore, 'put' | 'get'>;
  /** Deletes every block put through `store` (once the puts still running have ended). */
  discard(): Promise<void>;
}

export function trackedStore(store: BlockStore): TrackedStore {
  const ids = new Set<BlockId>();
  const pending = new Set<Promise<unknown>>();
  return {
    store: {
      put(id, bytes) {
        ids.add(id);
        const put = store.put(id, bytes);
        pending.add(put);
        // Awaited by the upload itself; here only forgotten once it settles.
        put.then(
          () => pending.delete(put),
          () => pending.delete(put),
        );
        return put;
      },
      // Placement on fewer seeds than were reached pushes from here once the file is sealed.
      get: (id) => store.get(id),
    },
    async discard() {
      await Promise.allSettled([...pending]);
      for (const id of ids) if (!store.isPinned(id)) await store.delete(id);
      ids.clear();
    },
  };
}
