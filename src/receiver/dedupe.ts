/**
 * A bounded memory of recently accepted (run, kind) pairs, so the second copy of a datagram
 * (beacons send each one twice) is dropped without touching the store. It is only a shortcut:
 * the store's unique key is what dedupes across restarts and after eviction.
 */
export class RecentKeys {
  private readonly keys = new Map<string, true>();

  constructor(private readonly capacity = 200_000) {}

  /** true if (run, kind) was seen recently; otherwise remembers it and returns false. */
  seen(run: string, kind: 'start' | 'end'): boolean {
    const key = kind === 'start' ? `s${run}` : `e${run}`;
    if (this.keys.has(key)) return true;
    this.keys.set(key, true);
    // Map iterates in insertion order, so the first key is the oldest: evict FIFO.
    if (this.keys.size > this.capacity) this.keys.delete(this.keys.keys().next().value!);
    return false;
  }

  get size(): number {
    return this.keys.size;
  }
}
