import type { Breakdown, BreakdownOptions, ValueCount } from './queries/breakdowns.js';
import { IdSet } from './id-set.js';
import type { PeriodMonthEntry } from './period-entry.js';

/**
 * The period's exact figures from its months' entries (queries/period-month.ts), folded one month
 * at a time: each user gets a period-wide number the first time a month lists them (so the
 * order of first sight is the users' first months), and each section value keeps a bit set of
 * those numbers. Distinct users of a value over the period are the bits set; runs add up.
 * The selection and ordering rules are those of the SQL in queries/breakdowns.ts (top N by runs,
 * ties by value in byte order, "other" for everything not shown), so the output is unchanged.
 */

/** A growable bit set of period user numbers. */
class Bits {
  words = new Uint32Array(64);
  set(i: number): void {
    const w = i >>> 5;
    if (w >= this.words.length) {
      const next = new Uint32Array(Math.max(w + 1, this.words.length * 2));
      next.set(this.words);
      this.words = next;
    }
    this.words[w]! |= 1 << (i & 31);
  }
  or(o: Bits): void {
    if (o.words.length > this.words.length) {
      const next = new Uint32Array(o.words.length);
      next.set(this.words);
      this.words = next;
    }
    for (let i = 0; i < o.words.length; i++) this.words[i]! |= o.words[i]!;
  }
  size(): number {
    let n = 0;
    for (let v of this.words) {
      v -= (v >>> 1) & 0x55555555;
      v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
      n += (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
    }
    return n;
  }
}

interface Acc {
  value: string | number;
  runs: number;
  idless: number;
  users: Bits;
}

export interface PeriodMerge {
  /** Distinct users seen up to and including each merged month, in merge order. */
  cumulativeUsers: number[];
  /** Period users numbered in order of first sight (the numbers the bit sets hold). */
  users: IdSet;
  hosts: IdSet;
  scripts: IdSet;
  /** Runs per truncated run length (ms), every merged month. */
  durations: Map<number, number>;
  sections: Map<string, Map<string | number, Acc>>;
}

export function emptyMerge(): PeriodMerge {
  return { cumulativeUsers: [], users: new IdSet(), hosts: new IdSet(), scripts: new IdSet(), durations: new Map(), sections: new Map() };
}

/** Folds one month's entry into the period (months in calendar order). */
export function mergeMonth(m: PeriodMerge, e: PeriodMonthEntry): void {
  const local = m.users.addAll(e.users);
  m.cumulativeUsers.push(m.users.size);
  m.hosts.addAll(e.hosts);
  m.scripts.addAll(e.scripts);
  for (let i = 0; i < e.durations.length; i += 2)
    m.durations.set(e.durations[i]!, (m.durations.get(e.durations[i]!) ?? 0) + e.durations[i + 1]!);
  for (const [name, values] of e.sections) {
    let sec = m.sections.get(name);
    if (!sec) m.sections.set(name, (sec = new Map<string | number, Acc>()));
    for (const [v, runs, idless, b] of values) {
      const value = v as string | number; // null as JSON kept it: a value no row has (the SQL maps unknowns to text)
      let a = sec.get(value);
      if (!a) sec.set(value, (a = { value, runs: 0, idless: 0, users: new Bits() }));
      a.runs += runs;
      a.idless += idless;
      for (let i = 0; i < b.length; i += 4) a.users.set(local[b.readUInt32BE(i)]!);
    }
  }
}

/** SQL's ORDER BY of text under the stores' byte-order collation (BINARY, "C"); numbers numerically. */
function byValue(a: string | number, b: string | number): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return Buffer.compare(Buffer.from(String(a)), Buffer.from(String(b)));
}

const byRunsThenValue = (a: { runs: number; value: string | number }, b: { runs: number; value: string | number }) =>
  b.runs - a.runs || byValue(a.value, b.value);

function count(a: Acc): ValueCount {
  return { value: a.value, runs: a.runs, users: a.users.size(), idless: a.idless };
}

/** queries/breakdowns.ts `breakdown` over the merged section. */
export function mergedBreakdown(m: PeriodMerge, name: string, opts: BreakdownOptions): Breakdown {
  const all = [...(m.sections.get(name)?.values() ?? [])].sort(byRunsThenValue);
  const runs = all.reduce((s, a) => s + a.runs, 0);
  const rows = all
    .slice(0, opts.topN)
    .map(count)
    .filter((r) => r.users + r.idless >= opts.minBacking);
  const shown = new Set(rows.map((r) => r.value));
  if (rows.reduce((s, r) => s + r.runs, 0) === runs) return { rows, other: null, runs };
  const other = { value: 'other' as string | number, runs: 0, idless: 0, users: new Bits() };
  for (const a of all) {
    if (shown.has(a.value)) continue;
    other.runs += a.runs;
    other.idless += a.idless;
    other.users.or(a.users);
  }
  return { rows, other: count(other), runs };
}

/** Component keys by runs (most first, at most maxKeys), each with its breakdown. */
export function mergedComponents(m: PeriodMerge, maxKeys: number, opts: BreakdownOptions): Map<string, Breakdown> {
  const keys = [...m.sections.keys()]
    .filter((k) => k.startsWith('c:'))
    .map((k) => ({ value: k.slice(2), runs: [...m.sections.get(k)!.values()].reduce((s, a) => s + a.runs, 0) }))
    .sort(byRunsThenValue)
    .slice(0, maxKeys);
  return new Map(keys.map((k) => [String(k.value), mergedBreakdown(m, `c:${k.value}`, opts)]));
}
