import { cellText, changeText, duration, hoursText, int, monthText, percent } from './format.js';
import type { BreakdownRow, Report } from './report-types.js';

/**
 * The report's tables as plain rows of plain text, in reading order: the one place that decides
 * what a section shows. md and html render these; csv uses the raw numbers of the same object.
 * Texts here are either fixed or already cleaned by cleanLabel; renderers still escape them.
 */
export interface Table {
  id: string;
  title: string;
  /** Part of the title that came from a datagram (a component key): escaped by the renderer. */
  subject?: string;
  intro?: string;
  head: string[];
  /** Columns to right-align (numbers). */
  numeric: boolean[];
  /** Columns holding strings that came from datagrams; md escapes exactly these (html escapes all). */
  data?: boolean[];
  rows: string[][];
  /** One line shown instead of the table when there are no rows (or nothing above the threshold). */
  empty?: string;
}

/** A table whose every row is suppressed says so in one line instead of a table of "< K". */
function collapsed(t: Table, k: number): Table {
  if (t.rows.length === 0 || !t.rows.every((row) => row[1]!.startsWith('<'))) return t;
  return { ...t, rows: [], empty: `Nothing to show: no value is backed by ${k} or more users.` };
}

export const BREAKDOWN_TITLES: Record<string, string> = {
  projects: 'Projects',
  versions: 'Tool versions',
  runtimes: 'Runtimes',
  platforms: 'Operating system / architecture',
  ci: 'CI share',
  clients: 'Client protocol',
};

export function summaryTable(r: Report): Table {
  const c = r.changes;
  const d = r.duration_s;
  const rows: [string, string, string, string][] = [
    ['Unique users', cellText(r.unique_users), prevText(r, 'unique_users'), changeText(c.unique_users)],
    ['New users (first seen this month)', cellText(r.new_users), prevText(r, 'new_users'), changeText(c.new_users)],
    ['Returning users', cellText(r.returning_users), prevText(r, 'returning_users'), changeText(c.returning_users)],
    ['Unique hosts', cellText(r.unique_hosts), prevText(r, 'unique_hosts'), changeText(c.unique_hosts)],
    ['Unique scripts', cellText(r.unique_scripts), prevText(r, 'unique_scripts'), changeText(c.unique_scripts)],
    ['Runs started', cellText(r.runs_started), prevText(r, 'runs_started'), changeText(c.runs_started)],
    ['Runs completed', cellText(r.runs_completed), prevText(r, 'runs_completed'), changeText(c.runs_completed)],
    ['Success rate (exit 0)', percent(r.success_rate), percent(c.success_rate?.previous ?? null), changeText(c.success_rate, 'rate')],
    ['Compute hours', hoursText(r.compute_hours), hoursText(c.compute_hours?.previous ?? null), changeText(c.compute_hours, 'hours')],
    [
      'Run length, median',
      duration(d.median),
      duration(c['duration_s.median']?.previous ?? null),
      changeText(c['duration_s.median'], 'seconds'),
    ],
    ['Run length, mean', duration(d.mean), duration(c['duration_s.mean']?.previous ?? null), changeText(c['duration_s.mean'], 'seconds')],
    [
      'Run length, 90th percentile',
      duration(d.p90),
      duration(c['duration_s.p90']?.previous ?? null),
      changeText(c['duration_s.p90'], 'seconds'),
    ],
  ];
  return {
    id: 'summary',
    title: 'Summary',
    head: ['Metric', monthText(r.month, r.incomplete_month), r.previous_month, 'Change'],
    numeric: [false, true, true, true],
    rows,
  };
}

/** The trend's point for the reported month is marked when that month has not ended. */
export function trendMonth(r: Report, month: string): string {
  return monthText(month, r.incomplete_month && month === r.month);
}

function prevText(r: Report, key: string): string {
  const p = r.changes[key]?.previous;
  return p === null || p === undefined ? 'n/a' : int(p);
}

export function trendTable(r: Report): Table {
  return {
    id: 'trend',
    title: 'Trend, last 12 months',
    head: ['Month', 'Unique users', 'Runs started', 'Compute hours'],
    numeric: [false, true, true, true],
    rows: r.trend.map((t) => [trendMonth(r, t.month), cellText(t.unique_users), cellText(t.runs_started), hoursText(t.compute_hours)]),
  };
}

function shareText(s: number | null): string {
  return s === null ? '' : percent(s);
}

