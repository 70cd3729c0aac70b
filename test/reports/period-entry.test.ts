import { describe, expect, it } from 'vitest';
import { packIds } from '../../src/reports/id-set.js';
import { decodeEntry, encodeEntry, entryVersion, type PeriodMonthEntry, type SectionValue } from '../../src/reports/period-entry.js';
import { hexId } from './store-fixture.js';

/** The period report's per-month entry in its cached binary form (src/reports/period-entry.ts). */
describe('period entry encoding', () => {
  const ix = (...n: number[]) => {
    const b = Buffer.alloc(n.length * 4);
    n.forEach((x, i) => b.writeUInt32BE(x, i * 4));
    return b;
  };
  const entry: PeriodMonthEntry = {
    v: 123456,
    users: packIds([hexId('u1'), 'odd-ü', hexId('u2')]).list,
    hosts: packIds([hexId('h1')]).list,
    scripts: packIds([]).list,
    durations: [1000, 3, 2_000_000_000_000, 1],
    sections: new Map<string, SectionValue[]>([
      [
        'd:platforms',
        [
          ['linux-x64', 5, 1, ix(0, 2)],
          [null, 1, 1, ix()],
        ],
      ],
      [
        'exit',
        [
          [0, 4, 0, ix(1)],
          [-1.5, 1, 0, ix(0, 1, 2)],
        ],
      ],
      ['c:Ω key', []],
    ]),
  };

  it('gives back every field exactly: text, number and null values, other IDs, large counts, empty lists', () => {
    const b = encodeEntry(entry);
    expect(entryVersion(b)).toBe(123456);
    const d = decodeEntry(b);
    expect(d.v).toBe(123456);
    expect(d.users.hex.equals(entry.users.hex)).toBe(true);
    expect(d.users.other).toEqual(['odd-ü']);
    expect(d.hosts.hex.equals(entry.hosts.hex)).toBe(true);
    expect(d.scripts.hex.length).toBe(0);
    expect(d.durations).toEqual(entry.durations);
    expect([...d.sections.keys()]).toEqual(['d:platforms', 'exit', 'c:Ω key']);
    const plain = (s: PeriodMonthEntry['sections']) => [...s].map(([k, vs]) => [k, vs.map(([v, r, i, x]) => [v, r, i, [...x]])]);
    expect(plain(d.sections)).toEqual(plain(entry.sections));
  });

  it('refuses a damaged value (truncated or with trailing bytes), so the month is recomputed', () => {
    const b = encodeEntry(entry);
    expect(() => decodeEntry(b.subarray(0, b.length - 3))).toThrow();
    expect(() => decodeEntry(Buffer.concat([b, Buffer.from([0])]))).toThrow(/trailing/);
    expect(entryVersion(Buffer.from('{"'))).toBe(0);
  });
});
