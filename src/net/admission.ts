// Which connection attempts offered to us we take on: the in-progress table of the swarm.
//
// Dev docs. An offer costs us an RTCPeerConnection (~1.7 ms of CPU and ~150 KiB to build, measured
// on node-datachannel) until its channel opens and the peer proves its id, or a deadline passes.
// Whoever sends offers that never complete ICE ("dead offers") would, with one shared cap, fill
// every slot and starve honest peers. So attempts are counted by origin (the signaling server's
// opaque tag for the sender's address, see signaling/server.ts), apart from sessions:
//   - per origin, at most `maxPerOrigin` slots; past it the origin's new offers are refused, so an
//     address can only crowd out itself. An attempt holds its origin's slot until it is proven, or
//     ends; but one that ends before ICE connected (abandoned by its sender, dropped for room)
//     holds the slot until its ICE deadline all the same (`pending`), so offering and abandoning at
//     once gains an origin nothing: at most `maxPerOrigin` connections built per `holdMs`.
//   - in all, at most `maxTotal` attempts. A full table makes room for the newcomer by dropping the
//     oldest attempt whose channel has not opened, taken from the origin holding the most slots;
//     only when every attempt's channel is open (a peer that completes the handshake and then
//     never proves its id, until AUTH_TIMEOUT_MS) does the oldest of the heaviest origin go.
// Why evict rather than refuse when full: refusing lets anyone who can keep the table full (dead
// offers from enough origins, renewed as they expire) refuse every honest peer. Evicting the
// oldest not-yet-open attempt of the heaviest origin means an honest attempt, which opens its
// channel and proves its id within about a second, is dropped only if its own origin holds the
// most slots, which a flooder's origins do; an origin with one honest attempt loses it only once
// every origin is down to one slot each, i.e. against more than `maxTotal` distinct addresses
// renewing offers faster than an honest connect completes.
//
// What this holds: the attempts in progress (at most `maxTotal`) and, per origin, the slots of
// attempts that ended early, each released by a timer within `holdMs` (at most `maxPerOrigin` per
// origin). Nothing here grows with what one origin sends.

export interface AdmissionLimits {
  readonly maxTotal: number;
  readonly maxPerOrigin: number;
  /** How long after its offer an attempt that ended before ICE connected keeps its origin's slot. */
  readonly holdMs: number;
}

export type Admission<T> =
  | { readonly admitted: true; readonly evict?: T }
  | { readonly admitted: false; readonly reason: 'origin-full' | 'full' };

interface Entry {
  readonly origin: string;
  readonly since: number;
}

export class AdmissionTable<T> {
  /** Attempts in progress, oldest first (a Map keeps insertion order). */
  private readonly entries = new Map<T, Entry>();
  /** Slots per origin: attempts in progress plus those that ended early and still hold theirs. */
  private readonly slots = new Map<string, number>();
  private readonly holds = new Set<ReturnType<typeof setTimeout>>();
  /** The most attempts held at once since this table was made. */
  peak = 0;

  constructor(
    private readonly limits: AdmissionLimits,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Slots `origin` holds: attempts in progress and early-ended ones not yet released. */
  count(origin: string): number {
    return this.slots.get(origin) ?? 0;
  }

  /**
   * Decides on a new offer from `origin`. When admitted with `evict`, the caller must drop that
   * attempt (and `end` it) before adding the new one. `preferred` says which attempts go first
   * when room is needed (those whose channel has not opened).
   */
  admit(origin: string, preferred: (item: T) => boolean): Admission<T> {
    if (this.count(origin) >= this.limits.maxPerOrigin) return { admitted: false, reason: 'origin-full' };
    if (this.entries.size < this.limits.maxTotal) return { admitted: true };
    const victim = this.victim(preferred) ?? this.victim(() => true);
    return victim === undefined ? { admitted: false, reason: 'full' } : { admitted: true, evict: victim };
  }

  add(item: T, origin: string): void {
    if (this.entries.has(item)) return;
    this.entries.set(item, { origin, since: this.now() });
    this.slots.set(origin, this.count(origin) + 1);
    this.peak = Math.max(this.peak, this.entries.size);
  }

  /**
   * The attempt is over (proven, failed, dropped). `beforeIce`: it ended before ICE connected, so
   * its origin keeps the slot until `holdMs` after the offer.
   */
  end(item: T, beforeIce: boolean): void {
    const entry = this.entries.get(item);
    if (!entry) return;
    this.entries.delete(item);
    const left = entry.since + this.limits.holdMs - this.now();
    if (!beforeIce || left <= 0) {
      this.release(entry.origin);
      return;
    }
    const hold = setTimeout(() => {
      this.holds.delete(hold);
      this.release(entry.origin);
    }, left);
    this.holds.add(hold);
  }

  /** Drops every hold (the swarm is closing). */
  clear(): void {
    for (const hold of this.holds) clearTimeout(hold);
    this.holds.clear();
    this.entries.clear();
    this.slots.clear();
  }

  private release(origin: string): void {
    const left = this.count(origin) - 1;
    if (left > 0) this.slots.set(origin, left);
    else this.slots.delete(origin);
  }

  /** The oldest attempt `eligible` takes, of the origin holding the most slots (that has one). */
  private victim(eligible: (item: T) => boolean): T | undefined {
    let heaviest = 0;
    const candidates: [T, Entry][] = [];
    for (const [item, entry] of this.entries) {
      if (!eligible(item)) continue;
      candidates.push([item, entry]);
      heaviest = Math.max(heaviest, this.count(entry.origin));
    }
    return candidates.find(([, entry]) => this.count(entry.origin) === heaviest)?.[0];
  }
}
