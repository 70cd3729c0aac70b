import { BeaconError } from '../errors.js';
import { tempTable } from './dialect.js';
import { HLL_RSE } from './hll.js';
import { idsOf } from './id-set.js';
import { addMonths, type Month } from './month.js';
import { hasRuns } from './past-months.js';
import type { Progress } from './progress.js';
import type { QueryRunner } from '../store/query-runner.js';
import { DIMENSIONS, type Breakdown } from './queries/breakdowns.js';
import { monthCounters, type MonthCounters } from './queries/counters.js';
import { BIN_EDGES_S, durationStats, type DurationStats } from './queries/durations.js';
import { DURATIONS } from './queries/month-groups.js';
import { decodeEntry, type PeriodMonthEntry } from './period-entry.js';
import { periodMonthCached, periodMonthData, usePeriodCaches } from './queries/period-month.js';
import type { ReportHelper } from './report-helper.js';
import { loadRollup, prunedMonths } from './queries/rollups.js';
import { scopeKey } from './queries/scope.js';
import { emptySketches, ID_KINDS, loadSketches, monthHasSketches, sketchKey, type Sketches } from './queries/sketches.js';
import { cacheFeatures, saveCachedSummaries, type CacheEntry, type CacheFeatures } from './queries/summary-cache.js';
import { emptySummary, type MonthSummary } from './queries/summary.js';
import { MAX_COMPONENT_KEYS, TOP_N } from './collect.js';
import { emptyMerge, mergedBreakdown, mergedComponents, mergeMonth } from './period-merge.js';

/**
 * Everything the period report needs, read in one read transaction.
 *
 * Per month: its summary, from its raw runs or, when `beacon prune` deleted them, from its rollup.
 * Counts of runs, hours, new users and run-length bins add up across months. Distinct users,
 * hosts and scripts do not: each month with raw runs contributes its entry (queries/period-month.ts:
 * its distinct IDs and, per breakdown value, its users), cached per month beside its summary, so a
 * period report recomputes only the months that changed since the last report; while every month
 * of the period has its raw runs, the entries' unions are exact (period-merge.ts). When a month
 * was pruned, its stored HyperLogLog sketches are merged with sketches made from the other
 * months' IDs: an estimate, marked as such, with its error.
 *
 * Breakdowns (exit codes, versions, platforms, components) count distinct users per value, which
 * rollups cannot add up; they cover the months that still have raw runs, and the report says so.
 */
export const MAX_PERIOD_MONTHS = 60;

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
  /** A second thread (SQLite): about half the months not cached are computed there in parallel. */
  helper?: ReportHelper;
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

/** Runs per truncated run length as the rep_durations table durationStats reads. */
async function loadDurations(db: QueryRunner, durations: Map<number, number>): Promise<void> {
  await db.exec(`DROP TABLE IF EXISTS ${tempTable(db.dialect, DURATIONS)}`);
  await db.exec(`CREATE TEMP TABLE ${DURATIONS} (duration_ms bigint NOT NULL, runs bigint NOT NULL)`);
  const rows = [...durations];
  for (let i = 0; i < rows.length; i += 500) {
    const batch = rows.slice(i, i + 500);
    await db.exec(`INSERT INTO ${DURATIONS} (duration_ms, runs) VALUES ${batch.map(() => '(?, ?)').join(', ')}`, batch.flat());
  }
}

type MonthResult = { summary: MonthSummary; entry: PeriodMonthEntry };

/**
 * The months whose summary or entry is not cached: the later half is started on the helper
 * thread before the in-order fold (its own connection and read transaction, as for the monthly
 * report's past months); the rest are computed here when the fold reaches them, so both cores
 * work while the fold waits only for what it reaches. Computing this thread's months in the fold,
 * not before it, keeps the two threads' month computations from peaking together with the fold's
 * garbage: 10-20 MB less peak RSS on the 12M store with 2 months to compute, same CPU. Without a
 * helper (or if it fails) every month is computed in the fold.
 */