export function exitCodeTable(r: Pick<Report, 'exit_codes' | 'suppression'>): Table {
  return collapsed(
    {
      id: 'exit_codes',
      title: 'Exit codes',
      intro: 'Completed runs that report an exit code (Parsl clients send none). 0 is success; 128 + n means killed by signal n.',
      head: ['Exit code', 'Runs', 'Share', 'Users'],
      numeric: [false, true, true, true],
      rows: r.exit_codes.map((e) => [String(e.code), cellText(e.runs), shareText(e.share), cellText(e.users)]),
    },
    r.suppression.min_users,
  );
}

export function histogramTable(r: Pick<Report, 'run_length_histogram'>): Table {
  return {
    id: 'run_length',
    title: 'Run length',
    intro: 'Completed runs by run length, as measured by the tool itself.',
    head: ['Run length', 'Runs'],
    numeric: [false, true],
    rows: r.run_length_histogram.map((h) => [h.label, int(h.runs)]),
  };
}

export function breakdownTable(id: string, title: string, rows: BreakdownRow[], k: number, subject?: string): Table {
  return collapsed(
    {
      id,
      title,
      subject,
      head: ['Value', 'Runs', 'Share', 'Users'],
      numeric: [false, true, true, true],
      data: [true, false, false, false],
      rows: rows.map((b) => [b.value, cellText(b.runs), shareText(b.share), cellText(b.users)]),
    },
    k,
  );
}

export function breakdownTables(r: Pick<Report, 'breakdowns' | 'components' | 'suppression'>): Table[] {
  const out: Table[] = [];
  const k = r.suppression.min_users;
  for (const [name, rows] of Object.entries(r.breakdowns)) out.push(breakdownTable(name, BREAKDOWN_TITLES[name] ?? name, rows, k));
  for (const [key, rows] of Object.entries(r.components)) out.push(breakdownTable(`component-${out.length}`, 'Component: ', rows, k, key));
  return out;
}

export function qualityTable(r: Pick<Report, 'quality'>, span = "the month's"): Table {
  const q = r.quality;
  const rows: string[][] = [
    ['Datagrams received', int(q.datagrams_received)],
    ['Stored (first copy of a start or an end)', int(q.stored)],
    ['Duplicates (extra copies, dropped)', int(q.duplicates)],
    ...Object.entries(q.rejected).map(([reason, n]) => [`Rejected: ${reason.replace(/_/g, ' ')}`, int(n)]),
    ['Dropped by the kernel (receive buffer full)', int(q.kernel_drops)],
    ['Runs with a start but no end', int(q.unmatched_starts)],
    ['Runs with an end but no start', int(q.unmatched_ends)],
    ['Estimated datagram loss rate', percent(q.estimated_loss_rate, 2)],
    ['Estimated message loss (all copies lost)', percent(q.estimated_message_loss_rate, 3)],
    ['Message loss, 95% upper bound', percent(q.message_loss_rate_upper_95, 3)],
    ['Estimated crashed or still running', q.estimated_unfinished_runs === null ? 'n/a' : int(q.estimated_unfinished_runs)],
  ];
  return {
    id: 'quality',
    title: 'Data quality',
    intro: `Receiver counters for ${span} UTC days (${q.days_with_counters} days with counters), and what the runs themselves show.`,
    head: ['Measure', 'Value'],
    numeric: [false, true],
    rows,
  };
}

export function uncertaintyTable(r: Pick<Report, 'quality'>): Table {
  const names: Record<string, string> = {
    runs_started: 'Runs started',
    runs_completed: 'Runs completed',
    compute_hours: 'Compute hours',
    unique_users: 'Unique users',
    success_rate: 'Success rate',
    run_length: 'Run length',
  };
  return {
    id: 'uncertainty',
    title: 'How far the headline numbers could be off',
    head: ['Number', 'Effect of datagram loss'],
    numeric: [false, false],
    rows: Object.entries(r.quality.uncertainty).map(([k, v]) => [names[k] ?? k, v]),
  };
}

/** The report title; `subject` (the project name, from datagrams) is escaped by the renderer. */
export function title(r: Report): { before: string; subject: string; after: string } {
  return r.project === null
    ? { before: 'Usage report for all projects, ', subject: '', after: r.month }
    : { before: 'Usage report for project ', subject: r.project, after: `, ${r.month}` };
}
