import { SETTLED_GROUP_COLUMNS, truncatedDuration } from '../../store/columns.js';
import { settledCutSelect, tempTable, unsettledRuns } from '../dialect.js';
import { num, type QueryRunner } from '../../store/query-runner.js';
import { runsWhere, type Scope } from './scope.js';

/**
 * The month's runs reduced to two temp tables that every later query reads instead of run_facts.
 * Nothing of them is pulled into JavaScript.
 * - rep_groups: runs grouped by every column the report counts or breaks down by (about a
 *   hundred thousand groups for a million runs), with their run count and duration sum. A column
 *   combination may appear in several rows (settled aggregates next to live runs): queries
 *   always sum `runs` and count distinct IDs.
 * - rep_durations: run lengths of completed runs, truncated to 3 significant digits
 *   (truncatedDuration), with their run count: the histogram and percentiles.
 *
 * Where the store keeps settled-run aggregates (SQLite schema v4, src/store/sqlite/settle.ts; PostgreSQL
 * v5, src/store/postgres/settle.ts) and they are current for the month (no delete since), both tables are built from those aggregates plus
 * the month's runs not settled at their cut: the same result as grouping every run, at a fraction
 * of the cost. Otherwise every run of the month is grouped (one sort).
 */
export const GROUPS = 'rep_groups';
export const DURATIONS = 'rep_durations';

// What the summary needs; the reported month also groups by the columns its breakdowns show.
// Past months (trend, previous month) group by the short list: a narrower sort key is a faster sort.
const SUMMARY_COLUMNS = 'project, user_id, host_id, script_id, exit_code, format, eph, has_start, has_end';
export const DETAIL_COLUMNS = `${SUMMARY_COLUMNS}, version, runtime, os, arch, ci, components`;

/** The settled cut usable for this month, or null (no aggregates, or a delete since). */
async function settledCut(db: QueryRunner, month: number): Promise<unknown> {
  if (!(await db.hasTable('report_settled_months'))) return null;
  const rows = await db.all(settledCutSelect(db.dialect), [month]);
  return rows[0] ? rows[0].cut : null;
}

/**
 * Where a month's groups go instead of new rep_groups/rep_durations tables: existing tables that
 * stack several months (the period report), each group row tagged with its month. Saves writing
 * every month twice (temp table, then copy) when nothing else reads the month on its own.
 */
export interface StackInto {
  groups: string;
  durations: string;
}

