import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeBatch, encodeBatch, transferables, WireBatchBuilder } from '../../../src/store/sqlite/wire-batch.js';
import { RecentKeys } from '../../../src/receiver/dedupe.js';
import type { IngestRecord } from '../../../src/store/types.js';

const native: IngestRecord = {
  run: '0b7f0d3e-2a4c-4b8e-9a4f-2f2b6f0d9c11',
  kind: 'start',
  project: 'parsl',
  format: 'native',
  user_id: 'a'.repeat(32),
  host_id: 'b'.repeat(32),
  script_id: 'c'.repeat(32),
  weak_ids: false,
  eph: true,
  version: '2025.01.13',
  runtime: 'python/3.11.7',
  os: 'linux',
  arch: 'x64',
  ci: false,
  components: '{"executors":2,"provider":"slurm"}',
  seen_ms: 1_795_466_731_384,
  month: 202611,
  client_ms: 1_795_466_731_000,
  exit_code: null,
  duration_ms: null,
};
const nativeEnd: IngestRecord = {
  ...native,
  kind: 'end',
  eph: false,
  ci: true,
  components: null,
  exit_code: 0,
  duration_ms: 0,
  client_ms: 0,
};
const legacy: IngestRecord = {
  run: '5a0c7d7e-1f7e-4a47-b0a5-3f1c7a6b2e90',
  kind: 'end',
  project: 'parsl',
  format: 'parsl-legacy',
  user_id: '0123456789',
  host_id: null,
  script_id: null,
  weak_ids: true,
  eph: false,
  version: null,
  runtime: null,
  os: null,
  arch: null,
  ci: null,
  components: null,
  seen_ms: 1,
  month: 202601,
  client_ms: null,
  exit_code: null,
  duration_ms: 600_000,
};
const parsl1: IngestRecord = {
  ...legacy,
  format: 'parsl-1',
  kind: 'start',
  weak_ids: false,
  user_id: null,
  version: '2024.1',
  runtime: 'python/3.12',
  os: 'Linux',
  components: '{"htex":1,"note":"é ü 𝄞 \\u0000 \\" x"}',
  duration_ms: null,
  client_ms: 1_736_800_000_000,
};
// Empty strings, and text with every kind of character, must keep their boundaries.
const odd: IngestRecord = { ...native, project: '', version: '', components: '{"k":"\u2028\uffff"}', os: '\u0000\u001f', arch: 'x' };

describe('batch-wire', () => {
  it('round-trips native and Parsl records, null fields, flags and numbers', () => {
    const records = [native, nativeEnd, legacy, parsl1, odd];
    const b = encodeBatch(records);
    expect(b.count).toBe(5);
    // What crosses to the thread is a structured clone of exact copies: simulate it, transfer included.
    const copy = { count: b.count, bytes: new Uint8Array(b.bytes), lengths: b.lengths.slice(), numbers: b.numbers.slice() };
    const cloned = structuredClone(copy, { transfer: transferables(copy) });
    expect(decodeBatch(cloned)).toEqual(records);
    // The original is intact after the transfer: a failed batch is sent again from it.
    expect(b.bytes.buffer.byteLength).toBeGreaterThan(0);
    expect(decodeBatch(b)).toEqual(records);
    // Built one record at a time, with the arrays growing several times, it is the same batch.
    const builder = new WireBatchBuilder(1);
    for (let i = 0; i < 300; i++) builder.add(records[i % records.length]!);
    expect(decodeBatch(builder.finish())).toEqual(Array.from({ length: 300 }, (_, i) => records[i % records.length]));
  });
  it('handles an empty batch and a large one', () => {
    expect(encodeBatch([]).bytes.length).toBe(0);
    expect(decodeBatch(structuredClone(encodeBatch([])))).toEqual([]);
    const many = Array.from({ length: 10_000 }, (_, i) => ({ ...native, seen_ms: i, run: `${i}`.padStart(36, '0') }));
    expect(decodeBatch(encodeBatch(many))).toEqual(many);
  });
  it('refuses a batch whose parts disagree', () => {
    const b = encodeBatch([native]);
    const longer = new Uint8Array(b.bytes.length + 1);
    longer.set(b.bytes);
    expect(() => decodeBatch({ ...b, bytes: longer })).toThrow('malformed wire batch');
    expect(() => decodeBatch({ ...b, bytes: b.bytes.subarray(1) })).toThrow('malformed wire batch');
    expect(() => decodeBatch({ ...b, count: 2 })).toThrow('malformed wire batch');
  });
});

describe('RecentKeys ring', () => {
  it('evicts in insertion order across kinds, for many wraps of the ring', () => {
    const r = new RecentKeys(4);
    for (let i = 0; i < 50; i++) {
      expect(r.seen(`r${i}`, 'start')).toBe(false);
      expect(r.seen(`r${i}`, 'end')).toBe(false);
      expect(r.seen(`r${i}`, 'start')).toBe(true);
      expect(r.seen(`r${i}`, 'end')).toBe(true);
      expect(r.size).toBe(Math.min(4, 2 * (i + 1)));
    }
    // The last 4 pairs are r48/r49 starts and ends; r47 is gone.
    expect(r.seen('r48', 'start')).toBe(true);
    expect(r.seen('r47', 'end')).toBe(false);
  });
});

describe('RecentKeys table', () => {
  it('agrees with a reference FIFO set on UUID and other runs, through many evictions', () => {
    const cap = 1000;
    const r = new RecentKeys(cap);
    const ref = new Map<string, true>();
    const order: string[] = [];
    let head = 0;
    // A small pool of runs, so lookups hit, miss, and hit again after eviction; case matters.
    const pool = Array.from({ length: 1500 }, (_, i) => {
      const u = randomUUID();
      return i % 100 === 0 ? u.toUpperCase() : i % 101 === 0 ? `run-${i}` : u;
    });
    let seed = 7;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let n = 0; n < 60_000; n++) {
      const run = pool[Math.floor(rnd() * pool.length)]!;
      const kind = rnd() < 0.5 ? 'start' : 'end';
      const key = `${kind}|${run}`;
      const expected = ref.has(key);
      if (!expected) {
        ref.set(key, true);
        order.push(key);
        if (ref.size > cap) ref.delete(order[head++]!);
      }
      expect(r.seen(run, kind)).toBe(expected);
      expect(r.size).toBe(ref.size);
    }
  });
});
