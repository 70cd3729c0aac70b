import { BeaconError } from '../errors.js';

/**
 * Calendar months as the store keys them: `month` is the integer YYYYMM of the receiver's UTC
 * clock. Everything here is UTC; local time never decides which month a run belongs to.
 */
export interface Month {
  /** 202610 — the value of run_facts.month. */
  key: number;
  /** "2026-10" — how the report prints it. */
  label: string;
}

export function monthFromKey(key: number): Month {
  const y = Math.floor(key / 100);
  const m = key % 100;
  return { key, label: `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}` };
}

/** Parse `--month`; anything but a real YYYY-MM (months 01-12, years 2000-9999) is a usage error. */
export function parseMonth(text: string): Month {
  const m = /^(\d{4})-(\d{2})$/.exec(text);
  const year = m ? Number(m[1]) : NaN;
  const month = m ? Number(m[2]) : NaN;
  if (!m || month < 1 || month > 12 || year < 2000) {
    throw new BeaconError('BEACON_ERR_BAD_MONTH', `--month must be YYYY-MM (e.g. 2026-10), got ${JSON.stringify(text.slice(0, 40))}`);
  }
  return monthFromKey(year * 100 + month);
}

/** The month `delta` months after (negative: before) `m`. */
export function addMonths(m: Month, delta: number): Month {
  const idx = Math.floor(m.key / 100) * 12 + (m.key % 100) - 1 + delta;
  return monthFromKey(Math.floor(idx / 12) * 100 + (idx % 12) + 1);
}

/** The last complete UTC month at `nowMs` (the clock is injectable so tests need not wait for one). */
export function defaultMonth(nowMs: number): Month {
  const d = new Date(nowMs);
  return addMonths(monthFromKey(d.getUTCFullYear() * 100 + d.getUTCMonth() + 1), -1);
}

/** The `count` months ending with `last`, oldest first. */
export function monthsEnding(last: Month, count: number): Month[] {
  return Array.from({ length: count }, (_, i) => addMonths(last, i - count + 1));
}

/** First day of the month and first day of the next, as the YYYY-MM-DD keys of daily_counters. */
export function dayRange(m: Month): { from: string; to: string } {
  return { from: `${m.label}-01`, to: `${addMonths(m, 1).label}-01` };
}

/** True while the month has not ended at `nowMs`: its numbers can still grow. */
export function isIncomplete(m: Month, nowMs: number): boolean {
  return m.key >= addMonths(defaultMonth(nowMs), 1).key;
}
