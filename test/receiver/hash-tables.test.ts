import { describe, expect, it } from 'vitest';
import { RecentKeys } from '../../src/receiver/dedupe.js';
import { halfSipHash, hashWords, processHashKey, randomHashKey, type HashKey } from '../../src/receiver/keyed-hash.js';
import { networkKey } from '../../src/receiver/network-key.js';
import { RateLimiter } from '../../src/receiver/rate-limit.js';

/**
 * Issue 11: no input may degrade the tables keyed by what senders choose. The real tables are
 * driven with adversarial key patterns and their longest probe sequence is bounded.
 *
 * The bound: with a hash that behaves like a random function, linear probing at load ≤ 1/2 has
 * an expected longest probe of O(log n); for the sizes here random keys measure ~10–30. 64 leaves
 * room for chance and still fails by far for any clustering pattern (the old unkeyed mix walked
 * runs of thousands with sequential tails).
 */
const PROBE_BOUND = 64;
const CAPACITY = 20_000;

const hex = (n: number, width: number): string => (n >>> 0).toString(16).padStart(width, '0').slice(-width);
const uuid = (a: number, b: number, c: number, d: number): string => {
  const s = hex(a, 8) + hex(b, 8) + hex(c, 8) + hex(d, 8);
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
};
const rnd = (): number => (Math.random() * 0x1_0000_0000) >>> 0;

/** Runs `n` IDs through a fresh table (start and end of each), past its capacity so eviction runs. */
function drive(ids: (i: number) => string, n: number): { t: RecentKeys; first: string; last: string } {
  const t = new RecentKeys(CAPACITY);
  let first = '';
  let last = '';
  for (let i = 0; i < n; i++) {
    last = ids(i);
    if (i === 0) first = last;
    expect(t.seen(last, 'start')).toBe(false);
    expect(t.seen(last, 'end')).toBe(false);
  }
  return { t, first, last };
}

const PATTERNS: Record<string, (i: number) => string> = {
  random: () => uuid(rnd(), rnd(), rnd(), rnd()),
  // Valid UUIDv4s numbered in their last 12 hex digits: issue 11's measured attack.
  'sequential tail': (i) => uuid(0x0b7f0d3e, 0x2a4c4b8e, 0x9a4f0000, i),
  'sequential head': (i) => uuid(i, 0x2a4c4b8e, 0x9a4f2f2b, 0x6f0d9c11),
  'one varying middle word': (i) => uuid(0x0b7f0d3e, i * 0x10001, 0x9a4f2f2b, 0x6f0d9c11),
  'strided tail (multiples of the table size)': (i) => uuid(0x0b7f0d3e, 0x2a4c4b8e, 0x9a4f2f2b, i * 65_536),
  'one bit per ID': (i) =>
    uuid(i < 32 ? 1 << i : 0, i >= 32 && i < 64 ? 1 << (i - 32) : 0, i >= 64 && i < 96 ? 1 << (i - 64) : 0, i >= 96 ? i : 0),
};

describe('keyed hash (HalfSipHash-1-3, src/receiver/keyed-hash.ts)', () => {
  it('is HalfSipHash: matches the reference vectors of HalfSipHash-2-4 (key 00..07, message 00..len-1)', () => {
    const k: HashKey = { k0: 0x03020100, k1: 0x07060504 };
    // vectors_hsip32 of the reference implementation, little-endian: lengths 1 and 5 bytes.
    expect(halfSipHash(k, [], 0, 0, 0, 2, 4) >>> 0).toBe(0xb85a4727);
    expect(halfSipHash(k, [0x03020100], 0, 1, 4, 2, 4) >>> 0).toBe(0x69b6fac5);
  });

  it('avalanches: flipping any input bit flips each output bit about half the time', () => {
    const key = randomHashKey();
    const SAMPLES = 300;
    const w = new Int32Array(4);
    let worst = 0;
    // 128 key bits and the 2 low bits of the tag.
    for (let bit = 0; bit < 130; bit++) {
      const flips = new Array<number>(32).fill(0);
      for (let s = 0; s < SAMPLES; s++) {
        for (let j = 0; j < 4; j++) w[j] = rnd();
        const tag = 1 + (s & 1);
        const a = hashWords(key, w, 0, 4, tag);
        let t2 = tag;
        if (bit < 128) w[bit >> 5] = (w[bit >> 5] ?? 0) ^ (1 << (bit & 31));
        else t2 ^= 1 << (bit - 128);
        const d = a ^ hashWords(key, w, 0, 4, t2);
        for (let o = 0; o < 32; o++) if ((d >>> o) & 1) flips[o]!++;
      }
      for (const f of flips) worst = Math.max(worst, Math.abs(f / SAMPLES - 0.5));
    }
    // Binomial(300, 1/2): sd 0.029; 0.2 is ~7 sd, so a pass is no accident and a real bias fails.
    expect(worst).toBeLessThan(0.2);
  });

  it('draws a random key per process', () => {
    expect(processHashKey()).toBe(processHashKey());
    const a = randomHashKey();
    const b = randomHashKey();
    expect([a.k0, a.k1]).not.toEqual([b.k0, b.k1]);
  });
});

