import { describe, expect, it } from 'vitest';
import { Hll, HLL_M, HLL_RSE } from '../../src/reports/hll.js';

/** The sketch itself: merge is union, estimates within the stated error, keyed, stored as registers only. */
const KEY = Buffer.alloc(32, 7);
const id = (i: number) => i.toString(16).padStart(32, '0');

describe('HyperLogLog sketch (p = 14)', () => {
  it('merging month sketches is the sketch of the union (each ID counted once)', () => {
    const a = new Hll();
    const b = new Hll();
    const all = new Hll();
    for (let i = 0; i < 30000; i++) {
      if (i < 20000) a.add(KEY, 'user', id(i));
      if (i >= 10000) b.add(KEY, 'user', id(i));
      all.add(KEY, 'user', id(i));
    }
    const merged = new Hll().merge(a).merge(b);
    expect(Buffer.from(merged.registers).equals(Buffer.from(all.registers))).toBe(true);
    expect(merged.estimate()).toBe(all.estimate());
    expect(new Hll().merge(a).merge(a).estimate()).toBe(a.estimate()); // idempotent
  });

  it('estimates within 3 standard errors at small, middle and large counts', () => {
    for (const n of [0, 1, 10, 500, 5000, 45000, 120000]) {
      const h = new Hll();
      for (let i = 0; i < n; i++) h.add(KEY, 'host', id(i));
      const est = h.estimate();
      if (n === 0) expect(est).toBe(0);
      else expect(Math.abs(est - n) / n, `n=${n} est=${est}`).toBeLessThanOrEqual(Math.max(3 * HLL_RSE, 1 / n));
    }
  });

  it('stores 16,384 one-byte registers and nothing else; another key or kind gives other registers', () => {
    const h = new Hll();
    for (let i = 0; i < 100; i++) h.add(KEY, 'user', id(i));
    const text = h.encode();
    expect(Buffer.from(text, 'base64')).toHaveLength(HLL_M);
    expect(Hll.decode(text).estimate()).toBe(h.estimate());
    expect(() => Hll.decode(Buffer.alloc(10).toString('base64'))).toThrow(/registers/);
    const other = new Hll();
    for (let i = 0; i < 100; i++) other.add(Buffer.alloc(32, 8), 'user', id(i));
    expect(other.encode()).not.toBe(text);
    const kind = new Hll();
    for (let i = 0; i < 100; i++) kind.add(KEY, 'script', id(i));
    expect(kind.encode()).not.toBe(text);
    expect(Math.max(...h.registers)).toBeLessThanOrEqual(64 - 14 + 1);
  });
});
