import type { Cell, Change } from './report-types.js';

/**
 * Number formatting shared by the md, html and csv renderers. Hand-written rather than
 * toLocaleString so output never depends on the machine's locale or ICU build (determinism).
 */
export function int(n: number): string {
  const [whole, frac] = String(n).split('.');
  const grouped = whole!.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return frac === undefined ? grouped : `${grouped}.${frac}`;
}

/** A count cell: numbers grouped, suppressed cells as given ("< 5"), unknown as "unknown". */
export function cellText(c: Cell): string {
  if (c === null) return 'unknown';
  return typeof c === 'number' ? int(c) : c;
}

export function percent(x: number | null, digits = 1): string {
  return x === null ? 'n/a' : `${(x * 100).toFixed(digits)}%`;
}

/**
 * Seconds as a short human duration, always one decimal so values side by side read alike:
 * 42.0 s, 12.5 min, 2.0 h, 2.1 d.
 */
export function duration(s: number | null): string {
  if (s === null) return 'n/a';
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${(s / 60).toFixed(1)} min`;
  if (s < 86400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

/** A count of hours, one decimal everywhere it is shown ("281.4", "317.6", "< 5"). */
export function hoursText(c: Cell): string {
  if (c === null) return 'unknown';
  if (typeof c !== 'number') return c;
  const [whole, frac] = c.toFixed(1).split('.');
  return `${int(Number(whole))}.${frac}`;
}

/** A month as a table or chart shows it: an unfinished month says so. */
export function monthText(month: string, partial: boolean): string {
  return partial ? `${month} (partial)` : month;
}

/** "+134 (+12.2%)", "−3 (−1.0%)", "n/a". Rates change in percentage points. */
export function changeText(c: Change | undefined, kind: 'count' | 'rate' | 'seconds' | 'hours' = 'count'): string {
  if (!c || c.change === null) return 'n/a';
  const sign = c.change > 0 ? '+' : c.change < 0 ? '−' : '±';
  const mag = Math.abs(c.change);
  const body =
    kind === 'rate'
      ? `${(mag * 100).toFixed(1)} pp`
      : kind === 'seconds'
        ? duration(mag)
        : kind === 'hours'
          ? hoursText(mag)
          : int(Math.round(mag * 100) / 100);
  if (kind === 'rate' || c.change_pct === null) return `${sign}${body}`;
  return `${sign}${body} (${sign}${Math.abs(c.change_pct).toFixed(1)}%)`;
}
