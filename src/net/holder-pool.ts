// The holders one fetch draws from: who holds a file (lookups), sessions with them (connects), and
// when to look again or give up. It knows nothing of blocks beyond "this holder lacked one"; the
// scheduler (fetch-scheduler.ts) decides what to ask of whom.
//
// Dev docs. A HolderPool serves one topic (a file's root) through a HolderSource (the swarm, or a
// fake in tests): `sources` are the sessions of holders found by lookups or that said `have`.
// Holders announce files they hold whole, so a holder that answers not-found for a block of the
// file does not hold it (a liar, or a peer that lost it): it is dropped (`failed`; its session is
// left alone, it may serve other files), and a fresh lookup (at most every REPLACE_LOOKUP_MS) finds
// others, skipping the failed ones. Lookups return a random sample of holders, so repeating them
// reaches an honest holder among many liars; `tried` bounds the distinct holders one fetch connects
// to (MAX_HOLDERS_TRIED). A failed holder that later tells us with a `have` that it now holds the
// file gets one more chance (`readmitted`), never two. With no holder at all while work waits, the
// pool asks again every LOOKUP_RETRY_MS, and gives up after noHolderTimeoutMs. Holders found but
// never connected to (every attempt failed: no direct path, no working relay) are `unreachable`:
// once every holder of the latest lookup is, the pool gives up at once with PeerUnreachableError,
// which says whether a relay was configured, rather than looking up the same holders until
// noHolderTimeoutMs.

import { BlockMissingError, NoHolderError, PeerUnreachableError, ProtocolError } from '../errors.js';
import type { BlockId } from '../content/format.js';
import type { VerifiedBlock } from '../content/verified.js';
import {
  LOOKUP_RETRY_MS,
  MAX_HOLDERS_TRIED,
  MAX_SOURCES,
  MORE_SOURCES_EVERY_MS,
  NO_HOLDER_TIMEOUT_MS,
  REPLACE_LOOKUP_MS,
} from './limits.js';
import { quietLog, type Logger } from '../log.js';
import type { RequestOptions } from './session.js';

/** What a fetch needs of a session with a holder (a PeerSession). */
export interface FetchSession {
  readonly peer: string;
  readonly closed: boolean;
  /**
   * Requests it may still send at once; a want past them waits for a slot, in turn with the
   * session's other requests (an upload's too), and nothing says when one frees.
   */
  readonly freeSlots: number;
  /**
   * The block's bytes, checked to hash to `id` and marked so (a session that got other bytes closes
   * and rejects with ProtocolError `bad-block`); undefined when the holder says it lacks the block.
   */
  want(id: BlockId, options?: RequestOptions): Promise<VerifiedBlock | undefined>;
  on(event: 'close', listener: (value: { error?: Error }) => void): () => void;
}

/** Where holders come from (a Swarm): the narrow part of it a fetch uses. */
export interface HolderSource {
  /** Holders of `topic` by the signaling server's word (banned peers left out). */
  holders(topic: string): Promise<string[]>;
  connect(peer: string): Promise<FetchSession>;
  on(event: 'have', listener: (value: { session: FetchSession; topics: BlockId[] }) => void): () => void;
  /** Whether a TURN relay is configured (for the error when no holder can be connected to). */
  readonly hasRelay?: boolean;
}

/** What the scheduler needs of the holders: sessions to ask, and word of one that lacked a block. */
export interface Holders {
  /** Sessions in use. */
  readonly size: number;
  /** The sessions in use (the scheduler picks among them by their free slots). */
  sessions(): Iterable<FetchSession>;
  /** Work waits: look up holders now if there are none. */
  needed(): void;
  /** `session` answered not-found for `id`: it does not hold the file. */
  lacks(session: FetchSession, id: BlockId): void;
}

