import { cleanLabel } from './escape.js';
import { histogramLabel, headline } from './build-report.js';
import { isIncomplete, type Month } from './month.js';
import type { PeriodData } from './period-collect.js';
import type { PeriodMonthRow, PeriodReport } from './period-types.js';
import { buildQuality } from './quality.js';
import { periodSummaryText } from './summary-text.js';
import { breakdownRows, cell, exitCodeRows, type Suppression } from './suppress.js';
import { HLL_RSE } from './hll.js';

/**
 * The period report object from the collected numbers: suppression, growth, notes, the summary
 * paragraph. No I/O and no clock beyond `nowMs` (which only marks unfinished months).
 */
export interface PeriodBuildOptions {
  from: Month;
  to: Month;
  project: string | null;
  suppression: Suppression;
  nowMs: number;
}

const r1 = (x: number) => Math.round(x * 10) / 10;

function monthRow(x: PeriodData['months'][number], sup: Suppression, nowMs: number): PeriodMonthRow {
  const h = headline(x.summary, sup);
  const c = x.cumulative_users;
  return {
    month: x.month.label,
    partial: isIncomplete(x.month, nowMs),
    source: x.source,
    unique_users: h.unique_users,
    new_users: h.new_users,
    cumulative_users: c === null ? null : cell(c, c, sup),
    runs_started: h.runs_started,
    runs_completed: h.runs_completed,
    success_rate: h.success_rate,
    compute_hours: h.compute_hours,
  };
}

function notes(d: PeriodData, o: PeriodBuildOptions, r: Pick<PeriodReport, 'incomplete_months' | 'empty'>): string[] {
  const out: string[] = [];
  const list = (ms: Month[]) =>
    ms.length <= 3 ? ms.map((m) => m.label).join(', ') : `${ms[0]!.label} to ${ms[ms.length - 1]!.label} (${ms.length} months)`;
  if (d.distinct.method === 'estimate') {
    out.push(
      `The raw runs of ${list(d.fromRollups)} were pruned (beacon prune). Their runs, hours and new users come from the monthly rollups (exact); distinct users, hosts and scripts over the period are HyperLogLog estimates, within ±${r1(HLL_RSE * 196)}% (95%) of the true count.`,
    );
  } else if (d.distinct.method === 'unknown') {
    out.push(
      `The raw runs of ${list(d.withoutSketch)} were pruned before this usage-beacon kept distinct-count sketches: distinct users, hosts and scripts over the period cannot be counted and are reported as unknown. Runs, hours and new users are exact.`,
    );
  } else if (d.fromRollups.length) {
    out.push(`The raw runs of ${list(d.fromRollups)} were pruned (beacon prune); this scope had no runs in them.`);
  }
  const raw = d.months.filter((m) => m.source === 'runs').map((m) => m.month);
  if (d.fromRollups.length && !r.empty) {
    out.push(
      raw.length
        ? `Exit codes, breakdowns and run-length percentiles count distinct users per value, which monthly rollups cannot add up: they cover the months with raw runs (${list(raw)}). The run-length histogram covers every month.`
        : 'Exit codes, breakdowns and run-length percentiles need raw runs, and every month of the period was pruned: they are left out. The run-length histogram covers every month.',
    );
  }
  if (r.empty)
    out.push(
      `No runs were recorded from ${o.from.label} to ${o.to.label}${o.project === null ? '' : ' for this project'}. Check --from, --to, --project and --db.`,
    );
  if (r.incomplete_months.length)
    out.push(
      `${r.incomplete_months.join(', ')} ${r.incomplete_months.length === 1 ? 'has' : 'have'} not ended yet (marked "partial"): the numbers will still grow.`,
    );
  const s = d.total;
  if (!r.empty && s.runs_without_user_id === s.runs)
    out.push(
      'None of the runs carry a user ID (Parsl-compatible clients of format 1 send none): users, hosts and scripts are reported as unknown, not as 0.',
    );
  else if (s.runs_without_user_id > 0)
    out.push(
      `${s.runs_without_user_id} of ${s.runs} runs come from Parsl-compatible clients that send no user ID; they count as runs but not in users, hosts or scripts.`,
    );
  if (s.runs_ephemeral_ids > 0)
    out.push(
      `${s.runs_ephemeral_ids} runs used ephemeral IDs (the beacon could not keep a state file), so their users may be counted more than once.`,
    );
  out.push(
    'Distinct users over the period count each person once, however many months they were active: it is not the sum of the monthly figures. New users are people first seen (ever) in that month.',
  );
  if (o.project !== null) out.push('Datagram counters (received, duplicates, rejected) describe the whole collector, not one project.');
  if (!o.suppression.raw)
    out.push(`Cells backed by fewer than ${o.suppression.k} distinct users are shown as "< ${o.suppression.k}" and folded into "other".`);
  return out;
}