export async function createMonthGroups(db: QueryRunner, scope: Scope, detail: boolean, into?: StackInto): Promise<void> {
  if (!into) await dropMonthGroups(db);
  const columns = detail ? DETAIL_COLUMNS : SUMMARY_COLUMNS;
  // CREATE the month's own tables, or INSERT into the stack (same SELECTs, month-tagged groups).
  const stackGroups = (select: string) =>
    `INSERT INTO ${into!.groups} (${columns}, runs, dur_sum, dur_n, month) SELECT g.*, ${scope.month.key} AS month FROM (${select}) AS g`;
  const durationsTo = into ? `INSERT INTO ${into.durations} (duration_ms, runs)` : `CREATE TEMP TABLE ${DURATIONS} AS`;
  const where = runsWhere(scope);
  const cut = await settledCut(db, scope.month.key);
  const measures = 'runs, dur_sum, dur_n';
  const perRun = `1 AS runs, duration_ms AS dur_sum, CASE WHEN duration_ms IS NULL THEN 0 ELSE 1 END AS dur_n`;
  if (cut === null) {
    const select = `SELECT ${columns}, count(*) AS runs, sum(duration_ms) AS dur_sum, count(duration_ms) AS dur_n
       FROM run_facts WHERE ${where.sql}
       GROUP BY ${columns}`;
    await db.exec(into ? stackGroups(select) : `CREATE TEMP TABLE ${GROUPS} AS ${select}`, where.params);
    await db.exec(
      `${durationsTo}
       SELECT ${truncatedDuration()} AS duration_ms, count(*) AS runs FROM run_facts
       WHERE ${where.sql} AND duration_ms IS NOT NULL GROUP BY 1`,
      where.params,
    );
    return;
  }
  // The runs not in the aggregates: never settled, or settled after the cut. Two range scans of
  // the settled index, (month, settled_seq) or (month, settled_xid).
  const agg = runsWhere(scope, '');
  const cols = `${SETTLED_GROUP_COLUMNS}, has_start, has_end, duration_ms`;
  const [open, late] = unsettledRuns(db.dialect);
  const live = `SELECT ${cols} FROM run_facts WHERE ${where.sql} AND ${open}
    UNION ALL SELECT ${cols} FROM run_facts WHERE ${where.sql} AND ${late}`;
  const liveParams = [...where.params, ...where.params, cut];
  // Not grouped again: every later query sums `runs` and counts distinct IDs, so the aggregates
  // and the live runs can stand side by side (grouping them would cost a sort and save little).
  const pick = columns.replace('has_start, has_end', '$flags');
  if (into) {
    // The stack has no `live` column; the live runs' lengths are read from the runs themselves.
    await db.exec(
      stackGroups(`SELECT ${pick.replace('$flags', '1 AS has_start, 1 AS has_end')}, ${measures}
       FROM report_settled_groups WHERE ${agg.sql}
       UNION ALL
       SELECT ${pick.replace('$flags', 'has_start, has_end')}, ${perRun} FROM (${live}) AS l`),
      [...agg.params, ...liveParams],
    );
    await db.exec(
      `${durationsTo}
       SELECT duration_ms, runs FROM report_settled_durations WHERE ${agg.sql}
       UNION ALL
       SELECT ${truncatedDuration()} AS duration_ms, 1 AS runs FROM (${live}) AS l WHERE duration_ms IS NOT NULL`,
      [...agg.params, ...liveParams],
    );
    return;
  }
  await db.exec(
    `CREATE TEMP TABLE ${GROUPS} AS
     SELECT ${pick.replace('$flags', '1 AS has_start, 1 AS has_end')}, ${measures}, 0 AS live
     FROM report_settled_groups WHERE ${agg.sql}
     UNION ALL
     SELECT ${pick.replace('$flags', 'has_start, has_end')}, ${perRun}, 1 AS live FROM (${live}) AS l`,
    [...agg.params, ...liveParams],
  );
  // A live row is one run: its dur_sum is its length.
  await db.exec(
    `CREATE TEMP TABLE ${DURATIONS} AS
     SELECT duration_ms, sum(runs) AS runs FROM (
       SELECT duration_ms, runs FROM report_settled_durations WHERE ${agg.sql}
       UNION ALL
       SELECT ${truncatedDuration('dur_sum')} AS duration_ms, 1 AS runs FROM ${GROUPS} WHERE live = 1 AND dur_n = 1
     ) AS x GROUP BY duration_ms`,
    agg.params,
  );
}

export async function dropMonthGroups(db: QueryRunner): Promise<void> {
  await db.exec(`DROP TABLE IF EXISTS ${tempTable(db.dialect, GROUPS)}`);
  await db.exec(`DROP TABLE IF EXISTS ${tempTable(db.dialect, DURATIONS)}`);
}

/** Smallest truncated run length at or above which `rank` runs lie (nearest rank, 1-based). */
export async function durationAtRank(db: QueryRunner, rank: number): Promise<number | null> {
  const rows = await db.all(
    `SELECT duration_ms FROM (SELECT duration_ms, sum(runs) OVER (ORDER BY duration_ms) AS cum FROM ${DURATIONS}) AS c
     WHERE cum >= ? ORDER BY duration_ms LIMIT 1`,
    [rank],
  );
  return num(rows[0]?.duration_ms);
}