export interface HolderPoolOptions {
  readonly source: HolderSource;
  /** The file's root id: whom to look up. */
  readonly topic: BlockId;
  readonly noHolderTimeoutMs?: number;
  readonly log?: Logger;
  /** Whether blocks are still wanted (no lookups, retries or give-ups without). */
  readonly hasWork: () => boolean;
  /** A session became usable. */
  readonly onSource: () => void;
  /** No holder could be had: NoHolderError, BlockMissingError or PeerUnreachableError. */
  readonly onGiveUp: (error: Error) => void;
}

interface Source {
  readonly session: FetchSession;
  offClose: () => void;
}

export class HolderPool implements Holders {
  private readonly sources = new Map<string, Source>();
  private readonly connectingTo = new Set<string>();
  /** Holders this fetch connected to or used, ever (at most MAX_HOLDERS_TRIED). */
  private readonly tried = new Set<string>();
  /** Holders that answered not-found: not used again for this file (unless readmitted once). */
  private readonly failed = new Set<string>();
  private readonly readmitted = new Set<string>();
  /** Holders every connect attempt to which failed (at most MAX_HOLDERS_TRIED, being `tried`). */
  private readonly unreachable = new Set<string>();
  /** The holders the latest lookup named. */
  private lastHolders: string[] = [];
  /** The last block a holder said it lacked, for the error if no one else has it. */
  private lastMissing: BlockId | undefined;
  private lookingUp = false;
  private lookupAgain = false;
  private lastLookupAt = 0;
  private lookupTimer: ReturnType<typeof setTimeout> | undefined;
  private replaceTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly moreSourcesTimer: ReturnType<typeof setInterval>;
  private lastHadSource = Date.now();
  private stopped = false;
  private readonly log: Logger;
  private readonly offHave: () => void;

  constructor(private readonly options: HolderPoolOptions) {
    this.log = options.log ?? quietLog;
    this.offHave = options.source.on('have', ({ session, topics }) => {
      if (topics.includes(options.topic)) this.onHave(session);
    });
    this.moreSourcesTimer = setInterval(() => {
      if (this.sources.size < MAX_SOURCES && options.hasWork()) this.lookup();
    }, MORE_SOURCES_EVERY_MS);
  }

  get size(): number {
    return this.sources.size;
  }

  /** Starts looking up and connecting to holders now, before any block is wanted. */
  warmUp(): void {
    this.lookup();
  }

  needed(): void {
    if (this.sources.size === 0) this.lookup();
  }

  *sessions(): Iterable<FetchSession> {
    for (const { session } of this.sources.values()) yield session;
  }

  lacks(session: FetchSession, id: BlockId): void {
    const peer = session.peer;
    this.lastMissing = id;
    const source = this.sources.get(peer);
    if (source?.session !== session) return;
    this.sources.delete(peer);
    source.offClose();
    this.failed.add(peer);
    this.lastHadSource = Date.now();
    this.log.debug('fetch source dropped: it lacks a block of the file', {
      peer,
      block: id.slice(0, 12),
      failed: this.failed.size,
    });
    this.lookupSoon();
  }

  /** Stops every lookup and timer; sessions are left open (they may serve other files). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.lookupTimer);
    clearTimeout(this.replaceTimer);
    clearInterval(this.moreSourcesTimer);
    this.offHave();
    for (const source of this.sources.values()) source.offClose();
  }

  /** A peer says it now holds the file: a source, unless it failed us twice or the budget is spent. */
  private onHave(session: FetchSession): void {
    const peer = session.peer;
    if (this.stopped || this.sources.has(peer)) return;
    if (this.failed.has(peer)) {
      if (this.readmitted.has(peer)) return;
      this.readmitted.add(peer);
      this.failed.delete(peer);
    } else if (!this.tried.has(peer)) {
      if (this.tried.size >= MAX_HOLDERS_TRIED) return;
      this.tried.add(peer);
    }
    this.add(session);
  }

