import { BeaconError } from '../errors.js';
import { tempTable } from './dialect.js';
import { HLL_RSE } from './hll.js';
import { addMonths, type Month } from './month.js';
import { hasRuns } from './past-months.js';
import type { Progress } from './progress.js';
import { count, type QueryRunner } from '../store/query-runner.js';
import {
  componentBreakdowns,
  createDimensions,
  DIMENSIONS,
  dropDimensions,
  dimensionBreakdown,
  exitCodeBreakdown,
  type Breakdown,
} from './queries/breakdowns.js';
import { monthCounters, type MonthCounters } from './queries/counters.js';
import { BIN_EDGES_S, durationStats, type DurationStats } from './queries/durations.js';
import { createMonthGroups, DETAIL_COLUMNS, dropMonthGroups, DURATIONS, GROUPS } from './queries/month-groups.js';
import { loadRollup, prunedMonths } from './queries/rollups.js';
import { scopeKey } from './queries/scope.js';
import { emptySketches, ID_KINDS, loadSketches, monthHasSketches, sketchKey, type Sketches } from './queries/sketches.js';
import { cacheFeatures, loadCached, monthChanges, saveCachedSummaries, type CacheEntry } from './queries/summary-cache.js';
import { emptySummary, summarizeGroups, SUMMARY_VERSION, type MonthSummary } from './queries/summary.js';
import { MAX_COMPONENT_KEYS, TOP_N } from './collect.js';

/**
 * Everything the period report needs, read in one read transaction.
 *
 * Per month: its summary, from its raw runs or, when `beacon prune` deleted them, from its rollup.
 * Counts of runs, hours, new users and run-length bins add up across months. Distinct users,
 * hosts and scripts do not: while every month of the period has its raw runs, the months' groups
 * are stacked into one table and counted exactly (the same SQL the monthly report runs on one
 * month). When a month was pruned, its stored HyperLogLog sketches are merged with sketches made
 * on the fly from the other months' IDs: an estimate, marked as such, with its error.
 *
 * Breakdowns (exit codes, versions, platforms, components) count distinct users per value, which
 * rollups cannot add up; they cover the months that still have raw runs, and the report says so.
 */
export const MAX_PERIOD_MONTHS = 60;

const P_GROUPS = 'period_groups';
const P_DURATIONS = 'period_durations';

export interface PeriodMonthData {
  month: Month;
  summary: MonthSummary;
  source: 'runs' | 'rollups';
  /** Distinct users of the period up to and including this month (exact or estimated). */
  cumulative_users: number | null;
}

export interface Distinct {
  users: number | null;
  hosts: number | null;
  scripts: number | null;
  method: 'exact' | 'estimate' | 'unknown';
  /** One-sigma relative error of an estimate (null when exact). */
  relative_error: number | null;
}

export interface PeriodData {
  months: PeriodMonthData[];
  /** Additive sums over every month; unique_* are the period's distinct counts (0 when unknown). */
  total: MonthSummary;
  distinct: Distinct;
  /** Run lengths of the months with raw runs (percentiles); the histogram covers every month. */
  durations: DurationStats;
  exitCodes: Breakdown;
  breakdowns: Record<string, Breakdown>;
  components: Map<string, Breakdown>;
  counters: MonthCounters;
  fromRollups: Month[];
  /** Pruned months without sketches (pruned before schema v5/v6): distinct counts unknown. */
  withoutSketch: Month[];
}

export interface PeriodOptions {
  from: Month;
  to: Month;
  project: string | null;
  minBacking: number;
  progress?: Progress;
}

export function periodMonths(from: Month, to: Month): Month[] {
  const out: Month[] = [];
  for (let m = from; m.key <= to.key; m = addMonths(m, 1)) out.push(m);
  return out;
}

