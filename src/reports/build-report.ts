import { cleanLabel } from './escape.js';
import { int } from './format.js';
import { addMonths, isIncomplete, type Month } from './month.js';
import type { MonthData } from './collect.js';
import type { MonthSummary } from './queries/summary.js';
import { buildQuality } from './quality.js';
import { monthlySummaryText } from './summary-text.js';
import { buildPoisoning } from './poisoning.js';
import type { Cell, Change, HistogramRow, Report } from './report-types.js';
import { breakdownRows, cell, exitCodeRows, type Suppression } from './suppress.js';

/**
 * Turns the collected numbers into the report object (= the JSON format): applies suppression,
 * computes changes and shares, writes the notes a reader needs. No I/O, no clock: the same data
 * and options always give the same object.
 */
export interface BuildOptions {
  month: Month;
  project: string | null;
  suppression: Suppression;
  /** Only decides whether the month is flagged as still in progress. */
  nowMs: number;
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const r2 = (x: number) => Math.round(x * 100) / 100;
const r4 = (x: number) => Math.round(x * 10000) / 10000;

function successRate(s: MonthSummary): number | null {
  return s.runs_with_exit_code > 0 ? r4(s.runs_succeeded / s.runs_with_exit_code) : null;
}

function meanS(s: MonthSummary): number | null {
  return s.duration_runs > 0 ? r1(s.compute_ms / s.duration_runs / 1000) : null;
}

/** Headline counts of one month, suppressed; user-based counts are null when no run has a user ID. */
export function headline(s: MonthSummary, sup: Suppression) {
  // Unknown only when there are runs and none carries a user ID; a month without runs has 0 users.
  const idKnown = s.runs === 0 || s.runs > s.runs_without_user_id;
  const backing = s.unique_users + s.runs_without_user_id;
  const users = (v: number, b = v) => (idKnown ? cell(v, b, sup) : null);
  return {
    unique_users: users(s.unique_users),
    unique_hosts: users(s.unique_hosts, s.unique_users),
    unique_scripts: users(s.unique_scripts, s.unique_users),
    new_users: users(s.new_users),
    returning_users: users(s.unique_users - s.new_users),
    runs: cell(s.runs, backing, sup),
    runs_started: cell(s.runs_started, backing, sup),
    runs_completed: cell(s.runs_completed, backing, sup),
    compute_hours: cell(r2(s.compute_ms / 3_600_000), backing, sup),
    success_rate: backing >= sup.k || sup.raw ? successRate(s) : null,
    duration_s:
      backing >= sup.k || sup.raw ? { median: s.median_s, mean: meanS(s), p90: s.p90_s } : { median: null, mean: null, p90: null },
  };
}

function change(now: Cell | number | null, prev: Cell | number | null): Change {
  const p = typeof prev === 'number' ? prev : null;
  if (typeof now !== 'number' || p === null) return { previous: p, change: null, change_pct: null };
  return { previous: p, change: r4(now - p), change_pct: p !== 0 ? r1(((now - p) / Math.abs(p)) * 100) : null };
}

export function histogramLabel(from: number, to: number | null): string {
  const f = (s: number) => (s < 60 ? `${s}s` : s < 3600 ? `${s / 60}m` : s < 86400 ? `${s / 3600}h` : `${s / 86400}d`);
  return to === null ? `≥ ${f(from)}` : `${f(from)}–${f(to)}`;
}

function notes(s: MonthSummary, d: MonthData, o: BuildOptions, empty: boolean): string[] {
  const out: string[] = [];
  const pruned = rollupNote(d, o);
  if (pruned) out.push(pruned);
  // Notes hold no sender strings (not even the project name), so md can print them unescaped.
  const what = o.project === null ? '' : ' for this project';
  if (empty)
    out.push(
      `No runs were recorded in ${o.month.label}${what}. Check --month, --project and --db, and that the receiver was running that month.`,
    );
  if (isIncomplete(o.month, o.nowMs)) out.push(`${o.month.label} has not ended yet: its numbers will still grow.`);
  if (!empty && s.runs_without_user_id === s.runs) {
    out.push(
      `None of this month's runs carry a user ID (all come from Parsl-compatible clients of format 1, which send none), so unique users, hosts, scripts and new users cannot be counted: they are reported as unknown, not as 0.`,
    );
  } else if (s.runs_without_user_id > 0) {
    out.push(
      `${int(s.runs_without_user_id)} of ${int(s.runs)} runs (${r1((100 * s.runs_without_user_id) / s.runs)}%) come from Parsl-compatible clients that send no user ID; they count as runs but not in users, hosts or scripts.`,
    );
  }
  if (s.runs_weak_ids > 0)
    out.push(
      `${int(s.runs_weak_ids)} ${s.runs_weak_ids === 1 ? 'run comes' : 'runs come'} from legacy Parsl clients, which send short unsalted hashes of user and host names; the collector stores them only re-keyed with its own secret. They are counted like other IDs.`,
    );
  if (s.runs_ephemeral_ids > 0)
    out.push(
      `${int(s.runs_ephemeral_ids)} runs used ephemeral IDs (the beacon could not keep a state file), so their users may be counted more than once.`,
    );
  const days = new Date(Date.UTC(Math.floor(o.month.key / 100), o.month.key % 100, 0)).getUTCDate();
  if (d.counters.days < days)
    out.push(`The receiver's daily counters cover ${d.counters.days} of the month's ${days} days; datagram totals cover only those days.`);
  if (o.project !== null) out.push('Datagram counters (received, duplicates, rejected) describe the whole collector, not one project.');
  if (!o.suppression.raw)
    out.push(`Cells backed by fewer than ${o.suppression.k} distinct users are shown as "< ${o.suppression.k}" and folded into "other".`);
  return out;
}

/** First, so a reader sees it before the numbers; one line, whatever else was pruned. */
function rollupNote(d: MonthData, o: BuildOptions): string | null {
  const labels = d.fromRollups.map((m) => m.label);
  if (labels.length === 0) return null;
  const reported = labels.includes(o.month.label);
  const others = labels.filter((l) => l !== o.month.label);
  const list = (ls: string[]) => (ls.length <= 3 ? ls.join(', ') : `${ls[0]} to ${ls[ls.length - 1]} (${ls.length} months)`);
  const same = 'which hold the same aggregates as the raw runs, so the numbers equal the report made before pruning.';
  if (!reported)
    return `The raw runs of ${list(others)} were pruned (beacon prune): their trend and comparison numbers come from the monthly rollups kept at pruning, ${same}`;
  const also = others.length ? ` (so do the trend's numbers for ${list(others)})` : '';
  return `The raw runs of ${o.month.label} were pruned (beacon prune): this report comes from the monthly rollups kept at pruning${also}, ${same}`;
}

export function buildReport(d: MonthData, o: BuildOptions): Report {
  const r = buildNumbers(d, o);
  r.summary_text = monthlySummaryText(r);
  return r;
}

function buildNumbers(d: MonthData, o: BuildOptions): Report {
  const sup = o.suppression;
  const s = d.summary;
  const empty = s.runs === 0;
  const now = headline(s, sup);
  const prev = headline(d.previous, sup);
  const changes: Record<string, Change> = {};
  for (const key of [
    'unique_users',
    'unique_hosts',
    'unique_scripts',
    'new_users',
    'returning_users',
    'runs_started',
    'runs_completed',
    'compute_hours',
    'success_rate',
  ] as const) {
    changes[key] = change(now[key], prev[key]);
  }
  for (const key of ['median', 'mean', 'p90'] as const) changes[`duration_s.${key}`] = change(now.duration_s[key], prev.duration_s[key]);
  // Bins count runs, not people: the histogram is left out when the whole month is backed by
  // fewer than K people, since then any bin could single someone out.
  const showHistogram = sup.raw || s.unique_users + s.runs_without_user_id >= sup.k;
  const histogram: HistogramRow[] = showHistogram
    ? d.durations.histogram.map((b) => ({ ...b, label: histogramLabel(b.from_s, b.to_s) }))
    : [];
  // Component keys come from senders and may be "__proto__": a null-prototype object keeps them data.
  const components = Object.create(null) as Report['components'];
  for (const [key, b] of d.components) components[cleanLabel(key)] = breakdownRows(b, sup);
  const breakdowns: Report['breakdowns'] = {};
  for (const [name, b] of Object.entries(d.breakdowns)) breakdowns[name] = breakdownRows(b, sup);
  return {
    report: 'usage-beacon monthly report',
    report_version: 1,
    month: o.month.label,
    previous_month: addMonths(o.month, -1).label,
    project: o.project === null ? null : cleanLabel(o.project),
    incomplete_month: isIncomplete(o.month, o.nowMs),
    empty,
    suppression: { min_users: sup.k, applied: !sup.raw },
    source: {
      month: d.fromRollups.some((m) => m.key === o.month.key) ? 'rollups' : 'runs',
      months_from_rollups: d.fromRollups.map((m) => m.label),
    },
    unique_users: now.unique_users,
    unique_hosts: now.unique_hosts,
    unique_scripts: now.unique_scripts,
    new_users: now.new_users,
    returning_users: now.returning_users,
    runs_started: now.runs_started,
    runs_completed: now.runs_completed,
    success_rate: now.success_rate,
    compute_hours: now.compute_hours,
    duration_s: now.duration_s,
    runs: now.runs,
    runs_without_user_id: s.runs_without_user_id,
    runs_weak_ids: s.runs_weak_ids,
    runs_ephemeral_ids: s.runs_ephemeral_ids,
    changes,
    exit_codes: exitCodeRows(d.exitCodes, sup),
    breakdowns,
    components,
    run_length_histogram: histogram,
    trend: d.trend.map((t) => {
      const h = headline(t.summary, sup);
      return { month: t.month.label, unique_users: h.unique_users, runs_started: h.runs_started, compute_hours: h.compute_hours };
    }),
    quality: { ...buildQuality(s, d.counters), poisoning: d.poisoning ? buildPoisoning(d.poisoning, sup) : null },
    notes: notes(s, d, o, empty),
    summary_text: '',
  };
}