export function buildPeriodReport(d: PeriodData, o: PeriodBuildOptions): PeriodReport {
  const sup = o.suppression;
  const s = d.total;
  const empty = s.runs === 0;
  // The distinct counts are unknown (not 0) when no sketch can stand in for a pruned month.
  const h = headline(s, sup);
  const unknown = d.distinct.method === 'unknown';
  const monthly = d.months.map((x) => monthRow(x, sup, o.nowMs));
  // Growth between the first and last complete months with runs (an empty lead-in month says nothing).
  const complete = monthly.filter((m, i) => !m.partial && d.months[i]!.summary.runs > 0);
  const first = complete[0];
  const last = complete.length > 1 ? complete[complete.length - 1] : undefined;
  const fu = first?.unique_users;
  const lu = last?.unique_users;
  const growth = {
    first_month: first?.month ?? null,
    last_month: last?.month ?? null,
    first: fu ?? null,
    last: lu ?? null,
    change_pct: typeof fu === 'number' && typeof lu === 'number' && fu > 0 ? r1(((lu - fu) / fu) * 100) : null,
  };
  const showHistogram = sup.raw || s.unique_users + s.runs_without_user_id >= sup.k;
  const components = Object.create(null) as PeriodReport['components'];
  for (const [key, b] of d.components) components[cleanLabel(key)] = breakdownRows(b, sup);
  const breakdowns: PeriodReport['breakdowns'] = {};
  for (const [name, b] of Object.entries(d.breakdowns)) breakdowns[name] = breakdownRows(b, sup);
  const incomplete_months = monthly.filter((m) => m.partial).map((m) => m.month);
  const rse = d.distinct.relative_error;
  const report: PeriodReport = {
    report: 'usage-beacon period report',
    report_version: 1,
    from: o.from.label,
    to: o.to.label,
    months: d.months.length,
    project: o.project === null ? null : cleanLabel(o.project),
    incomplete_months,
    empty,
    suppression: { min_users: sup.k, applied: !sup.raw },
    source: {
      months_from_rollups: d.fromRollups.map((m) => m.label),
      months_without_sketch: d.withoutSketch.map((m) => m.label),
      breakdown_months: d.months.filter((m) => m.source === 'runs' && m.summary.runs > 0).map((m) => m.month.label),
    },
    distinct: {
      method: d.distinct.method,
      relative_error: rse,
      relative_error_95: rse === null ? null : Math.round(rse * 1.96 * 10000) / 10000,
    },
    unique_users: unknown ? null : h.unique_users,
    unique_hosts: unknown ? null : h.unique_hosts,
    unique_scripts: unknown ? null : h.unique_scripts,
    new_users: h.new_users,
    runs: h.runs,
    runs_started: h.runs_started,
    runs_completed: h.runs_completed,
    success_rate: h.success_rate,
    compute_hours: h.compute_hours,
    duration_s: h.duration_s,
    runs_without_user_id: s.runs_without_user_id,
    growth,
    monthly,
    exit_codes: exitCodeRows(d.exitCodes, sup),
    breakdowns,
    components,
    run_length_histogram: showHistogram ? d.durations.histogram.map((b) => ({ ...b, label: histogramLabel(b.from_s, b.to_s) })) : [],
    quality: buildQuality(s, d.counters),
    notes: [],
    summary_text: '',
  };
  report.notes = notes(d, o, report);
  report.summary_text = periodSummaryText(report);
  return report;
}
