import { count, type QueryRunner } from '../../store/query-runner.js';
import { componentPairsSelect, tempTable } from '../dialect.js';
import { GROUPS } from './month-groups.js';

/**
 * "Top N plus other" tables over the month's groups. Each value carries its runs and its distinct
 * users, so suppression can tell how many people stand behind a cell. The cap is applied in SQL
 * (LIMIT), so a hostile flood of distinct versions never reaches JavaScript; "other" is a second
 * aggregate over everything not shown, so its user count is exact (not a sum of overlapping
 * per-value counts).
 */
export interface ValueCount {
  value: string | number;
  runs: number;
  users: number;
  /** Runs that carry no user ID (Parsl format 1): each may be a different person. */
  idless: number;
}

export interface Breakdown {
  rows: ValueCount[];
  other: ValueCount | null;
  runs: number;
}

export interface BreakdownOptions {
  topN: number;
  /** Smallest backing (users + idless runs) a value needs to be shown; 0 shows every top value. */
  minBacking: number;
}

interface Source {
  from: string;
  where: string;
  params: unknown[];
  expr: string;
}

const MEASURES = `sum(runs) AS runs, count(DISTINCT user_id) AS users,
  sum(CASE WHEN user_id IS NULL THEN runs ELSE 0 END) AS idless`;

function valueCount(r: Record<string, unknown>, value: string | number): ValueCount {
  return { value, runs: count(r.runs), users: count(r.users), idless: count(r.idless) };
}

export async function breakdown(db: QueryRunner, src: Source, opts: BreakdownOptions): Promise<Breakdown> {
  // The window sum is taken over all groups before LIMIT: the section total without a second pass.
  const top = await db.all(
    `SELECT ${src.expr} AS value, ${MEASURES}, sum(sum(runs)) OVER () AS total_runs
     FROM ${src.from} WHERE ${src.where}
     GROUP BY ${src.expr} ORDER BY runs DESC, value LIMIT ?`,
    [...src.params, opts.topN + 1],
  );
  const candidates = top.slice(0, opts.topN).map((r) => valueCount(r, r.value as string | number));
  const rows = candidates.filter((r) => r.users + r.idless >= opts.minBacking);
  const runs = count(top[0]?.total_runs);
  const shownRuns = rows.reduce((a, r) => a + r.runs, 0);
  if (shownRuns === runs) return { rows, other: null, runs };
  const notShown = rows.length ? ` AND ${src.expr} NOT IN (${rows.map(() => '?').join(', ')})` : '';
  const [o] = await db.all(`SELECT ${MEASURES} FROM ${src.from} WHERE ${src.where}${notShown}`, [
    ...src.params,
    ...rows.map((r) => r.value),
  ]);
  return { rows, other: valueCount(o ?? {}, 'other'), runs };
}

const PAIRS = 'rep_pairs';

/** The dimensions of the month's groups the report breaks down, in report order. */
export const DIMENSIONS: Record<string, string> = {
  projects: 'project',
  versions: "coalesce(version, '(none)')",
  runtimes: "coalesce(runtime, '(none)')",
  platforms: "coalesce(os, '(none)') || '/' || coalesce(arch, '(none)')",
  ci: "CASE ci WHEN 1 THEN 'CI' WHEN 0 THEN 'not CI' ELSE 'unknown' END",
  clients: 'format',
};

const DIMS = 'rep_dims';

/**
 * The month's groups reduced to what the dimension and component breakdowns read: per user and
 * combination of dimension values, the runs. About half the rows of the groups table (no host,
 * script or exit code), so each of the dozen breakdown sorts that follow is about half as long.
 * Call once per month before dimensionBreakdown / componentBreakdowns.
 */
export async function createDimensions(db: QueryRunner): Promise<void> {
  await db.exec(`DROP TABLE IF EXISTS ${tempTable(db.dialect, DIMS)}`);
  await db.exec(`DROP TABLE IF EXISTS ${tempTable(db.dialect, PAIRS)}`);
  const cols = 'project, user_id, version, runtime, os, arch, ci, format, components';
  await db.exec(`CREATE TEMP TABLE ${DIMS} AS SELECT ${cols}, sum(runs) AS runs FROM ${GROUPS} GROUP BY ${cols}`);
  await db.exec(`CREATE TEMP TABLE ${PAIRS} AS ${componentPairsSelect(db.dialect, DIMS)}`);
}

export async function dropDimensions(db: QueryRunner): Promise<void> {
  await db.exec(`DROP TABLE IF EXISTS ${tempTable(db.dialect, DIMS)}`);
  await db.exec(`DROP TABLE IF EXISTS ${tempTable(db.dialect, PAIRS)}`);
}

export function dimensionBreakdown(db: QueryRunner, expr: string, opts: BreakdownOptions): Promise<Breakdown> {
  return breakdown(db, { from: DIMS, where: '1 = 1', params: [], expr }, opts);
}

/** Exit codes of completed runs that carry one (Parsl sends none). */
export function exitCodeBreakdown(db: QueryRunner, opts: BreakdownOptions): Promise<Breakdown> {
  return breakdown(db, { from: GROUPS, where: 'has_end = 1 AND exit_code IS NOT NULL', params: [], expr: 'exit_code' }, opts);
}

/** Dimension rows joined to their component (key, value) pairs (createDimensions). */
export const COMPONENT_SOURCE = { from: `${DIMS} AS g JOIN ${PAIRS} AS p ON p.components = g.components`, key: 'p.k', value: 'p.v' };

/** Component keys (most used first, at most `maxKeys`), each with its own top values. */
export async function componentBreakdowns(db: QueryRunner, maxKeys: number, opts: BreakdownOptions): Promise<Map<string, Breakdown>> {
  const c = COMPONENT_SOURCE;
  const keys = await db.all(
    `SELECT ${c.key} AS k, sum(runs) AS runs FROM ${c.from}
     GROUP BY ${c.key} ORDER BY runs DESC, k LIMIT ?`,
    [maxKeys],
  );
  const out = new Map<string, Breakdown>();
  for (const k of keys) {
    const key = String(k.k);
    out.set(key, await breakdown(db, { from: c.from, where: `${c.key} = ?`, params: [key], expr: c.value }, opts));
  }
  return out;
}
