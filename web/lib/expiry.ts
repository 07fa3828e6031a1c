// When this browser drops expired files (issue 12): the owner's expiry travels in a commit's terms
// (`put --expire`, the page's choice at Add), and every holder drops the file once it has passed.
// This module owns the clock only: it drops what is due at start, then sleeps until the next expiry
// (never longer than MAX_EXPIRY_WAIT_MS, so a machine that slept or a clock that jumped is caught up
// soon), and is re-armed whenever the files held change. What "drop" means (Library entries, copies
// kept for others) is the peer's business (browser-peer.ts, keeper.ts).

/** The longest the clock sleeps before it looks again, whatever the next expiry. */
export const MAX_EXPIRY_WAIT_MS = 60 * 60_000;

export interface ExpiryClockOptions {
  /** The earliest expiry among the files held (ms since the epoch), or undefined if none expires. */
  next(): Promise<number | undefined>;
  /** Drops every file whose expiry is at or before `now`. */
  dropDue(now: number): Promise<void>;
  /** A round failed; the clock carries on (the next round tries again). */
  onError(error: unknown): void;
  readonly now?: () => number;
}

/** The delay until `next` from `now`, within 0..MAX_EXPIRY_WAIT_MS; undefined when nothing expires. */
export function expiryDelay(next: number | undefined, now: number): number | undefined {
  if (next === undefined) return undefined;
  return Math.min(MAX_EXPIRY_WAIT_MS, Math.max(0, next - now));
}

export class ExpiryClock {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | undefined;
  /** A re-arm asked for while a round ran: looked at once the round ends. */
  private again = false;
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly options: ExpiryClockOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Drops what is due now, then sleeps until the next expiry. */
  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.round().finally(() => (this.running = undefined));
    return this.running;
  }

  /** The files held changed: the timer is set again for the (possibly new) earliest expiry. */
  rearm(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.options
      .next()
      .then((next) => this.arm(next))
      .catch((error: unknown) => this.options.onError(error));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async round(): Promise<void> {
    do {
      this.again = false;
      if (this.closed) return;
      try {
        await this.options.dropDue(this.now());
      } catch (error) {
        this.options.onError(error);
      }
    } while (this.again);
    try {
      this.arm(await this.options.next());
    } catch (error) {
      // Not knowing the next expiry, it looks again after the longest wait.
      this.options.onError(error);
      this.arm(this.now() + MAX_EXPIRY_WAIT_MS);
    }
  }

  private arm(next: number | undefined): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const delay = expiryDelay(next, this.now());
    if (delay === undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.run().catch((error: unknown) => this.options.onError(error));
    }, delay);
  }
}
