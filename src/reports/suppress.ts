import type { Breakdown, ValueCount } from './queries/breakdowns.js';
import type { BreakdownRow, Cell, ExitCodeRow } from './report-types.js';
import { cleanLabel } from './escape.js';

/**
 * Small-count suppression. A cell backed by fewer than K people is replaced by the string "< K"
 * and, in a breakdown, folded into "other" (the query layer already left such values out of the
 * top list; see breakdowns.ts). "Backed by" counts distinct user IDs plus runs that carry no user
 * ID at all (Parsl format 1): such runs cannot be told apart by person, so each counts as one
 * person — an upper bound, documented in docs/reports.md. With --raw (JSON only) nothing is
 * suppressed.
 */
export interface Suppression {
  k: number;
  raw: boolean;
}

export function hidden(s: Suppression): string {
  return `< ${s.k}`;
}

/** A count shown only when at least K people back it (0 reveals nobody and is always shown). */
export function cell(value: number, backing: number, s: Suppression): Cell {
  if (s.raw || value === 0 || backing >= s.k) return value;
  return hidden(s);
}

function share(runs: number, total: number): number | null {
  return total > 0 ? Math.round((runs / total) * 10000) / 10000 : null;
}

function row(v: ValueCount, total: number, s: Suppression): BreakdownRow {
  const backing = v.users + v.idless;
  const shown = s.raw || backing >= s.k;
  return {
    value: typeof v.value === 'number' ? String(v.value) : cleanLabel(v.value),
    runs: shown ? v.runs : hidden(s),
    // Never a user count between 1 and K-1 under the banner that says such cells are hidden
    // (a row can be shown because runs without user IDs back it, each counted as one person).
    users: shown && (s.raw || v.users === 0 || v.users >= s.k) ? v.users : hidden(s),
    share: shown ? share(v.runs, total) : null,
  };
}

export function breakdownRows(b: Breakdown, s: Suppression): BreakdownRow[] {
  const rows = b.rows.map((v) => row(v, b.runs, s));
  if (b.other) rows.push({ ...row(b.other, b.runs, s), value: 'other' });
  return rows;
}

export function exitCodeRows(b: Breakdown, s: Suppression): ExitCodeRow[] {
  return breakdownRows(b, s).map((r, i) => ({
    code: i < b.rows.length ? Number(b.rows[i]!.value) : 'other',
    runs: r.runs,
    users: r.users,
    share: r.share,
  }));
}
