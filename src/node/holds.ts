// Who a seed keeps each file for, until when, and what that costs each peer: the policy behind an
// open seed that cannot be squatted. Pure bookkeeping with an injected clock; the seed does the I/O.
//
// Dev docs. `holds` maps a root to its size and owners. A peer's use (`peerBytes`) is the bytes of
// every file it owns (each owner is charged the whole file) plus its uploads in progress
// (`reserve`). `openBytes` is what peers not on the allow list hold together: files with an owner
// whose hold expires (and not kept by the operator), plus their uploads in progress. Only those
// peers are limited: `peerQuota` each and `openBudget` together. A file is charged at least
// MIN_FILE_CHARGE, so a quota bounds how many records a peer can make. An owner's hold expires
// `ttlMs` after it last renewed; a file with no owner left (and not kept) is dropped by `expire`.

import type { BlockId } from '../content/format.js';
import { MAX_OWNERS_PER_FILE, MIN_FILE_CHARGE } from '../net/limits.js';
import type { FileOwner, HeldFile } from './held-files.js';
import { formatSize } from '../sizes.js';

export interface HoldPolicy {
  /** Most bytes one limited peer may use (files it owns and uploads in progress). */
  readonly peerQuota: number;
  /** Most bytes all limited peers may use together. */
  readonly openBudget: number;
  /** How long an expiring hold lasts after its last renewal. */
  readonly ttlMs: number;
}

interface Hold {
  readonly root: BlockId;
  readonly bytes: number;
  readonly kept: boolean;
  readonly owners: Map<string, FileOwner>;
  readonly copies?: number;
}

/** What holding a file or taking a block more would add: to the peer's use and to the open use. */
export interface Cost {
  readonly peer: number;
  readonly open: number;
}

export class Holds {
  private readonly holds = new Map<BlockId, Hold>();
  private readonly peerBytes = new Map<string, number>();
  private openBytes = 0;

