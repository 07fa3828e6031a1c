// A token bucket: the rate limit for what peers send us (have topics, offers per origin). Holds at
// most `burst` tokens, refilled continuously at `perSecond`; spending more than there are fails
// and spends nothing.

export class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(
    readonly burst: number,
    readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.refilledAt = now();
  }

  /** Spends `n` tokens if there are that many; false (and nothing spent) otherwise. */
  take(n = 1): boolean {
    this.refill();
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.perSecond);
    this.refilledAt = now;
  }
}
