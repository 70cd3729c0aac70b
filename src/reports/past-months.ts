import type { QueryRunner } from '../store/query-runner.js';
import { createMonthGroups } from './queries/month-groups.js';
import { scopeKey, type Scope } from './queries/scope.js';
import { loadCached, monthChanges, type CacheEntry, type CacheFeatures } from './queries/summary-cache.js';
import { emptySummary, summarizeGroups, SUMMARY_VERSION, type MonthSummary } from './queries/summary.js';

/** A past month's summary (trend point, previous month): shared by collect.ts and past-months-thread.ts. */

export async function hasRuns(db: QueryRunner, scope: Scope): Promise<boolean> {
  const p = scope.project === null ? '' : ' AND project = ?';
  const rows = await db.all(
    `SELECT 1 AS x FROM run_facts WHERE month = ?${p} LIMIT 1`,
    scope.project === null ? [scope.month.key] : [scope.month.key, scope.project],
  );
  return rows.length > 0;
}

/** A past month's summary: from the cache when still exact, else one pass over its runs. */
export async function pastSummary(
  db: QueryRunner,
  scope: Scope,
  features: CacheFeatures,
  pending: CacheEntry[],
): Promise<{ s: MonthSummary; cached: boolean }> {
  const key = scopeKey(scope.project);
  const changes = features.cache ? await monthChanges(db, scope.month.key) : 0;
  if (features.cache) {
    const hit = await loadCached<MonthSummary>(db, scope.month.key, key, changes, SUMMARY_VERSION);
    if (hit) return { s: hit, cached: true };
  }
  if (!(await hasRuns(db, scope))) return { s: emptySummary(), cached: false };
  await createMonthGroups(db, scope, false);
  const { summary } = await summarizeGroups(db, scope, features.firstMonth);
  if (features.cache) pending.push({ month: scope.month.key, scope: key, changes, value: summary });
  return { s: summary, cached: false };
}
