import { BeaconError } from '../errors.js';
import { monthsEnding, type Month } from './month.js';
import type { Progress } from './progress.js';
import type { QueryRunner } from '../store/query-runner.js';
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
import type { DurationStats } from './queries/durations.js';
import { createMonthGroups, dropMonthGroups } from './queries/month-groups.js';
import { scopeKey, type Scope } from './queries/scope.js';
import {
  cacheFeatures,
  loadCached,
  monthChanges,
  saveCachedSummaries,
  type CacheEntry,
  type CacheFeatures,
} from './queries/summary-cache.js';
import { summarizeGroups, SUMMARY_VERSION, type MonthSummary } from './queries/summary.js';
import { loadRollup, prunedMonths, rollupDetail } from './queries/rollups.js';
import { poisoningData, type PoisoningData } from './queries/poisoning.js';
import { pastSummary } from './past-months.js';
import type { PastMonths, ReportHelper } from './report-helper.js';

/**
 * Everything the report needs from the store, read inside one read transaction so all numbers
 * describe the same snapshot even while a receiver keeps writing (past months handed to the
 * helper thread are read in its own transaction, a few ms later). Aggregation happens in SQL;
 * what comes back is a few hundred numbers.
 */
export const TREND_MONTHS = 12;
export const TOP_N = 10;
export const MAX_COMPONENT_KEYS = 12;

/** What is computed from the reported month's runs (and cached as one JSON value). */
interface MonthDetail {
  v: number;
  summary: MonthSummary;
  durations: DurationStats;
  exitCodes: Breakdown;
  breakdowns: Record<string, Breakdown>;
  components: [string, Breakdown][];
}
const DETAIL_VERSION = SUMMARY_VERSION * 100 + 1;

export interface MonthData {
  summary: MonthSummary;
  durations: DurationStats;
  previous: MonthSummary;
  trend: { month: Month; summary: MonthSummary }[];
  exitCodes: Breakdown;
  breakdowns: Record<string, Breakdown>;
  components: Map<string, Breakdown>;
  counters: MonthCounters;
  /** Months (of the trend, including the reported one) answered from the cache. */
  cachedMonths: number;
  /** Months of the trend (including the reported one) whose raw runs were pruned: read from monthly_rollups. */
  fromRollups: Month[];
  /** The reported month's poisoning checks (queries/poisoning.ts); null when its runs were pruned. */
  poisoning: PoisoningData | null;
}

export interface CollectOptions {
  month: Month;
  project: string | null;
  /** Backing (distinct users + runs without a user ID) a breakdown value needs to be listed; 0 for --raw. */
  minBacking: number;
  progress?: Progress;
  /** A second thread (SQLite): past months computed there in parallel. */
  helper?: ReportHelper;
}

async function requireStore(db: QueryRunner): Promise<void> {
  if (!(await db.hasTable('run_facts')) || !(await db.hasTable('daily_counters'))) {
    throw new BeaconError(
      'BEACON_ERR_DB_OPEN',
      "this file is not a usage-beacon store (no run_facts table); point --db at the receiver's store",
    );
  }
}

/** Cache key of the reported month's full results: they depend on the threshold and the caps. */
function detailCacheKey(scope: Scope, opts: CollectOptions): string {
  return `detail:k=${opts.minBacking}:top=${TOP_N}:keys=${MAX_COMPONENT_KEYS}:${scopeKey(scope.project)}`;
}

/** The reported month in full: cached per (scope, K, caps), else computed from its groups. */
async function monthDetail(
  db: QueryRunner,
  scope: Scope,
  opts: CollectOptions,
  features: CacheFeatures,
  pending: CacheEntry[],
): Promise<{ d: MonthDetail; cached: boolean }> {
  const summaryKey = scopeKey(scope.project);
  const detailKey = detailCacheKey(scope, opts);
  const changes = features.cache ? await monthChanges(db, scope.month.key) : 0;
  if (features.cache) {
    const hit = await loadCached<MonthDetail>(db, scope.month.key, detailKey, changes, DETAIL_VERSION);
    if (hit) return { d: hit, cached: true };
  }
  const bopts = { topN: TOP_N, minBacking: opts.minBacking };
  await createMonthGroups(db, scope, true);
  const { summary, durations } = await summarizeGroups(db, scope, features.firstMonth);
  opts.progress?.update(TREND_MONTHS, TREND_MONTHS + 2, 'breakdowns');
  const breakdowns: Record<string, Breakdown> = {};
  await createDimensions(db);
  for (const [name, expr] of Object.entries(DIMENSIONS)) {
    if (name === 'projects' && scope.project !== null) continue;
    breakdowns[name] = await dimensionBreakdown(db, expr, bopts);
  }
  const exitCodes = await exitCodeBreakdown(db, bopts);
  opts.progress?.update(TREND_MONTHS + 1, TREND_MONTHS + 2, 'components');
  const components = [...(await componentBreakdowns(db, MAX_COMPONENT_KEYS, bopts))];
  await dropDimensions(db);
  await dropMonthGroups(db);
  const d: MonthDetail = { v: DETAIL_VERSION, summary, durations, exitCodes, breakdowns, components };
  if (features.cache) {
    pending.push({ month: scope.month.key, scope: detailKey, changes, value: d });
    pending.push({ month: scope.month.key, scope: summaryKey, changes, value: summary });
  }
  return { d, cached: false };
}