describe('dedupe table (RecentKeys) under adversarial run IDs', () => {
  for (const [name, ids] of Object.entries(PATTERNS)) {
    it(`${name}: longest probe ≤ ${PROBE_BOUND}, through eviction`, () => {
      const { t, first, last } = drive(ids, CAPACITY * 2);
      expect(t.size).toBe(CAPACITY);
      const probe = t.maxProbeLength();
      expect(probe).toBeLessThanOrEqual(PROBE_BOUND);
      // Still a correct table after eviction: the newest pair is remembered, the oldest forgotten.
      expect(t.seen(last, 'end')).toBe(true);
      expect(t.seen(first, 'start')).toBe(false);
    });
  }

  it('IDs crafted to share one home slot under a known key cluster there, and not under the random key', () => {
    // What an attacker who knew the key could do: brute-force UUIDs into one home slot.
    const fixed: HashKey = { k0: 0x01234567, k1: 0x89abcdef };
    const slots = 65_536; // RecentKeys(20_000) has 2^16 slots
    const w = new Int32Array(4);
    const crafted: string[] = [];
    for (let i = 0; crafted.length < 300; i++) {
      w[0] = 0x0b7f0d3e;
      w[1] = 0x2a4c4b8e;
      w[2] = 0x9a4f0000;
      w[3] = i;
      if ((hashWords(fixed, w, 0, 4, 1) & (slots - 1)) === 12_345) crafted.push(uuid(w[0], w[1], w[2], w[3]));
    }
    const known = new RecentKeys(CAPACITY, fixed);
    for (const id of crafted) known.seen(id, 'start');
    // The attack works when the key is known: one cluster as long as the IDs sent...
    expect(known.maxProbeLength()).toBeGreaterThanOrEqual(crafted.length);
    // ...and does nothing against the process's random key.
    const real = new RecentKeys(CAPACITY);
    for (const id of crafted) real.seen(id, 'start');
    expect(real.maxProbeLength()).toBeLessThanOrEqual(8);
  });
});

describe('rate limiter (RateLimiter) under adversarial source networks', () => {
  const nets: Record<string, (i: number) => number> = {
    'sequential IPv4 /24s': (i) => networkKey(`10.${(i >> 8) & 255}.${i & 255}.1`),
    'sequential IPv6 /48s': (i) => networkKey(`2001:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`),
    'IPv6 /48s strided by 2^16': (i) => networkKey(`${(i & 0xffff).toString(16)}:db8:0::1`),
  };
  for (const [name, key] of Object.entries(nets)) {
    it(`${name}: longest probe ≤ ${PROBE_BOUND}, through eviction`, () => {
      const rl = new RateLimiter(10, 20_000);
      for (let i = 0; i < 50_000; i++) rl.take(key(i), 5);
      expect(rl.size).toBeLessThanOrEqual(20_000);
      expect(rl.maxProbeLength()).toBeLessThanOrEqual(PROBE_BOUND);
    });
  }

  it('networks crafted to share a home slot under a known key do not cluster under the random key', () => {
    const fixed: HashKey = { k0: 0x01234567, k1: 0x89abcdef };
    const slots = 65_536; // RateLimiter(…, 20_000) has 2^16 slots
    const w = new Int32Array(2);
    const crafted: number[] = [];
    for (let i = 0; crafted.length < 300; i++) {
      w[0] = i;
      w[1] = 0x10000;
      if ((hashWords(fixed, w, 0, 2, 0) & (slots - 1)) === 777) crafted.push(2 ** 48 + i);
    }
    const known = new RateLimiter(10, 20_000, 2, fixed);
    for (const k of crafted) known.take(k, 5);
    expect(known.maxProbeLength()).toBeGreaterThanOrEqual(crafted.length);
    const real = new RateLimiter(10, 20_000);
    for (const k of crafted) real.take(k, 5);
    expect(real.maxProbeLength()).toBeLessThanOrEqual(8);
    // Buckets still work per network.
    for (let i = 0; i < 30; i++) real.take(crafted[0]!, 5);
    expect(real.take(crafted[0]!, 5)).toBe(false);
    expect(real.take(crafted[1]!, 5)).toBe(true);
  });
});
