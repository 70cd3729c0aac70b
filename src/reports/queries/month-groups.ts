import { tempTable } from '../dialect.js';
import type { QueryRunner } from '../query-runner.js';
import { runsWhere, type Scope } from './scope.js';

/**
 * One pass over the month: runs grouped by every column the report breaks down by. The GROUP BY
 * follows the column order of the covering index run_facts_report, so SQLite aggregates while it
 * walks the index (no sort, no table lookups) and the month's million rows become a temp table of
 * a few hundred thousand groups that every later query reads instead of run_facts. Nothing of it
 * is pulled into JavaScript.
 */
export const GROUPS = 'rep_groups';

const GROUP_COLUMNS = 'project, user_id, host_id, script_id, version, runtime, os, arch, ci, exit_code, format, eph, has_start, has_end, components';

export async function createMonthGroups(db: QueryRunner, scope: Scope): Promise<void> {
  await dropMonthGroups(db);
  const where = runsWhere(scope);
  await db.exec(
    `CREATE TEMP TABLE ${GROUPS} AS
     SELECT ${GROUP_COLUMNS}, count(*) AS runs, sum(duration_ms) AS dur_sum, count(duration_ms) AS dur_n
     FROM run_facts WHERE ${where.sql}
     GROUP BY ${GROUP_COLUMNS}`,
    where.params,
  );
}

export async function dropMonthGroups(db: QueryRunner): Promise<void> {
  await db.exec(`DROP TABLE IF EXISTS ${tempTable(db.dialect, GROUPS)}`);
}
