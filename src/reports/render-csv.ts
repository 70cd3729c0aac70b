import { poisoningCsvRows } from './poisoning.js';
import { escapeCsv } from './escape.js';
import type { BreakdownRow, Cell, Quality, Report } from './report-types.js';

/**
 * CSV: one tidy table per section (one observation per row, one variable per column), with
 * machine-readable values — raw numbers, "< K" for suppressed cells, empty for unknown. With
 * --out DIR each section is DIR/<section>.csv; on stdout the sections follow each other, each
 * introduced by a `# <section>` line and separated by a blank line.
 */
export type CsvValue = Cell | boolean | undefined;
type Value = CsvValue;

function field(v: Value): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return escapeCsv(v);
}

export function csv(head: string[], rows: Value[][]): string {
  return [head.join(','), ...rows.map((r) => r.map(field).join(','))].join('\r\n') + '\r\n';
}

export function csvSections(r: Report): [string, string][] {
  const summaryKeys = [
    'unique_users',
    'unique_hosts',
    'unique_scripts',
    'new_users',
    'returning_users',
    'runs_started',
    'runs_completed',
    'success_rate',
    'compute_hours',
  ] as const;
  const summary: Value[][] = summaryKeys.map((k) => [k, r[k], r.changes[k]?.previous, r.changes[k]?.change, r.changes[k]?.change_pct]);
  for (const k of ['median', 'mean', 'p90'] as const) {
    const c = r.changes[`duration_s.${k}`];
    summary.push([`duration_s.${k}`, r.duration_s[k], c?.previous, c?.change, c?.change_pct]);
  }
  summary.push(
    ['runs', r.runs, undefined, undefined, undefined],
    ['runs_without_user_id', r.runs_without_user_id, undefined, undefined, undefined],
  );
  const scope = r.project ?? '';
  const breakdowns = breakdownCsvRows(r.breakdowns, r.components);
  const quality = qualityCsvRows(r.quality);
  return [
    [
      'summary',
      csv(
        ['month', 'project', 'metric', 'value', 'previous', 'change', 'change_pct'],
        summary.map((row) => [r.month, scope, ...row]),
      ),
    ],
    [
      'trend',
      csv(
        ['month', 'unique_users', 'runs_started', 'compute_hours'],
        r.trend.map((t) => [t.month, t.unique_users, t.runs_started, t.compute_hours]),
      ),
    ],
    [
      'exit_codes',
      csv(
        ['month', 'code', 'runs', 'share', 'users'],
        r.exit_codes.map((e) => [r.month, String(e.code), e.runs, e.share, e.users]),
      ),
    ],
    [
      'run_length',
      csv(
        ['month', 'from_s', 'to_s', 'runs'],
        r.run_length_histogram.map((h) => [r.month, h.from_s, h.to_s, h.runs]),
      ),
    ],
    [
      'breakdowns',
      csv(
        ['month', 'dimension', 'value', 'runs', 'share', 'users'],
        breakdowns.map((row) => [r.month, ...row]),
      ),
    ],
    [
      'quality',
      csv(
        ['month', 'measure', 'value'],
        quality.map((row) => [r.month, ...row]),
      ),
    ],
    [
      'uncertainty',
      csv(
        ['month', 'number', 'effect_of_loss'],
        Object.entries(r.quality.uncertainty).map(([k, v]) => [r.month, k, v]),
      ),
    ],
    // The summary paragraph first, then the notes: the same text the md and html open with.
    ['notes', csv(['month', 'kind', 'text'], [[r.month, 'summary', r.summary_text], ...r.notes.map((n): Value[] => [r.month, 'note', n])])],
  ];
}

export function renderCsvSections(r: Report): Map<string, string> {
  return new Map(csvSections(r));
}

export function renderCsvStream(r: Report): string {
  return csvSections(r)
    .map(([name, body]) => `# ${name}\r\n${body}`)
    .join('\r\n');
}

/** The breakdowns section's rows (dimension, value, runs, share, users), monthly and period alike. */
export function breakdownCsvRows(breakdowns: Record<string, BreakdownRow[]>, components: Record<string, BreakdownRow[]>): CsvValue[][] {
  const rows: CsvValue[][] = [];
  for (const [name, list] of Object.entries(breakdowns)) for (const b of list) rows.push([name, b.value, b.runs, b.share, b.users]);
  for (const [key, list] of Object.entries(components))
    for (const b of list) rows.push([`component:${key}`, b.value, b.runs, b.share, b.users]);
  return rows;
}

/** The data-quality section's rows (name, value), monthly and period alike. */
export function qualityCsvRows(q: Quality): CsvValue[][] {
  return [
    ['days_with_counters', q.days_with_counters],
    ['datagrams_received', q.datagrams_received],
    ['stored', q.stored],
    ['duplicates', q.duplicates],
    ...Object.entries(q.rejected).map(([k, v]): CsvValue[] => [`rejected.${k}`, v]),
    ['kernel_drops', q.kernel_drops],
    ['unmatched_starts', q.unmatched_starts],
    ['unmatched_ends', q.unmatched_ends],
    ['estimated_loss_rate', q.estimated_loss_rate],
    ['estimated_message_loss_rate', q.estimated_message_loss_rate],
    ['message_loss_rate_upper_95', q.message_loss_rate_upper_95],
    ['estimated_unfinished_runs', q.estimated_unfinished_runs],
    ...(q.poisoning ? poisoningCsvRows(q.poisoning) : []),
  ];
}
