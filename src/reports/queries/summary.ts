import { count, num, type QueryRunner } from '../../store/query-runner.js';
import { GROUPS } from './month-groups.js';
import { durationStats, type DurationStats } from './durations.js';
import type { Scope } from './scope.js';

/**
 * A month's headline numbers. Computed from the month's groups table (see month-groups.ts), the
 * first-month table for new users, and the duration index. The same object is cached per month
 * (summary-cache.ts) and reused as "previous month" and as a trend point, so it must be plain
 * JSON and computed identically every time.
 */
export const SUMMARY_VERSION = 2;

export interface MonthSummary {
  v: number;
  runs: number;
  runs_started: number;
  runs_completed: number;
  runs_with_exit_code: number;
  runs_succeeded: number;
  compute_ms: number;
  duration_runs: number;
  median_s: number | null;
  p90_s: number | null;
  unique_users: number;
  unique_hosts: number;
  unique_scripts: number;
  new_users: number;
  runs_without_user_id: number;
  runs_weak_ids: number;
  runs_ephemeral_ids: number;
  unmatched_starts: number;
  unmatched_ends: number;
  /** Native-protocol runs only (2 copies per datagram): the basis of the loss estimate. */
  native_completed: number;
  native_ends_without_start: number;
  native_started: number;
  native_starts_without_end: number;
}

const TOTALS = `
SELECT sum(runs) AS runs,
  sum(CASE WHEN has_start = 1 THEN runs ELSE 0 END) AS runs_started,
  sum(CASE WHEN has_end = 1 THEN runs ELSE 0 END) AS runs_completed,
  sum(CASE WHEN has_end = 1 AND exit_code IS NOT NULL THEN runs ELSE 0 END) AS runs_with_exit_code,
  sum(CASE WHEN has_end = 1 AND exit_code = 0 THEN runs ELSE 0 END) AS runs_succeeded,
  sum(CASE WHEN has_end = 1 THEN dur_sum ELSE 0 END) AS compute_ms,
  sum(CASE WHEN user_id IS NULL THEN runs ELSE 0 END) AS runs_without_user_id,
  sum(CASE WHEN format = 'parsl-legacy' THEN runs ELSE 0 END) AS runs_weak_ids,
  sum(CASE WHEN eph = 1 THEN runs ELSE 0 END) AS runs_ephemeral_ids,
  sum(CASE WHEN has_start = 1 AND has_end = 0 THEN runs ELSE 0 END) AS unmatched_starts,
  sum(CASE WHEN has_end = 1 AND has_start = 0 THEN runs ELSE 0 END) AS unmatched_ends,
  sum(CASE WHEN format = 'native' AND has_end = 1 THEN runs ELSE 0 END) AS native_completed,
  sum(CASE WHEN format = 'native' AND has_end = 1 AND has_start = 0 THEN runs ELSE 0 END) AS native_ends_without_start,
  sum(CASE WHEN format = 'native' AND has_start = 1 THEN runs ELSE 0 END) AS native_started,
  sum(CASE WHEN format = 'native' AND has_start = 1 AND has_end = 0 THEN runs ELSE 0 END) AS native_starts_without_end,
  count(DISTINCT user_id) AS unique_users,
  count(DISTINCT host_id) AS unique_hosts,
  count(DISTINCT script_id) AS unique_scripts
FROM ${GROUPS}`;

/** Summary (and run-length distribution) of the month whose groups table is currently built. */
export async function summarizeGroups(
  db: QueryRunner,
  scope: Scope,
  firstMonthTable: boolean,
): Promise<{ summary: MonthSummary; durations: DurationStats }> {
  const [t] = await db.all(TOTALS);
  const d: DurationStats = await durationStats(db);
  const r = t ?? {};
  const summary: MonthSummary = {
    v: SUMMARY_VERSION,
    runs: count(r.runs),
    runs_started: count(r.runs_started),
    runs_completed: count(r.runs_completed),
    runs_with_exit_code: count(r.runs_with_exit_code),
    runs_succeeded: count(r.runs_succeeded),
    compute_ms: count(r.compute_ms),
    duration_runs: d.runs,
    median_s: d.median_s,
    p90_s: d.p90_s,
    unique_users: count(r.unique_users),
    unique_hosts: count(r.unique_hosts),
    unique_scripts: count(r.unique_scripts),
    new_users: await newUsers(db, scope, firstMonthTable),
    runs_without_user_id: count(r.runs_without_user_id),
    runs_weak_ids: count(r.runs_weak_ids),
    runs_ephemeral_ids: count(r.runs_ephemeral_ids),
    unmatched_starts: count(r.unmatched_starts),
    unmatched_ends: count(r.unmatched_ends),
    native_completed: count(r.native_completed),
    native_ends_without_start: count(r.native_ends_without_start),
    native_started: count(r.native_started),
    native_starts_without_end: count(r.native_starts_without_end),
  };
  return { summary, durations: d };
}

/** The summary of a month without runs (no query needed). */
export function emptySummary(): MonthSummary {
  return {
    v: SUMMARY_VERSION,
    runs: 0,
    runs_started: 0,
    runs_completed: 0,
    runs_with_exit_code: 0,
    runs_succeeded: 0,
    compute_ms: 0,
    duration_runs: 0,
    median_s: null,
    p90_s: null,
    unique_users: 0,
    unique_hosts: 0,
    unique_scripts: 0,
    new_users: 0,
    runs_without_user_id: 0,
    runs_weak_ids: 0,
    runs_ephemeral_ids: 0,
    unmatched_starts: 0,
    unmatched_ends: 0,
    native_completed: 0,
    native_ends_without_start: 0,
    native_started: 0,
    native_starts_without_end: 0,
  };
}

/**
 * Users of this month never seen in an earlier month (of this project, or of any project for an
 * all-projects report). user_first_month (kept by triggers, schema v2) makes it a lookup; a v1
 * store falls back to a slower anti-join on run_facts with the same answer.
 */
async function newUsers(db: QueryRunner, scope: Scope, firstMonthTable: boolean): Promise<number> {
  const m = scope.month.key;
  let rows;
  if (firstMonthTable && scope.project !== null) {
    rows = await db.all('SELECT count(*) AS n FROM user_first_month WHERE month = ? AND project = ?', [m, scope.project]);
  } else if (firstMonthTable) {
    rows = await db.all(`SELECT count(*) AS n FROM (SELECT user_id FROM user_first_month GROUP BY user_id HAVING min(month) = ?) AS f`, [
      m,
    ]);
  } else {
    const project = scope.project === null ? '' : ' AND r.project = ?';
    rows = await db.all(
      `SELECT count(*) AS n FROM (SELECT DISTINCT user_id FROM ${GROUPS} WHERE user_id IS NOT NULL) AS u
       WHERE NOT EXISTS (SELECT 1 FROM run_facts AS r WHERE r.user_id = u.user_id AND r.month < ?${project})`,
      scope.project === null ? [m] : [m, scope.project],
    );
  }
  return num(rows[0]?.n) ?? 0;
}
