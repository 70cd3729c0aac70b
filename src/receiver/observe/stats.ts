import type { RejectReason } from '../../protocol/reject-reasons.js';
import { COUNTER_NAMES, type CounterName } from '../../store/counters.js';
import type { CounterDelta, WriteResult } from '../../store/types.js';

type Counts = Record<CounterName, number>;

function zero(): Counts {
  const c = {} as Counts;
  for (const n of COUNTER_NAMES) c[n] = 0;
  return c;
}

/**
 * The receiver's counters: process totals (logs, Prometheus) and per-UTC-day increments not yet
 * persisted. The increments ride with the next batch into the store, in the same transaction, so
 * the persisted counters always agree with the stored rows. `stored` and `duplicates` found by the
 * store are added by the store itself (it knows which records were new); here they only update
 * the totals.
 */
export class Stats {
  readonly totals: Counts = zero();
  private pending = new Map<string, Counts>();
  private day = '';
  private current: Counts | undefined;

  /** Count one event on `day` (the receiver clock's UTC day). */
  count(name: CounterName, day: string, n = 1): void {
    this.totals[name] += n;
    const counts = day !== this.day || this.current === undefined ? this.switchDay(day) : this.current;
    counts[name] += n;
  }

  reject(reason: RejectReason, day: string): void {
    this.count(`rejected.${reason}`, day);
  }

  hasPending(): boolean {
    return this.pending.size > 0;
  }

  /** Hands the pending increments to a batch; give them back with restore() if the write fails. */
  takeDeltas(): CounterDelta[] {
    const out: CounterDelta[] = [];
    for (const [day, counts] of this.pending) {
      const nonZero: Partial<Counts> = {};
      for (const n of COUNTER_NAMES) if (counts[n] !== 0) nonZero[n] = counts[n];
      out.push({ day, counts: nonZero });
    }
    this.pending = new Map();
    this.current = undefined;
    return out;
  }

  restore(deltas: readonly CounterDelta[]): void {
    for (const d of deltas) {
      const counts = d.day !== this.day || this.current === undefined ? this.switchDay(d.day) : this.current;
      for (const [n, v] of Object.entries(d.counts) as [CounterName, number][]) counts[n] += v;
    }
  }

  /** What the store did with a batch: totals only (the store persisted these itself). */
  written(r: WriteResult): void {
    this.totals.stored += r.stored;
    this.totals.duplicates += r.duplicates;
  }

  private switchDay(day: string): Counts {
    let c = this.pending.get(day);
    if (c === undefined) {
      c = zero();
      this.pending.set(day, c);
    }
    this.day = day;
    this.current = c;
    return c;
  }
}
