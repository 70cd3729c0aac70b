/**
 * Per-source token bucket, keyed by the source's network (IPv4 /24, IPv6 /48: a number from
 * src/receiver/network-key.ts) so one host cannot dodge it by cycling addresses in its subnet.
 * Keys live in memory only, in a bounded map, and are never stored or logged at info level.
 */

interface Bucket {
  tokens: number;
  last: number;
}

export class RateLimiter {
  private readonly buckets = new Map<number, Bucket>();
  private readonly perMs: number;
  private readonly burst: number;

  /** `perSecond` datagrams a second per network, with bursts of up to `burstSeconds` worth. */
  constructor(
    perSecond: number,
    private readonly maxSources = 65_536,
    burstSeconds = 2,
  ) {
    this.perMs = perSecond / 1000;
    this.burst = Math.max(1, perSecond * burstSeconds);
  }

  /** Takes a token for the source network; false when its bucket is empty (the datagram is dropped). */
  take(key: number, now: number): boolean {
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= this.maxSources) this.evict(now);
      b = { tokens: this.burst, last: now };
      this.buckets.set(key, b);
    } else if (now > b.last) {
      b.tokens = Math.min(this.burst, b.tokens + (now - b.last) * this.perMs);
      b.last = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  get size(): number {
    return this.buckets.size;
  }

  /**
   * Full map (a flood of spoofed sources): forget the networks whose buckets have refilled (they
   * lose nothing), and if that frees too little, the oldest quarter. Amortized O(1) per insert.
   */
  private evict(now: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + (now - b.last) * this.perMs >= this.burst) this.buckets.delete(key);
    }
    if (this.buckets.size < this.maxSources * 0.75) return;
    let drop = Math.ceil(this.maxSources / 4);
    for (const key of this.buckets.keys()) {
      if (drop-- <= 0) break;
      this.buckets.delete(key);
    }
  }
}