const ADD_KEYS = [
  'runs',
  'runs_started',
  'runs_completed',
  'runs_with_exit_code',
  'runs_succeeded',
  'compute_ms',
  'duration_runs',
  'new_users',
  'runs_without_user_id',
  'runs_weak_ids',
  'runs_ephemeral_ids',
  'unmatched_starts',
  'unmatched_ends',
  'native_completed',
  'native_ends_without_start',
  'native_started',
  'native_starts_without_end',
] as const;

function addSummaries(ss: MonthSummary[]): MonthSummary {
  const t = emptySummary();
  for (const s of ss) for (const k of ADD_KEYS) t[k] += s[k];
  return t;
}

async function dropPeriodTables(db: QueryRunner): Promise<void> {
  for (const t of [P_GROUPS, P_DURATIONS]) await db.exec(`DROP TABLE IF EXISTS ${tempTable(db.dialect, t)}`);
}

/** Stacks the month's groups (built by createMonthGroups) into the period tables, tagged with its month. */
async function stackMonth(db: QueryRunner, month: Month, first: boolean): Promise<void> {
  const cols = `${DETAIL_COLUMNS}, runs, dur_sum, dur_n`;
  if (first) {
    await db.exec(`CREATE TEMP TABLE ${P_GROUPS} AS SELECT ${cols}, ${month.key} AS month FROM ${GROUPS}`);
    await db.exec(`CREATE TEMP TABLE ${P_DURATIONS} AS SELECT duration_ms, runs FROM ${DURATIONS}`);
    return;
  }
  await db.exec(`INSERT INTO ${P_GROUPS} SELECT ${cols}, ${month.key} AS month FROM ${GROUPS}`);
  await db.exec(`INSERT INTO ${P_DURATIONS} SELECT duration_ms, runs FROM ${DURATIONS}`);
}

/** Makes the stacked period tables the "month" tables every report query reads (a rename, not a copy). */
async function periodAsGroups(db: QueryRunner): Promise<void> {
  await dropMonthGroups(db);
  await db.exec(`ALTER TABLE ${tempTable(db.dialect, P_GROUPS)} RENAME TO ${GROUPS}`);
  await db.exec(`CREATE TEMP TABLE ${DURATIONS} AS SELECT duration_ms, sum(runs) AS runs FROM ${P_DURATIONS} GROUP BY duration_ms`);
}

function sumCounters(cs: MonthCounters[]): MonthCounters {
  const out: MonthCounters = { days: 0, values: {}, rejected: {} };
  for (const c of cs) {
    out.days += c.days;
    for (const [k, v] of Object.entries(c.values)) out.values[k] = (out.values[k] ?? 0) + v;
    for (const [k, v] of Object.entries(c.rejected)) out.rejected[k] = (out.rejected[k] ?? 0) + v;
  }
  return out;
}

function emptyBreakdown(): Breakdown {
  return { rows: [], other: null, runs: 0 };
}

/** IDs of the months with raw runs, hashed into sketches (per month for users, once for hosts and scripts). */
async function rawSketches(db: QueryRunner, key: Buffer, months: Month[]): Promise<{ perMonth: Map<number, Sketches>; all: Sketches }> {
  const perMonth = new Map<number, Sketches>();
  const all = emptySketches();
  if (months.length === 0) return { perMonth, all };
  for (const m of months) perMonth.set(m.key, emptySketches());
  for (const r of await db.all(`SELECT DISTINCT user_id, month FROM ${GROUPS} WHERE user_id IS NOT NULL`)) {
    perMonth.get(count(r.month))!.user.add(key, 'user', String(r.user_id));
  }
  for (const kind of ['host', 'script'] as const) {
    // The stacked groups, renamed to the month tables' name by periodAsGroups.
    for (const r of await db.all(`SELECT DISTINCT ${kind}_id AS id FROM ${GROUPS} WHERE ${kind}_id IS NOT NULL`))
      all[kind].add(key, kind, String(r.id));
  }
  return { perMonth, all };
}

