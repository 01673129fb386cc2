/**
 * Internal: a token bucket for one client's messages — `ratePerSecond` tokens a second, bursts up
 * to `ratePerSecond`. State without timers: it refills from the clock on each `take`.
 */
export class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(
    readonly ratePerSecond: number,
    at: number,
  ) {
    this.tokens = ratePerSecond;
    this.refilledAt = at;
  }

  /** Takes one token at time `at`; false when none is left (the client is over the rate). */
  take(at: number): boolean {
    this.tokens = Math.min(this.ratePerSecond, this.tokens + ((at - this.refilledAt) * this.ratePerSecond) / 1_000);
    this.refilledAt = at;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
