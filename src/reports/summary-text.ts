import { cellText, duration, hoursText, percent } from './format.js';
import type { PeriodReport } from './period-types.js';
import type { Cell, Quality, Report } from './report-types.js';

/**
 * The paragraph at the top of every report, for a maintainer to paste into a grant report: who
 * used the software, how much, how reliably, the trend, and the data-quality caveat. Built only
 * from the report object, with the very formatters the tables use, so every number in it is the
 * one printed in a table below it. It holds no sender string (no project name, no version), so it
 * needs no escaping in any format.
 */
function users(c: Cell, word = 'users'): string {
  if (c === null) return `an unknown number of ${word}`;
  if (typeof c === 'string') return `fewer than ${c.replace(/^<\s*/, '')} ${word}`;
  return `${cellText(c)} ${c === 1 ? word.replace(/s$/, '') : word}`;
}

function count(c: Cell, word: string): string {
  if (c === null) return `an unknown number of ${word}`;
  return `${cellText(c)} ${word}`;
}

function reliability(rate: number | null, median: number | null): string {
  const parts: string[] = [];
  if (rate !== null) parts.push(`${percent(rate)} of the completed runs that report an exit code succeeded (exit 0)`);
  if (median !== null) parts.push(`the median run took ${duration(median)}`);
  if (parts.length === 0) return '';
  const s = parts.join('; ');
  return `${s[0]!.toUpperCase()}${s.slice(1)}.`;
}

function qualityCaveat(q: Quality, runs: Cell, idless: Cell): string {
  const out: string[] = [];
  if (q.estimated_message_loss_rate === null) {
    out.push('datagram loss could not be estimated (no native-protocol run completed), so counts are lower bounds');
  } else {
    out.push(
      `an estimated ${percent(q.estimated_message_loss_rate, 3)} of messages were lost in transit (95% upper bound ${percent(q.message_loss_rate_upper_95, 3)}), so run counts may be low by about that much`,
    );
  }
  if (typeof idless === 'number' && idless > 0 && typeof runs === 'number')
    out.push(
      `${cellText(idless)} ${idless === 1 ? 'run comes' : 'runs come'} from clients that send no user ID and ${idless === 1 ? 'counts' : 'count'} as runs only`,
    );
  return `Data quality: ${out.join('; ')}.`;
}

export function periodSummaryText(r: PeriodReport): string {
  const who = r.project === null ? 'Across all projects' : 'For this project';
  const partial = r.incomplete_months.length ? ` (${r.incomplete_months.join(', ')} still in progress)` : '';
  if (r.empty) return `${who}, no runs were recorded from ${r.from} to ${r.to}${partial}.`;
  const approx = r.distinct.method === 'estimate' ? ` (estimated, ±${percent(r.distinct.relative_error_95)} at 95%)` : '';
  const s: string[] = [];
  s.push(
    `${who}, from ${r.from} to ${r.to}${partial}, ${users(r.unique_users, 'distinct users')}${approx} on ${users(r.unique_hosts, 'hosts')} started ${count(r.runs_started, 'runs')} (${count(r.runs_completed, 'completed')}, ${hoursText(r.compute_hours)} compute hours).`,
  );
  const rel = reliability(r.success_rate, r.duration_s.median);
  if (rel) s.push(rel);
  const g = r.growth;
  if (g.first_month && g.last_month) {
    const change =
      g.change_pct === null ? '' : ` (${g.change_pct > 0 ? '+' : g.change_pct < 0 ? '−' : '±'}${Math.abs(g.change_pct).toFixed(1)}%)`;
    s.push(
      `Monthly active users went from ${cellText(g.first)} in ${g.first_month} to ${cellText(g.last)} in ${g.last_month}${change}, and ${users(r.new_users, 'new users')} were first seen during the period.`,
    );
  } else {
    s.push(`${users(r.new_users, 'new users')} were first seen during the period.`.replace(/^./, (c) => c.toUpperCase()));
  }
  s.push(qualityCaveat(r.quality, r.runs, r.runs_without_user_id));
  return s.join(' ');
}

export function monthlySummaryText(r: Report): string {
  const who = r.project === null ? 'Across all projects' : 'For this project';
  const partial = r.incomplete_month ? ' (still in progress)' : '';
  if (r.empty) return `${who}, no runs were recorded in ${r.month}${partial}.`;
  const s: string[] = [];
  s.push(
    `${who}, in ${r.month}${partial}, ${users(r.unique_users)} on ${users(r.unique_hosts, 'hosts')} started ${count(r.runs_started, 'runs')} (${count(r.runs_completed, 'completed')}, ${hoursText(r.compute_hours)} compute hours); ${users(r.new_users, 'new users')} were seen for the first time.`,
  );
  const rel = reliability(r.success_rate, r.duration_s.median);
  if (rel) s.push(rel);
  const prev = r.changes.unique_users?.previous;
  if (prev !== null && prev !== undefined && typeof r.unique_users === 'number') {
    const pct = r.changes.unique_users?.change_pct;
    const change = pct === null || pct === undefined ? '' : ` (${pct > 0 ? '+' : pct < 0 ? '−' : '±'}${Math.abs(pct).toFixed(1)}%)`;
    s.push(`Unique users went from ${cellText(prev)} in ${r.previous_month} to ${cellText(r.unique_users)}${change}.`);
  }
  s.push(qualityCaveat(r.quality, r.runs, r.runs_without_user_id));
  return s.join(' ');
}
