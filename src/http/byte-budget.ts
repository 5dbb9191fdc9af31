/**
 * A count of bytes that may be held at once, shared by every request that draws on it. The web process
 * uses one for request bodies it has not yet authenticated: each is bounded on its own, and this bounds
 * their sum, so a flood of forged requests cannot exhaust memory and take live calls down with it.
 */
export class ByteBudget {
  private used = 0;

  /** @param limitBytes the most held at once */
  constructor(readonly limitBytes: number) {}

  /** Takes `n` bytes if they fit; false (and nothing taken) otherwise. */
  tryTake(n: number): boolean {
    if (this.used + n > this.limitBytes) return false;
    this.used += n;
    return true;
  }

  give(n: number): void {
    this.used = Math.max(0, this.used - n);
  }

  get inUse(): number {
    return this.used;
  }
}
