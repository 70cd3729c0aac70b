import { cellText, duration, hoursText, monthText, percent } from './format.js';
import type { PeriodReport } from './period-types.js';
import type { Table } from './sections.js';

/** The period report's own tables (the shared ones — exit codes, breakdowns, quality — are in sections.ts). */
function distinctText(r: PeriodReport, c: PeriodReport['unique_users']): string {
  const t = cellText(c);
  return r.distinct.method === 'estimate' && typeof c === 'number' ? `≈ ${t} (±${percent(r.distinct.relative_error_95)})` : t;
}

/** The trend the summary paragraph states, as a table row: first to last complete month with runs. */
function growthRow(r: PeriodReport): string[][] {
  const g = r.growth;
  if (!g.first_month || !g.last_month) return [];
  const pct =
    g.change_pct === null ? '' : ` (${g.change_pct > 0 ? '+' : g.change_pct < 0 ? '−' : '±'}${Math.abs(g.change_pct).toFixed(1)}%)`;
  return [[`Monthly active users, ${g.first_month} → ${g.last_month}`, `${cellText(g.first)} → ${cellText(g.last)}${pct}`]];
}

export function periodSummaryTable(r: PeriodReport): Table {
  const d = r.duration_s;
  const scope = `${r.from} to ${r.to}`;
  return {
    id: 'summary',
    title: 'Summary',
    intro:
      r.distinct.method === 'estimate'
        ? `Distinct users, hosts and scripts are HyperLogLog estimates (≈): within ±${percent(r.distinct.relative_error_95)} of the true count with 95% probability.`
        : undefined,
    head: ['Metric', scope],
    numeric: [false, true],
    rows: [
      ['Distinct users over the period', distinctText(r, r.unique_users)],
      ['New users (first seen during the period)', cellText(r.new_users)],
      ['Distinct hosts', distinctText(r, r.unique_hosts)],
      ['Distinct scripts', distinctText(r, r.unique_scripts)],
      ['Runs started', cellText(r.runs_started)],
      ['Runs completed', cellText(r.runs_completed)],
      ['Success rate (exit 0)', percent(r.success_rate)],
      ['Compute hours', hoursText(r.compute_hours)],
      ['Run length, median', duration(d.median)],
      ['Run length, mean', duration(d.mean)],
      ['Run length, 90th percentile', duration(d.p90)],
      ...growthRow(r),
    ],
  };
}

export function periodMonthsTable(r: PeriodReport): Table {
  const est = r.distinct.method === 'estimate' ? ' (≈)' : '';
  return {
    id: 'months',
    title: 'Month by month',
    intro:
      'Active users are distinct users in that month; cumulative users are distinct users from the first month of the period up to that month (not a sum of the monthly figures).',
    head: [
      'Month',
      'Active users',
      'New users',
      `Cumulative users${est}`,
      'Runs started',
      'Runs completed',
      'Success rate',
      'Compute hours',
    ],
    numeric: [false, true, true, true, true, true, true, true],
    rows: r.monthly.map((m) => [
      monthText(m.month, m.partial),
      cellText(m.unique_users),
      cellText(m.new_users),
      cellText(m.cumulative_users),
      cellText(m.runs_started),
      cellText(m.runs_completed),
      percent(m.success_rate),
      hoursText(m.compute_hours),
    ]),
  };
}

export function periodTitle(r: PeriodReport): { before: string; subject: string; after: string } {
  const span = r.from === r.to ? r.from : `${r.from} to ${r.to}`;
  return r.project === null
    ? { before: 'Usage report for all projects, ', subject: '', after: span }
    : { before: 'Usage report for project ', subject: r.project, after: `, ${span}` };
}