/**
 * Hands the past months to the helper thread when that pays: some are not cached and neither is
 * the reported month (a fully cached report is faster without the round trip).
 */
async function startPast(
  db: QueryRunner,
  helper: ReportHelper,
  past: Month[],
  scope: Scope,
  opts: CollectOptions,
  features: CacheFeatures,
): Promise<{ done: Promise<PastMonths | null> } | null> {
  if (!features.cache || past.length === 0) return null;
  const stale: Month[] = [];
  for (const m of past) {
    const hit = await loadCached<MonthSummary>(db, m.key, scopeKey(opts.project), await monthChanges(db, m.key), SUMMARY_VERSION);
    if (!hit) stale.push(m);
  }
  if (stale.length === 0) return null;
  if (
    await loadCached<MonthDetail>(db, scope.month.key, detailCacheKey(scope, opts), await monthChanges(db, scope.month.key), DETAIL_VERSION)
  )
    return null;
  // Wrapped: an async function returning the promise itself would wait for it.
  return { done: helper.pastSummaries(stale, opts.project, features) };
}

export async function collectMonth(db: QueryRunner, opts: CollectOptions): Promise<MonthData> {
  await requireStore(db);
  const features = await cacheFeatures(db);
  const scope: Scope = { month: opts.month, project: opts.project };
  const months = monthsEnding(opts.month, TREND_MONTHS);
  const pending: CacheEntry[] = [];
  let cachedMonths = 0;

  await db.exec('BEGIN');
  try {
    // A pruned month is answered by its rollup (src/retention/prune.ts); without one (the project had
    // no runs that month) the usual path finds no runs, exactly as before pruning.
    const pruned = await prunedMonths(db);
    const fromRollups = months.filter((m) => pruned.has(m.key));
    const rollupOf = (m: Month) => (pruned.has(m.key) ? loadRollup(db, m.key, scopeKey(opts.project)) : null);
    const past = months.slice(0, -1);
    // SQLite: past months not cached go to a second core while this thread does the reported month.
    const parallel = opts.helper
      ? await startPast(
          db,
          opts.helper,
          past.filter((m) => !pruned.has(m.key)),
          scope,
          opts,
          features,
        )
      : null;
    if (opts.helper && !parallel) opts.helper.noPastMonths();
    opts.progress?.update(TREND_MONTHS - 1, TREND_MONTHS + 2, `month ${opts.month.label}`);
    const rollup = await rollupOf(opts.month);
    const { d, cached } = rollup
      ? { d: rollupDetail(rollup, opts.minBacking), cached: false }
      : await monthDetail(db, scope, opts, features, pending);
    if (cached) cachedMonths++;
    const inThread = parallel ? await parallel.done : null;
    if (inThread) pending.push(...inThread.pending);
    const trend: { month: Month; summary: MonthSummary }[] = [];
    for (const [i, m] of past.entries()) {
      opts.progress?.update(i, TREND_MONTHS + 2, `month ${m.label}`);
      const rollup = await rollupOf(m);
      const r = rollup
        ? { s: rollup.summary, cached: false }
        : (inThread?.summaries.get(m.key) ?? (await pastSummary(db, { month: m, project: opts.project }, features, pending)));
      if (r.cached) cachedMonths++;
      trend.push({ month: m, summary: r.s });
    }
    trend.push({ month: opts.month, summary: d.summary });
    const counters = await monthCounters(db, opts.month);
    const poisoning = rollup ? (rollup.poisoning ?? null) : await poisoningData(db, scope);
    await db.exec('COMMIT');
    await saveCachedSummaries(db, pending);
    const previous = trend[trend.length - 2]?.summary;
    if (!previous) throw new Error(`a trend of ${trend.length} months has no previous month`);
    return { ...d, components: new Map(d.components), previous, trend, counters, cachedMonths, fromRollups, poisoning };
  } catch (e) {
    await db.exec('ROLLBACK').catch(() => {});
    throw e;
  }
}