  constructor(
    readonly policy: HoldPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  /** Bytes `peer` uses now: files it owns, uploads in progress. */
  usedBy(peer: string): number {
    return this.peerBytes.get(peer) ?? 0;
  }

  /** Bytes limited peers use together. */
  get openUsed(): number {
    return this.openBytes;
  }

  get size(): number {
    return this.holds.size;
  }

  roots(): IterableIterator<BlockId> {
    return this.holds.keys();
  }

  has(root: BlockId): boolean {
    return this.holds.has(root);
  }

  get(root: BlockId): HeldFile | undefined {
    const hold = this.holds.get(root);
    return hold && snapshot(hold);
  }

  /** When `owner`'s hold ends (Infinity if it does not expire). */
  expiresAt(owner: FileOwner): number {
    return owner.expires ? owner.renewedAt + this.policy.ttlMs : Infinity;
  }

  /** Puts a loaded or rolled-back record in place (replacing any for its root), or removes it. */
  set(root: BlockId, file: HeldFile | undefined): void {
    const before = this.holds.get(root);
    if (before) this.account(before, -1);
    this.holds.delete(root);
    if (!file) return;
    const hold: Hold = {
      root,
      bytes: file.bytes,
      kept: file.kept,
      owners: new Map(file.owners.map((o) => [o.peer, o])),
      copies: file.copies,
    };
    this.holds.set(root, hold);
    this.account(hold, 1);
  }

  /** Counts bytes of an upload in progress against `peer` (and the open use if `open`). */
  reserve(peer: string, bytes: number, open: boolean): void {
    this.addPeer(peer, bytes);
    if (open) this.openBytes += bytes;
  }

  unreserve(peer: string, bytes: number, open: boolean): void {
    this.reserve(peer, -bytes, open);
  }

  /** What holding `root` (`bytes` if not held yet) for `peer` would add. */
  costOfHold(peer: string, root: BlockId, bytes: number, expires: boolean): Cost {
    const hold = this.holds.get(root);
    const size = charge(hold?.bytes ?? bytes);
    return {
      peer: hold?.owners.has(peer) ? 0 : size,
      open: expires && !(hold && countsOpen(hold)) ? size : 0,
    };
  }

  /**
   * Why a limited peer may not take `cost` more, naming the limit it would pass; undefined if it may.
   */
  refusal(peer: string, cost: Cost): string | undefined {
    const used = this.usedBy(peer);
    if (cost.peer > 0 && used + cost.peer > this.policy.peerQuota) {
      return (
        `this seed keeps at most ${formatSize(this.policy.peerQuota)} for each peer not on its allow list, ` +
        `and ${formatSize(used)} are held for this one`
      );
    }
    if (cost.open > 0 && this.openBytes + cost.open > this.policy.openBudget) {
      return (
        `peers not on this seed's allow list may keep ${formatSize(this.policy.openBudget)} on it together, ` +
        `and ${formatSize(this.openBytes)} are in use`
      );
    }
    return undefined;
  }

  /** Whether `peer` could become one more owner of `root` (owners per file are capped). */
  hasRoomForOwner(peer: string, root: BlockId): boolean {
    const hold = this.holds.get(root);
    return !hold || hold.owners.has(peer) || hold.owners.size < MAX_OWNERS_PER_FILE;
  }

  /**
   * Holds `root` for `peer` from now (a commit, or a renewal), creating the record with `bytes` if
   * the file was not held. `copies`, when given, is the file's target from now on (the latest
   * owner's word). Returns the record to persist.
   */
  hold(root: BlockId, bytes: number, peer: string, expires: boolean, copies?: number): HeldFile {
    const before = this.holds.get(root);
    const owners = new Map(before?.owners);
    // A peer once on the allow list keeps its lasting hold even if it renews as a stranger.
    const lasting = owners.get(peer)?.expires === false;
    owners.set(peer, { peer, renewedAt: this.now(), expires: expires && !lasting });
    const file: HeldFile = {
      root,
      bytes: before?.bytes ?? bytes,
      kept: before?.kept ?? false,
      owners: [...owners.values()],
      ...withCopies(copies ?? before?.copies),
    };
    this.set(root, file);
    return file;
  }

  /** A file kept whatever its owners do (one stored before owners were recorded). */
  keep(root: BlockId, bytes: number): HeldFile {
    const file: HeldFile = { root, bytes, kept: true, owners: [] };
    this.set(root, file);
    return file;
  }

  /**
   * Ends every hold past its expiry. Returns the records that changed but stay, and those dropped
   * (no owner left and not kept): their files are no longer kept.
   */
  expire(): { changed: HeldFile[]; dropped: HeldFile[] } {
    const now = this.now();
    const changed: HeldFile[] = [];
    const dropped: HeldFile[] = [];
    for (const hold of [...this.holds.values()]) {
      const live = [...hold.owners.values()].filter((o) => this.expiresAt(o) > now);
      if (live.length === hold.owners.size) continue;
      const file: HeldFile = {
        root: hold.root,
        bytes: hold.bytes,
        kept: hold.kept,
        owners: live,
        ...withCopies(hold.copies),
      };
      if (live.length === 0 && !hold.kept) {
        dropped.push(snapshot(hold));
        this.set(hold.root, undefined);
      } else {
        changed.push(file);
        this.set(hold.root, file);
      }
    }
    return { changed, dropped };
  }

  private account(hold: Hold, sign: 1 | -1): void {
    const bytes = charge(hold.bytes);
    for (const owner of hold.owners.keys()) this.addPeer(owner, sign * bytes);
    if (countsOpen(hold)) this.openBytes += sign * bytes;
  }

  private addPeer(peer: string, bytes: number): void {
    const total = (this.peerBytes.get(peer) ?? 0) + bytes;
    if (total > 0) this.peerBytes.set(peer, total);
    else this.peerBytes.delete(peer);
  }
}

/** What a file of `bytes` counts for. */
function charge(bytes: number): number {
  return Math.max(bytes, MIN_FILE_CHARGE);
}

/** A file limited peers hold: one of its owners' holds expires, and the operator does not keep it. */
function countsOpen(hold: Hold): boolean {
  if (hold.kept) return false;
  for (const owner of hold.owners.values()) if (owner.expires) return true;
  return false;
}

function snapshot(hold: Hold): HeldFile {
  return {
    root: hold.root,
    bytes: hold.bytes,
    kept: hold.kept,
    owners: [...hold.owners.values()],
    ...withCopies(hold.copies),
  };
}

/** The `copies` field of a record: left out when the owner did not say. */
function withCopies(copies: number | undefined): { copies?: number } {
  return copies === undefined ? {} : { copies };
}