  private add(session: FetchSession): void {
    if (this.stopped || session.closed || this.sources.has(session.peer) || this.failed.has(session.peer)) return;
    const source: Source = { session, offClose: () => undefined };
    source.offClose = session.on('close', () => {
      if (this.sources.get(session.peer) !== source) return;
      this.sources.delete(session.peer);
      this.lastHadSource = Date.now();
      if (this.sources.size === 0 && this.options.hasWork()) this.lookup();
    });
    this.sources.set(session.peer, source);
    this.lastHadSource = Date.now();
    this.log.debug('fetch source added', { peer: session.peer, sources: this.sources.size });
    this.options.onSource();
  }

  /** A lookup now, or as soon as REPLACE_LOOKUP_MS has passed since the last one. */
  private lookupSoon(): void {
    if (this.stopped || this.replaceTimer) return;
    const wait = this.lastLookupAt + REPLACE_LOOKUP_MS - Date.now();
    if (wait <= 0) {
      this.lookup();
      return;
    }
    this.replaceTimer = setTimeout(() => {
      this.replaceTimer = undefined;
      this.lookup();
    }, wait);
  }

  private lookup(): void {
    if (this.stopped) return;
    if (this.lookingUp) {
      this.lookupAgain = true;
      return;
    }
    this.lookingUp = true;
    this.lastLookupAt = Date.now();
    clearTimeout(this.lookupTimer);
    this.options.source
      .holders(this.options.topic)
      .then((peers) => {
        this.lastHolders = peers;
        for (const peer of peers) {
          if (this.sources.size + this.connectingTo.size >= MAX_SOURCES) break;
          if (this.sources.has(peer) || this.connectingTo.has(peer) || this.failed.has(peer)) continue;
          if (!this.tried.has(peer)) {
            if (this.tried.size >= MAX_HOLDERS_TRIED) continue;
            this.tried.add(peer);
          }
          this.connect(peer);
        }
        this.retryLookupLater();
      })
      .catch(() => this.retryLookupLater())
      .finally(() => {
        this.lookingUp = false;
        if (this.lookupAgain) {
          this.lookupAgain = false;
          this.lookupSoon();
        }
      });
  }

  private connect(peer: string): void {
    this.connectingTo.add(peer);
    this.options.source
      .connect(peer)
      .then((session) => {
        this.unreachable.delete(peer);
        this.add(session);
      })
      .catch((error) => {
        this.log.debug('could not reach holder', { peer, error: (error as Error).message });
        if (!(error instanceof ProtocolError)) this.unreachable.add(peer);
      })
      .finally(() => {
        this.connectingTo.delete(peer);
        if (this.sources.size > 0) return;
        if (this.allUnreachable()) {
          const { topic, source } = this.options;
          this.giveUp(new PeerUnreachableError(topic, this.unreachable.size, Boolean(source.hasRelay)));
          return;
        }
        this.retryLookupLater();
      });
  }

  /** Nothing in progress, and every holder the latest lookup named could not be connected to. */
  private allUnreachable(): boolean {
    if (this.stopped || this.connectingTo.size > 0 || this.lastHolders.length === 0) return false;
    return this.lastHolders.every((peer) => this.unreachable.has(peer));
  }

  private retryLookupLater(): void {
    if (this.stopped || this.sources.size > 0 || this.connectingTo.size > 0 || !this.options.hasWork()) return;
    const waited = Date.now() - this.lastHadSource;
    const limit = this.options.noHolderTimeoutMs ?? NO_HOLDER_TIMEOUT_MS;
    if (waited >= limit) {
      if (this.failed.size === 0 || !this.lastMissing) {
        this.giveUp(new NoHolderError(this.options.topic, waited));
        return;
      }
      const holders = `${this.failed.size} holder${this.failed.size === 1 ? '' : 's'} of the file`;
      const detail = `${holders} did not have it, and no other holder was found within ${Math.round(waited / 1000)} s`;
      this.giveUp(new BlockMissingError(this.lastMissing, detail));
      return;
    }
    clearTimeout(this.lookupTimer);
    this.lookupTimer = setTimeout(() => this.lookup(), LOOKUP_RETRY_MS);
  }

  private giveUp(error: Error): void {
    this.stop();
    this.options.onGiveUp(error);
  }
}
