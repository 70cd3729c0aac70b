import { hashWords, processHashKey, type HashKey } from './keyed-hash.js';

/**
 * A bounded memory of recently accepted (run, kind) pairs, so the second copy of a datagram
 * (beacons send each one twice) is dropped without touching the store. It is only a shortcut:
 * the store's unique key is what dedupes across restarts and after eviction.
 *
 * Per datagram cost matters here (it runs on the socket's thread). Every accepted run is a
 * lowercase UUID (the schema and the Parsl decoder check it), i.e. 128 bits: those pairs live as
 * four int32 words in an open-addressing table of typed arrays, with no string hashing, no objects
 * for the GC to trace and few cache misses. Anything else (only ever seen in tests) falls back to
 * a Set of strings. Eviction is FIFO over both, from a ring of the inserted pairs. Not
 * `map.keys().next()` on a Map: V8 leaves deleted entries in place until the next rehash and the
 * iterator walks over them, so once full that eviction cost grew to tens of µs per datagram (a
 * receiver past 200k runs spent ~60 µs a datagram in it).
 *
 * The keys are chosen by whoever sends datagrams, so the slot is taken from a keyed hash
 * (HalfSipHash with this process's random key, src/receiver/keyed-hash.ts) over all 128 bits and
 * the kind: no pattern of run IDs (sequential tails or heads, one varying word, IDs crafted
 * offline) clusters better than random ones. The old unkeyed mix put IDs that differed only in
 * their last word in consecutive slots, and linear probing then walked the merged clusters (44×
 * the CPU, half the traffic lost at 25k/s). Each slot keeps its key's hash, so the backward-shift
 * delete and the probe compare cost no rehashing.
 */
export class RecentKeys {
  private readonly capacity: number;
  private readonly hashKey: HashKey;
  /** Each occupied slot's full 32-bit hash (a cheap first comparison, and no rehash on delete). */
  private readonly hashes: Int32Array;
  /** Table slots (a power of two, at least twice the capacity): 4 words each, and a state. */
  private readonly mask: number;
  private readonly words: Int32Array;
  /** 0 empty, 1 start, 2 end. */
  private readonly state: Uint8Array;
  /** Pairs whose run is not a lowercase UUID: `s…` / `e…`. */
  private readonly other = new Set<string>();
  /** Insertion order, oldest at `head`: the key (words, or the string), and its kind. */
  private readonly ringWords: Int32Array;
  private readonly ringKind: Uint8Array;
  /** The ring entry's hash, so evicting it needs no rehash. */
  private readonly ringHash: Int32Array;
  private readonly ringOther: (string | undefined)[];
  private head = 0;
  private count = 0;
  /** Scratch for the key being looked up. */
  private readonly key = new Int32Array(4);

  /** `hashKey`: tests pass a fixed one to craft collisions; the receiver uses the process's random key. */
  constructor(capacity = 200_000, hashKey: HashKey = processHashKey()) {
    this.capacity = Math.max(1, capacity);
    this.hashKey = hashKey;
    let slots = 16;
    while (slots < this.capacity * 2) slots *= 2;
    this.mask = slots - 1;
    this.words = new Int32Array(slots * 4);
    this.state = new Uint8Array(slots);
    this.hashes = new Int32Array(slots);
    this.ringWords = new Int32Array(this.capacity * 4);
    this.ringKind = new Uint8Array(this.capacity);
    this.ringHash = new Int32Array(this.capacity);
    this.ringOther = new Array<string | undefined>(this.capacity).fill(undefined);
  }

  /** true if (run, kind) was seen recently; otherwise remembers it and returns false. */
  seen(run: string, kind: 'start' | 'end'): boolean {
    const k = kind === 'end' ? 2 : 1;
    const uuid = parseUuid(run, this.key);
    let otherKey: string | undefined;
    let h = 0;
    if (uuid) {
      h = hashWords(this.hashKey, this.key, 0, 4, k);
      if (this.find(this.key, 0, k, h) >= 0) return true;
      this.insert(this.key, k, h);
    } else {
      otherKey = k === 2 ? `e${run}` : `s${run}`;
      if (this.other.has(otherKey)) return true;
      this.other.add(otherKey);
    }
    const cap = this.capacity;
    let slot: number;
    if (this.count === cap) {
      // Full: the oldest pair makes room (its ring slot is the one the new pair takes).
      slot = this.head;
      const old = this.ringOther[slot];
      if (old !== undefined) this.other.delete(old);
      else this.remove(this.ringWords, slot * 4, this.ringKind[slot]!, this.ringHash[slot]!);
      this.head = slot + 1 === cap ? 0 : slot + 1;
    } else {
      slot = this.head + this.count < cap ? this.head + this.count : this.head + this.count - cap;
      this.count++;
    }
    this.ringKind[slot] = k;
    this.ringOther[slot] = otherKey;
    if (otherKey === undefined) {
      this.ringWords.set(this.key, slot * 4);
      this.ringHash[slot] = h;
    }
    return false;
  }

  get size(): number {
    return this.count;
  }

  /**
   * Longest probe sequence a lookup of a stored key takes now (1 = found in its home slot): what
   * a test bounds. O(slots); for tests and diagnostics, never the hot path.
   */
  maxProbeLength(): number {
    const { state, hashes, mask } = this;
    let worst = 0;
    for (let i = 0; i <= mask; i++) {
      if (state[i] === 0) continue;
      const d = ((i - (hashes[i]! & mask)) & mask) + 1;
      if (d > worst) worst = d;
    }
    return worst;
  }

  private find(w: Int32Array, o: number, k: number, h: number): number {
    const { words, state, hashes, mask } = this;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = state[i]!;
      if (s === 0) return -1;
      if (hashes[i] !== h || s !== k) continue;
      const j = i * 4;
      if (words[j] === w[o] && words[j + 1] === w[o + 1] && words[j + 2] === w[o + 2] && words[j + 3] === w[o + 3]) return i;
    }
  }

  private insert(w: Int32Array, k: number, h: number): void {
    const { state, mask } = this;
    let i = h & mask;
    while (state[i] !== 0) i = (i + 1) & mask;
    state[i] = k;
    this.hashes[i] = h;
    this.words.set(w, i * 4);
  }

  /** Linear-probing delete with backward shift, so no tombstones accumulate. */
  private remove(w: Int32Array, o: number, k: number, h: number): void {
    const { words, state, hashes, mask } = this;
    let i = this.find(w, o, k, h);
    if (i < 0) return;
    for (let j = (i + 1) & mask; state[j] !== 0; j = (j + 1) & mask) {
      const h = hashes[j]! & mask;
      // Move j back into the hole at i unless its home lies cyclically in (i, j].
      if (i <= j ? h > i && h <= j : h > i || h <= j) continue;
      state[i] = state[j]!;
      hashes[i] = hashes[j]!;
      words.copyWithin(i * 4, j * 4, j * 4 + 4);
      i = j;
    }
    state[i] = 0;
  }
}

/** Hex digit value of a char code, or -1 (lowercase only: the key must be exact). */
function hex(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** Lowercase 8-4-4-4-12 UUID → 4 words in `out`; false for anything else. */
function parseUuid(s: string, out: Int32Array): boolean {
  if (s.length !== 36) return false;
  let word = 0;
  let n = 0;
  for (let i = 0; i < 36; i++) {
    const c = s.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45) return false;
      continue;
    }
    const v = hex(c);
    if (v < 0) return false;
    word = (word << 4) | v;
    if (++n % 8 === 0) out[(n >> 3) - 1] = word;
  }
  return true;
}
