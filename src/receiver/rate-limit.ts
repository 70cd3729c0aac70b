import { hashWords, processHashKey, type HashKey } from './keyed-hash.js';

/**
 * Per-source token bucket, keyed by the source's network (IPv4 /24, IPv6 /48: a number from
 * src/receiver/network-key.ts) so one host cannot dodge it by cycling addresses in its subnet.
 * Keys live in memory only, in a bounded table, and are never stored or logged at info level.
 *
 * Source addresses are spoofable, so the keys are the sender's choice: the buckets live in an
 * open-addressing table of typed arrays whose slot comes from a keyed hash (HalfSipHash with this
 * process's random key, src/receiver/keyed-hash.ts) of the key's 64 bits. Not a Map: V8 hashes
 * number keys with a fixed, public function, so a flood of crafted networks could share a bucket
 * chain and make every lookup walk it.
 */
export class RateLimiter {
  private readonly perMs: number;
  private readonly burst: number;
  private readonly hashKey: HashKey;
  private readonly mask: number;
  /** Per slot: the network key (NaN = empty), its hash, tokens, last refill, insertion order. */
  private readonly keys: Float64Array;
  private readonly hashes: Int32Array;
  private readonly tokens: Float64Array;
  private readonly last: Float64Array;
  private readonly order: Float64Array;
  private count = 0;
  private inserted = 0;
  /** Scratch: the key as two words for the hash. */
  private readonly kw = new Int32Array(2);

  /** `perSecond` datagrams a second per network, with bursts of up to `burstSeconds` worth. */
  constructor(
    perSecond: number,
    private readonly maxSources = 65_536,
    burstSeconds = 2,
    hashKey: HashKey = processHashKey(),
  ) {
    this.perMs = perSecond / 1000;
    this.burst = Math.max(1, perSecond * burstSeconds);
    this.hashKey = hashKey;
    let slots = 16;
    while (slots < maxSources * 2) slots *= 2;
    this.mask = slots - 1;
    this.keys = new Float64Array(slots).fill(NaN);
    this.hashes = new Int32Array(slots);
    this.tokens = new Float64Array(slots);
    this.last = new Float64Array(slots);
    this.order = new Float64Array(slots);
  }

  /** Takes a token for the source network; false when its bucket is empty (the datagram is dropped). */
  take(key: number, now: number): boolean {
    // NaN (an address that did not parse) is one network like any other; -1 never is a real key.
    const k = key === key ? key : -1;
    let i = this.find(k);
    if (i < 0) {
      if (this.count >= this.maxSources) this.evict(now);
      i = this.insert(k, this.burst, now, this.inserted++);
    } else if (now > this.last[i]!) {
      this.tokens[i] = Math.min(this.burst, this.tokens[i]! + (now - this.last[i]!) * this.perMs);
      this.last[i] = now;
    }
    if (this.tokens[i]! < 1) return false;
    this.tokens[i]! -= 1;
    return true;
  }

  get size(): number {
    return this.count;
  }

  /** Longest probe sequence of a stored key (1 = in its home slot); for tests, O(slots). */
  maxProbeLength(): number {
    let worst = 0;
    for (let i = 0; i <= this.mask; i++) {
      if (this.keys[i] !== this.keys[i]) continue;
      const d = ((i - (this.hashes[i]! & this.mask)) & this.mask) + 1;
      if (d > worst) worst = d;
    }
    return worst;
  }

  private hash(k: number): number {
    // Keys are integers below 2^50 (or -1): low and high 32 bits.
    const kw = this.kw;
    kw[0] = k % 0x1_0000_0000;
    kw[1] = Math.floor(k / 0x1_0000_0000);
    return hashWords(this.hashKey, kw, 0, 2, 0);
  }

  private find(k: number): number {
    const { keys, mask } = this;
    for (let i = this.hash(k) & mask; ; i = (i + 1) & mask) {
      const s = keys[i]!;
      if (s === k) return i;
      if (s !== s) return -1;
    }
  }

  private insert(k: number, tokens: number, last: number, order: number): number {
    const h = this.hash(k);
    const { keys, mask } = this;
    let i = h & mask;
    while (keys[i] === keys[i]) i = (i + 1) & mask;
    keys[i] = k;
    this.hashes[i] = h;
    this.tokens[i] = tokens;
    this.last[i] = last;
    this.order[i] = order;
    this.count++;
    return i;
  }

  /**
   * Full table (a flood of spoofed sources): forget the networks whose buckets have refilled
   * (they lose nothing), and if that frees too little, the oldest quarter. The survivors are
   * reinserted into an emptied table: O(n log n) once per ≥ n/4 inserts, amortized O(log n).
   */
  private evict(now: number): void {
    const live: number[] = [];
    for (let i = 0; i <= this.mask; i++) {
      if (this.keys[i] !== this.keys[i]) continue;
      if (this.tokens[i]! + (now - this.last[i]!) * this.perMs >= this.burst) continue;
      live.push(i);
    }
    let keep = live;
    if (live.length >= this.maxSources * 0.75) {
      live.sort((a, b) => this.order[a]! - this.order[b]!);
      keep = live.slice(Math.ceil(this.maxSources / 4));
    }
    const saved = keep.map((i) => [this.keys[i]!, this.tokens[i]!, this.last[i]!, this.order[i]!] as const);
    this.keys.fill(NaN);
    this.count = 0;
    for (const [k, t, l, o] of saved) this.insert(k, t, l, o);
  }
}
