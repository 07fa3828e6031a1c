// The wipe canary: tells at start-up that the browser cleared this origin's IndexedDB (storage
// pressure, a person clearing "site data" for IndexedDB only, a browser's cleanup of
// non-persisted storage) while localStorage survived. A random value is written once to both; at
// start, localStorage holding a value IndexedDB lacks (or holds a different one) means IndexedDB
// was wiped since the last visit. localStorage also keeps (bounded) this browser's peer id and
// the roots it held whole — ciphertext ids only, never a name or key — so after a wipe the page
// knows its former id and what it lost, and can tell the seeds at once (repair need not wait for
// the grace period).
//
// What this cannot detect: both stores wiped together (a person clearing all site data, most
// browsers' eviction of a whole origin). Then nothing is left to compare, the browser starts as a
// new peer, and the network notices only by the old id's absence: its copies stop counting when
// the grace period ends. Nor can it tell an eviction of some blocks from a wipe: those the block
// store's own bookkeeping finds (browser-peer.ts rechecks what it holds whole).

import { toHex } from '../../src/content/bytes.js';
import { randomBytes } from '../../src/content/crypto.js';
import { isBlockId, type BlockId } from '../../src/content/format.js';
import type { MycelDB } from '../../src/store/idb.browser.js';

const CANARY_PREFIX = 'mycel:canary:';
/** Roots remembered as held whole: as many as a few Lost frames carry. Newest first beyond it are dropped. */
export const MAX_REMEMBERED_ROOTS = 1024;
/** A wipe not reported within this long is forgotten: by then the grace period has done its work. */
export const MAX_WIPE_REPORT_AGE_MS = 7 * 24 * 60 * 60 * 1000;
const CANARY_BYTES = 16;

/** What a wipe took from this browser: the id it had and the files it held whole. */
export interface Wipe {
  readonly formerId: string;
  readonly roots: BlockId[];
  /** When the wipe was noticed (ms since the epoch). */
  readonly noticedAt: number;
}

interface CanaryRecord {
  readonly canary: string;
  readonly peer?: string;
  readonly held: BlockId[];
  /** A wipe noticed and not yet reported to every seed that held one of its roots. */
  readonly wipe?: Wipe;
}

type KeyValue = Pick<Storage, 'getItem' | 'setItem'>;

function keyFor(dbName: string): string {
  return CANARY_PREFIX + dbName;
}

function readRecord(storage: KeyValue, dbName: string): CanaryRecord | undefined {
  try {
    const raw = storage.getItem(keyFor(dbName));
    if (!raw) return undefined;
    const parsed = JSON.parse(raw) as Partial<CanaryRecord>;
    if (typeof parsed.canary !== 'string') return undefined;
    const roots = (list: unknown) =>
      (Array.isArray(list) ? list : []).filter((r): r is BlockId => isBlockId(r)).slice(0, MAX_REMEMBERED_ROOTS);
    const w = parsed.wipe;
    const wipe =
      w && typeof w.formerId === 'string' && typeof w.noticedAt === 'number'
        ? { formerId: w.formerId, roots: roots(w.roots), noticedAt: w.noticedAt }
        : undefined;
    return {
      canary: parsed.canary,
      peer: typeof parsed.peer === 'string' ? parsed.peer : undefined,
      held: roots(parsed.held),
      wipe,
    };
  } catch {
    return undefined;
  }
}

function writeRecord(storage: KeyValue, dbName: string, record: CanaryRecord): void {
  try {
    storage.setItem(keyFor(dbName), JSON.stringify(record));
  } catch {
    // localStorage full or blocked: the next start cannot tell a wipe, and the grace period covers it.
  }
}

/**
 * Compares the canary in IndexedDB with the one in localStorage, writing it where missing, and
 * returns the wipe waiting to be reported (noticed now or on an earlier start), if any. Call before
 * anything else writes to the database (the peer key is made again after a wipe).
 */
export async function checkCanary(
  db: MycelDB,
  storage: KeyValue,
  dbName: string,
  now = Date.now(),
): Promise<Wipe | undefined> {
  let stored = await db.get('meta', 'canary');
  const record = readRecord(storage, dbName);
  let wipe = record?.wipe;
  if (record && record.canary !== stored && record.peer) {
    // IndexedDB lost (or replaced) the value localStorage still has: it was wiped.
    const roots = [...new Set([...(wipe?.roots ?? []), ...record.held])].slice(0, MAX_REMEMBERED_ROOTS);
    wipe = { formerId: record.peer, roots, noticedAt: now };
  }
  if (wipe && now - wipe.noticedAt > MAX_WIPE_REPORT_AGE_MS) wipe = undefined;
  if (typeof stored !== 'string') {
    stored = toHex(randomBytes(CANARY_BYTES));
    await db.put('meta', stored, 'canary');
  }
  const fresh = record?.canary !== stored;
  writeRecord(storage, dbName, {
    canary: stored,
    // After a wipe the old id and holdings are the wipe's; this run's are remembered as it goes.
    peer: fresh ? undefined : record?.peer,
    held: fresh ? [] : (record?.held ?? []),
    wipe,
  });
  return wipe;
}

/** Remembers this run's peer id and the roots it holds whole (the newest MAX_REMEMBERED_ROOTS). */
export function rememberHoldings(storage: KeyValue, dbName: string, peer: string, held: readonly BlockId[]): void {
  const record = readRecord(storage, dbName);
  if (!record) return;
  writeRecord(storage, dbName, { ...record, peer, held: held.slice(0, MAX_REMEMBERED_ROOTS) });
}

/** Records what of the wipe is still to report (nothing left: the wipe is forgotten). */
export function rememberUnreported(storage: KeyValue, dbName: string, roots: readonly BlockId[]): void {
  const record = readRecord(storage, dbName);
  if (!record?.wipe) return;
  const wipe = roots.length > 0 ? { ...record.wipe, roots: [...roots] } : undefined;
  writeRecord(storage, dbName, { ...record, wipe });
}