async function startStale(
  db: QueryRunner,
  list: Month[],
  pruned: { has(key: number): boolean },
  opts: PeriodOptions,
  features: CacheFeatures,
): Promise<{ get(key: number): Promise<MonthResult | null> | undefined; done: Promise<CacheEntry[]> }> {
  const none = { get: () => undefined, done: Promise.resolve<CacheEntry[]>([]) };
  if (!opts.helper) return none;
  const stale: Month[] = [];
  for (const m of list) {
    if (pruned.has(m.key) || (features.cache && (await periodMonthCached(db, m.key, opts.project)))) continue;
    if (await hasRuns(db, { month: m, project: opts.project })) stale.push(m);
  }
  if (stale.length < 2) {
    opts.helper.noPastMonths();
    return none;
  }
  const there = stale.slice(Math.floor(stale.length / 2));
  const away = opts.helper.periodMonths(there, opts.project, features);
  const results = new Map<number, Promise<MonthResult | null>>();
  for (const m of there) {
    results.set(
      m.key,
      away.then((r) => {
        const x = r?.months.find((y) => y.key === m.key);
        return x ? { summary: x.summary, entry: decodeEntry(Buffer.from(x.raw.buffer, x.raw.byteOffset, x.raw.byteLength)) } : null;
      }),
    );
  }
  return { get: (key) => results.get(key), done: away.then((r) => r?.pending ?? []) };
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
  await usePeriodCaches(db);
  await db.exec('BEGIN');
  try {
    const pruned = await prunedMonths(db);
    // Sketches are only needed when some month of the period was pruned: then users are hashed per raw month.
    const key = list.some((m) => pruned.has(m.key)) ? await sketchKey(db) : null;
    const months: PeriodMonthData[] = [];
    const rawMonths: Month[] = [];
    const fromRollups: Month[] = [];
    const withoutSketch: Month[] = [];
    const stored = new Map<number, Sketches>();
    const rawUsers = new Map<number, Sketches>();
    const histogram = new Array<number>(BIN_EDGES_S.length).fill(0);
    const counters: MonthCounters[] = [];
    const pending: CacheEntry[] = [];
    const merged = emptyMerge();
    const rawIds = emptySketches();
    const cumulative = new Map<number, number>();
    const stale = await startStale(db, list, pruned, opts, features);
    for (const [i, m] of list.entries()) {
      opts.progress?.update(i, list.length + 1, `month ${m.label}`);
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
      const { summary, entry } = (await stale.get(m.key)) ?? (await periodMonthData(db, m, opts.project, features, pending));
      mergeMonth(merged, entry);
      cumulative.set(m.key, merged.users.size);
      if (key) {
        // Hashing each raw month's hosts and scripts into one sketch gives the sketch of their union.
        const sk = emptySketches();
        for (const u of idsOf(entry.users)) sk.user.add(key, 'user', u);
        for (const h of idsOf(entry.hosts)) rawIds.host.add(key, 'host', h);
        for (const s of idsOf(entry.scripts)) rawIds.script.add(key, 'script', s);
        rawUsers.set(m.key, sk);
      }
      rawMonths.push(m);
      months.push({ month: m, summary, source: 'runs', cumulative_users: null });
    }
    const total = addSummaries(months.map((x) => x.summary));
    let durations: DurationStats = { runs: 0, histogram: [], median_s: null, p90_s: null };
    let exitCodes = emptyBreakdown();
    const breakdowns: Record<string, Breakdown> = {};
    let components = new Map<string, Breakdown>();
    opts.progress?.update(list.length, list.length + 1, 'breakdowns');
    if (rawMonths.length > 0) {
      // Run lengths in SQL as for one month (percentiles by rank); distinct counts from the merge.
      await loadDurations(db, merged.durations);
      durations = await durationStats(db);
      await db.exec(`DROP TABLE IF EXISTS ${tempTable(db.dialect, DURATIONS)}`);
      const bopts = { topN: TOP_N, minBacking: opts.minBacking };
      for (const name of Object.keys(DIMENSIONS)) {
        if (name === 'projects' && opts.project !== null) continue;
        breakdowns[name] = mergedBreakdown(merged, `d:${name}`, bopts);
      }
      exitCodes = mergedBreakdown(merged, 'exit', bopts);
      components = mergedComponents(merged, MAX_COMPONENT_KEYS, bopts);
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
      distinct.hosts = merged.hosts.size;
      distinct.scripts = merged.scripts.size;
      distinct.method = 'exact';
      // A month without raw runs adds no user: it carries the count before it.
      let cum = 0;
      for (const x of months) x.cumulative_users = cum = cumulative.get(x.month.key) ?? cum;
      distinct.users = merged.users.size;
    } else if (withoutSketch.length === 0 && key) {
      const est = emptySketches();
      for (const x of months) {
        const s = rawUsers.get(x.month.key) ?? stored.get(x.month.key);
        if (s) for (const kind of ID_KINDS) est[kind].merge(s[kind]);
        x.cumulative_users = est.user.estimate();
      }
      est.host.merge(rawIds.host);
      est.script.merge(rawIds.script);
      distinct.users = est.user.estimate();
      distinct.hosts = est.host.estimate();
      distinct.scripts = est.script.estimate();
      distinct.method = 'estimate';
      distinct.relative_error = Math.round(HLL_RSE * 10000) / 10000;
    }
    // Unknown distinct counts: the largest month's is a lower bound, and backs suppression.
    const most = (k: 'unique_users' | 'unique_hosts' | 'unique_scripts') => Math.max(0, ...months.map((x) => x.summary[k]));
    total.unique_users = distinct.users ?? most('unique_users');
    total.unique_hosts = distinct.hosts ?? most('unique_hosts');
    total.unique_scripts = distinct.scripts ?? most('unique_scripts');
    total.median_s = durations.median_s;
    total.p90_s = durations.p90_s;
    await db.exec('COMMIT');
    pending.push(...(await stale.done));
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
