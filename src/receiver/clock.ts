/**
 * The receiver's clock, bucketed by UTC day and month. Buckets are recomputed only when a day
 * boundary passes, so the per-datagram cost is one Date.now() and a comparison.
 */
export interface UtcBuckets {
  /** YYYY-MM-DD of the current UTC day (counters). */
  day: string;
  /** YYYYMM of the current UTC month (run bucketing). */
  month: number;
}

export class ReceiverClock {
  private dayEnd = 0;
  private buckets: UtcBuckets = { day: '', month: 0 };

  constructor(private readonly now: () => number = Date.now) {}

  /** Current epoch ms; refreshes the buckets when a UTC day boundary has passed. */
  tick(): number {
    const t = this.now();
    if (t >= this.dayEnd || t < this.dayEnd - 86_400_000) this.rebucket(t);
    return t;
  }

  get current(): UtcBuckets {
    return this.buckets;
  }

  private rebucket(t: number): void {
    const d = new Date(t);
    this.buckets = { day: d.toISOString().slice(0, 10), month: monthOf(t) };
    this.dayEnd = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
  }
}

export function monthOf(t: number): number {
  const d = new Date(t);
  return d.getUTCFullYear() * 100 + d.getUTCMonth() + 1;
}
