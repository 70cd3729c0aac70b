import { cellText, int, percent } from './format.js';
import type { PoisoningData, PoisoningTotals } from './queries/poisoning.js';
import { BURST_FACTOR, BURST_MIN, HEAVY_MIN_RUNS, HEAVY_SHARE, NETWORK_MIN, NETWORK_SHARE } from './queries/poisoning.js';
import type { Cell, Poisoning, PoisoningHeadline } from './report-types.js';
import type { Table } from './sections.js';
import { cell, type Suppression } from './suppress.js';

/**
 * The data-quality section's poisoning checks, as the report object holds them (= the JSON
 * format) and as one table for the md / html / csv renderers. Kept apart from quality.ts so the
 * loss estimate and these checks can change independently. Nothing here names an ID or a network:
 * only counts, shares and UTC days.
 */
const share = (n: number, of: number) => (of > 0 ? Math.round((n / of) * 10000) / 10000 : null);

function cells(t: PoisoningTotals, sup: Suppression): PoisoningHeadline {
  const backing = t.unique_users;
  return {
    runs_started: cell(t.runs_started, backing, sup),
    runs_completed: cell(t.runs_completed, backing, sup),
    compute_hours: cell(Math.round(t.compute_ms / 36_000) / 100, backing, sup),
    unique_users: cell(t.unique_users, backing, sup),
    new_users: cell(t.new_users, backing, sup),
  };
}

export function buildPoisoning(d: PoisoningData, sup: Suppression): Poisoning {
  const heavyRuns = d.heavy.reduce((a, h) => a + h.runs, 0);
  return {
    flagged: d.flagged_users > 0 || d.network_tags_flagged > 0,
    heavy_ids: {
      ids: d.heavy.length,
      runs: heavyRuns,
      share_of_runs: share(heavyRuns, d.total_runs),
      threshold: `an ID with at least ${HEAVY_MIN_RUNS} runs and ${HEAVY_SHARE * 100}% of the month's runs`,
    },
    one_off_bursts: {
      days: d.burst_days,
      median_per_day: d.median_one_off_per_day,
      threshold: `a UTC day with at least ${BURST_MIN} new IDs seen on that day only and never again, and ${BURST_FACTOR}× the month's median day`,
    },
    one_network: {
      networks: d.networks.map((n) => ({ ...n, share_of_new_users: share(n.new_users, d.all.new_users) })),
      flagged: d.network_tags_flagged,
      runs_tagged: d.runs_tagged,
      threshold: `one source network on one UTC day bringing at least ${NETWORK_MIN} new users and ${NETWORK_SHARE * 100}% of the month's new users`,
    },
    flagged_users: d.flagged_users,
    headline: cells(d.all, sup),
    without_flagged: cells(d.without, sup),
  };
}

/** "Could the headline numbers be inflated?": the checks, then each number with and without. */
export function poisoningTable(p: Poisoning): Table {
  const rows: string[][] = [
    [
      'Heavy IDs (a few IDs, many runs)',
      p.heavy_ids.ids === 0 ? 'none' : `${int(p.heavy_ids.ids)} IDs, ${int(p.heavy_ids.runs)} runs (${percent(p.heavy_ids.share_of_runs)})`,
    ],
    [
      'Bursts of one-off IDs',
      p.one_off_bursts.days.length === 0
        ? 'none'
        : p.one_off_bursts.days.map((d) => `${d.day}: ${int(d.one_off_users)}`).join('; ') +
          ` (median day: ${int(p.one_off_bursts.median_per_day)})`,
    ],
    [
      'One network, many new users',
      p.one_network.runs_tagged === 0
        ? 'not checked (no run carries a network tag)'
        : p.one_network.flagged === 0
          ? 'none'
          : p.one_network.networks.map((n) => `${n.day}: ${int(n.new_users)} (${percent(n.share_of_new_users)})`).join('; ') +
            (p.one_network.flagged > p.one_network.networks.length
              ? `; ${int(p.one_network.flagged - p.one_network.networks.length)} more`
              : ''),
    ],
    ['Users flagged', int(p.flagged_users)],
  ];
  const names: [keyof PoisoningHeadline, string][] = [
    ['unique_users', 'Unique users'],
    ['new_users', 'New users'],
    ['runs_started', 'Runs started'],
    ['runs_completed', 'Runs completed'],
    ['compute_hours', 'Compute hours'],
  ];
  for (const [k, label] of names) rows.push([`${label} without them`, `${cellText(p.without_flagged[k])} (of ${cellText(p.headline[k])})`]);
  return {
    id: 'poisoning',
    title: 'Could the headline numbers be inflated?',
    intro: p.flagged
      ? "Anyone can send datagrams with made-up IDs. Some of this month's traffic matches a pattern that inflates numbers; the headline numbers without it are below."
      : 'Anyone can send datagrams with made-up IDs. Nothing this month matches the patterns checked (thresholds in docs/reports.md).',
    head: ['Check', 'Result'],
    numeric: [false, false],
    rows,
  };
}

/** The same, as csv rows (measure, value). */
export function poisoningCsvRows(p: Poisoning): [string, Cell | number | null][] {
  const out: [string, Cell | number | null][] = [
    ['poisoning.flagged', p.flagged ? 1 : 0],
    ['poisoning.heavy_ids', p.heavy_ids.ids],
    ['poisoning.heavy_ids_runs', p.heavy_ids.runs],
    ['poisoning.one_off_burst_days', p.one_off_bursts.days.length],
    ['poisoning.one_network_flagged', p.one_network.flagged],
    ['poisoning.runs_with_network_tag', p.one_network.runs_tagged],
    ['poisoning.flagged_users', p.flagged_users],
  ];
  for (const [k, v] of Object.entries(p.without_flagged) as [keyof PoisoningHeadline, Cell][])
    out.push([`poisoning.without_flagged.${k}`, v]);
  return out;
}
