import { tempTable } from '../dialect.js';
import type { QueryRunner } from '../query-runner.js';
import { runsWhere, type Scope } from './scope.js';

/**
 * One pass over the month: runs grouped by every column the report counts or breaks down by, so
 * the month's million rows become a temp table of about a hundred thousand groups that every later
 * query reads instead of run_facts. Nothing of it is pulled into JavaScript. The column order
 * follows the optional covering index run_facts_report (docs/reports.md): with it, SQLite
 * aggregates while walking the index, without it, one sort.
 */
export const GROUPS = 'rep_groups';

// What the summary needs; the reported month also groups by the columns its breakdowns show.
// Past months (trend, previous month) group by the short list: a narrower sort key is a faster sort.
const SUMMARY_COLUMNS = 'project, user_id, host_id, script_id, exit_code, format, eph, has_start, has_end';
const DETAIL_COLUMNS = `${SUMMARY_COLUMNS}, version, runtime, os, arch, ci, components`;

export async function createMonthGroups(db: QueryRunner, scope: Scope, detail: boolean): Promise<void> {
  await dropMonthGroups(db);
  const where = runsWhere(scope);
  const columns = detail ? DETAIL_COLUMNS : SUMMARY_COLUMNS;
  await db.exec(
    `CREATE TEMP TABLE ${GROUPS} AS
     SELECT ${columns}, count(*) AS runs, sum(duration_ms) AS dur_sum, count(duration_ms) AS dur_n
     FROM run_facts WHERE ${where.sql}
     GROUP BY ${columns}`,
    where.params,
  );
}

export async function dropMonthGroups(db: QueryRunner): Promise<void> {
  await db.exec(`DROP TABLE IF EXISTS ${tempTable(db.dialect, GROUPS)}`);
}