export async function collectPeriod(db: QueryRunner, opts: PeriodOptions): Promise<PeriodData> {
  if (!(await db.hasTable('run_facts')) || !(await db.hasTable('daily_counters'))) {
    throw new BeaconError(
      'BEACON_ERR_DB_OPEN',
      "this file is not a usage-beacon store (no run_facts table); point --db at the receiver's store",
    );
  }
  const features = await cacheFeatures(db);
  const list = periodMonths(opts.from, opts.to);
  const scope = scopeKey(opts.project);
  await db.exec('BEGIN');
  try {
    const pruned = await prunedMonths(db);
    const months: PeriodMonthData[] = [];
    const rawMonths: Month[] = [];
    const fromRollups: Month[] = [];
    const withoutSketch: Month[] = [];
    const stored = new Map<number, Sketches>();
    const histogram = new Array<number>(BIN_EDGES_S.length).fill(0);
    const counters: MonthCounters[] = [];
    const pending: CacheEntry[] = [];
    for (const [i, m] of list.entries()) {
      opts.progress?.update(i, list.length + 2, `month ${m.label}`);
      counters.push(await monthCounters(db, m));
      if (pruned.has(m.key)) {
        fromRollups.push(m);
        const r = await loadRollup(db, m.key, scope);
        const summary = r ? r.summary : emptySummary();
        if (r) r.durations.histogram.forEach((b, j) => (histogram[j]! += b.runs));
        months.push({ month: m, summary, source: 'rollups', cumulative_users: null });
        const sk = await loadSketches(db, m.key, scope);
        if (sk) stored.set(m.key, sk);
        else if (summary.runs > 0 || !(await monthHasSketches(db, m.key))) withoutSketch.push(m);
        continue;
      }
      if (!(await hasRuns(db, { month: m, project: opts.project }))) {
        months.push({ month: m, summary: emptySummary(), source: 'runs', cumulative_users: null });
        continue;
      }
      // The month's summary as the monthly report caches it (exact while its change count holds);
      // only the months not cached are summarized here (from their own groups), and cached for the
      // next report. A cached month's groups go straight into the stack: written once, not twice.
      const changes = features.cache ? await monthChanges(db, m.key) : 0;
      let summary = features.cache ? await loadCached<MonthSummary>(db, m.key, scope, changes, SUMMARY_VERSION) : null;
      const first = rawMonths.length === 0;
      if (summary && !first) {
        await createMonthGroups(db, { month: m, project: opts.project }, true, { groups: P_GROUPS, durations: P_DURATIONS });
      } else {
        await createMonthGroups(db, { month: m, project: opts.project }, true);
        if (!summary) {
          summary = (await summarizeGroups(db, { month: m, project: opts.project }, features.firstMonth)).summary;
          if (features.cache) pending.push({ month: m.key, scope, changes, value: summary });
        }
        await stackMonth(db, m, first);
      }
      rawMonths.push(m);
      months.push({ month: m, summary, source: 'runs', cumulative_users: null });
    }
    const total = addSummaries(months.map((x) => x.summary));
    let durations: DurationStats = { runs: 0, histogram: [], median_s: null, p90_s: null };
    let exitCodes = emptyBreakdown();
    const breakdowns: Record<string, Breakdown> = {};
    let components = new Map<string, Breakdown>();
    const exact = { hosts: 0, scripts: 0 };
    opts.progress?.update(list.length, list.length + 2, 'breakdowns');
    if (rawMonths.length > 0) {
      await periodAsGroups(db);
      // Only what the months' summaries cannot add up: run lengths here, distinct IDs below (and
      // only when exact), not the monthly summary's dozen sums over the whole stack.
      durations = await durationStats(db);
      const bopts = { topN: TOP_N, minBacking: opts.minBacking };
      await createDimensions(db);
      for (const [name, expr] of Object.entries(DIMENSIONS)) {
        if (name === 'projects' && opts.project !== null) continue;
        breakdowns[name] = await dimensionBreakdown(db, expr, bopts);
      }
      exitCodes = await exitCodeBreakdown(db, bopts);
      components = await componentBreakdowns(db, MAX_COMPONENT_KEYS, bopts);
      await dropDimensions(db);
    }
    // Every month's bins (rollups included); the percentiles above come from the raw months only.
    durations.histogram.forEach((bin, j) => (histogram[j]! += bin.runs));
    durations = {
      ...durations,
      histogram: BIN_EDGES_S.map((from, j) => ({ from_s: from, to_s: BIN_EDGES_S[j + 1] ?? null, runs: histogram[j]! })),
    };

    const distinct: Distinct = { users: null, hosts: null, scripts: null, method: 'unknown', relative_error: null };
    const prunedWithData = fromRollups.filter(
      (m) => months.find((x) => x.month.key === m.key)!.summary.runs > 0 || withoutSketch.includes(m),
    );
    if (prunedWithData.length === 0) {
      if (rawMonths.length > 0) {
        const [d] = await db.all(`SELECT count(DISTINCT host_id) AS hosts, count(DISTINCT script_id) AS scripts FROM ${GROUPS}`);
        exact.hosts = count(d?.hosts);
        exact.scripts = count(d?.scripts);
      }
      distinct.hosts = exact.hosts;
      distinct.scripts = exact.scripts;
      distinct.method = 'exact';
      let cum = 0;
      const firsts = await (rawMonths.length
        ? db.all(
            `SELECT first_m, count(*) AS n FROM (SELECT user_id, min(month) AS first_m FROM ${GROUPS} WHERE user_id IS NOT NULL GROUP BY user_id) AS f GROUP BY first_m`,
          )
        : Promise.resolve([]));
      const byMonth = new Map(firsts.map((r) => [count(r.first_m), count(r.n)]));
      for (const x of months) x.cumulative_users = cum += byMonth.get(x.month.key) ?? 0;
      // Every user with an ID has exactly one first month: their sum is the distinct count.
      distinct.users = firsts.reduce((a, r) => a + count(r.n), 0);
    } else if (withoutSketch.length === 0) {
      const key = await sketchKey(db);
      if (key) {
        const raw = await rawSketches(db, key, rawMonths);
        const merged = emptySketches();
        for (const x of months) {
          const s = raw.perMonth.get(x.month.key) ?? stored.get(x.month.key);
          if (s) for (const kind of ID_KINDS) merged[kind].merge(s[kind]);
          x.cumulative_users = merged.user.estimate();
        }
        merged.host.merge(raw.all.host);
        merged.script.merge(raw.all.script);
        distinct.users = merged.user.estimate();
        distinct.hosts = merged.host.estimate();
        distinct.scripts = merged.script.estimate();
        distinct.method = 'estimate';
        distinct.relative_error = Math.round(HLL_RSE * 10000) / 10000;
      }
    }
    // Unknown distinct counts: the largest month's is a lower bound, and backs suppression.
    const most = (k: 'unique_users' | 'unique_hosts' | 'unique_scripts') => Math.max(0, ...months.map((x) => x.summary[k]));
    total.unique_users = distinct.users ?? most('unique_users');
    total.unique_hosts = distinct.hosts ?? most('unique_hosts');
    total.unique_scripts = distinct.scripts ?? most('unique_scripts');
    total.median_s = durations.median_s;
    total.p90_s = durations.p90_s;
    await dropMonthGroups(db);
    await dropPeriodTables(db);
    await db.exec('COMMIT');
    await saveCachedSummaries(db, pending);
    return {
      months,
      total,
      distinct,
      durations,
      exitCodes,
      breakdowns,
      components,
      counters: sumCounters(counters),
      fromRollups,
      withoutSketch,
    };
  } catch (e) {
    await db.exec('ROLLBACK').catch(() => {});
    throw e;
  }
}
