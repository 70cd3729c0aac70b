import { BeaconError } from '../../errors.js';
import { count, type QueryRunner } from '../../store/query-runner.js';
import {
  breakdown,
  COMPONENT_SOURCE,
  componentBreakdowns,
  createDimensions,
  DIMENSIONS,
  dropDimensions,
  dimensionBreakdown,
  exitCodeBreakdown,
  type Breakdown,
} from './breakdowns.js';
import type { DurationStats } from './durations.js';
import { createMonthGroups, dropMonthGroups } from './month-groups.js';
import type { Scope } from './scope.js';
import { summarizeGroups, type MonthSummary } from './summary.js';
import { poisoningData, type PoisoningData } from './poisoning.js';

/**
 * Monthly rollups (schema v3, table monthly_rollups): what `reports monthly` needs of a month whose
 * raw runs `beacon prune` deleted, computed by the very queries the report runs on raw runs, so a
 * report from rollups has the same numbers by construction. Counts are raw (unsuppressed):
 * suppression happens when a report is built, for whatever --min-users it is given.
 *
 * A breakdown's "other" row counts distinct users over everything not listed, so it cannot be
 * derived from per-value counts once the runs are gone. Which values are listed depends only on
 * K (a top value is listed when backed by ≥ K people), and only changes at the backings of the top
 * values, so a rollup keeps one variant of each breakdown per distinct backing (at most TOP_N + 1):
 * exact for every K. No per-run rows and no IDs are kept: only counts and the values the report
 * lists (versions, platforms, exit codes, component values, project names).
 */
export const ROLLUP_VERSION = 1;

/** `variants[i]` is the breakdown as computed with minBacking = `thresholds[i]` (ascending). */
export interface BreakdownVariants {
  thresholds: number[];
  variants: Breakdown[];
}

export interface Rollup {
  v: number;
  top_n: number;
  max_component_keys: number;
  summary: MonthSummary;
  durations: DurationStats;
  exitCodes: BreakdownVariants;
  breakdowns: Record<string, BreakdownVariants>;
  components: [string, BreakdownVariants][];
  /** The month's poisoning checks (counts and days only, no ID), so a pruned month's report keeps them. Absent in rollups made before them. */
  poisoning?: PoisoningData;
}

export interface RollupCaps {
  topN: number;
  maxComponentKeys: number;
}

async function variantsOf(first: Breakdown, compute: (minBacking: number) => Promise<Breakdown>): Promise<BreakdownVariants> {
  // `first` was computed with minBacking 0: every top value listed, the same as at the lowest backing.
  const backings = [...new Set(first.rows.map((r) => r.users + r.idless))].sort((a, b) => a - b);
  const highest = backings[backings.length - 1];
  if (highest === undefined) return { thresholds: [0], variants: [first] };
  const thresholds = [...backings, highest + 1];
  const variants: Breakdown[] = [first];
  for (const t of thresholds.slice(1)) variants.push(await compute(t));
  return { thresholds, variants };
}

/** The breakdown a report with this minBacking would compute: the first variant whose threshold is ≥ it. */
export function resolveVariant(b: BreakdownVariants, minBacking: number): Breakdown {
  const i = b.thresholds.findIndex((t) => t >= minBacking);
  const v = b.variants[i < 0 ? b.variants.length - 1 : i];
  if (!v) throw new Error('a rollup breakdown without variants');
  return v;
}

/** One (month, scope)'s rollup, from its raw runs. Call inside the transaction that deletes them. */
export async function computeRollup(db: QueryRunner, scope: Scope, caps: RollupCaps): Promise<Rollup> {
  const firstMonth = await db.hasTable('user_first_month');
  await createMonthGroups(db, scope, true);
  const { summary, durations } = await summarizeGroups(db, scope, firstMonth);
  const opts = (minBacking: number) => ({ topN: caps.topN, minBacking });
  const breakdowns: Record<string, BreakdownVariants> = {};
  await createDimensions(db);
  for (const [name, expr] of Object.entries(DIMENSIONS)) {
    if (name === 'projects' && scope.project !== null) continue;
    breakdowns[name] = await variantsOf(await dimensionBreakdown(db, expr, opts(0)), (t) => dimensionBreakdown(db, expr, opts(t)));
  }
  const exitCodes = await variantsOf(await exitCodeBreakdown(db, opts(0)), (t) => exitCodeBreakdown(db, opts(t)));
  const c = COMPONENT_SOURCE;
  const components: [string, BreakdownVariants][] = [];
  for (const [key, first] of await componentBreakdowns(db, caps.maxComponentKeys, opts(0))) {
    // The same source componentBreakdowns builds for one key.
    const src = { from: c.from, where: `${c.key} = ?`, params: [key], expr: c.value };
    components.push([key, await variantsOf(first, (t) => breakdown(db, src, opts(t)))]);
  }
  await dropDimensions(db);
  await dropMonthGroups(db);
  const poisoning = await poisoningData(db, scope);
  return {
    v: ROLLUP_VERSION,
    top_n: caps.topN,
    max_component_keys: caps.maxComponentKeys,
    summary,
    durations,
    exitCodes,
    breakdowns,
    components,
    poisoning,
  };
}

/** Months whose raw runs were pruned (empty on a store without schema v3). */
export async function prunedMonths(db: QueryRunner): Promise<Map<number, number>> {
  if (!(await db.hasTable('pruned_months'))) return new Map();
  const rows = await db.all('SELECT month, pruned_ms FROM pruned_months ORDER BY month');
  return new Map(rows.map((r) => [count(r.month), count(r.pruned_ms)]));
}

/** The rollup of (month, scope), or null when that scope had no runs that month. */
export async function loadRollup(db: QueryRunner, month: number, scope: string): Promise<Rollup | null> {
  const rows = await db.all('SELECT data FROM monthly_rollups WHERE month = ? AND scope = ?', [month, scope]);
  if (!rows[0]) return null;
  const r = JSON.parse(String(rows[0].data)) as Rollup;
  if (r.v !== ROLLUP_VERSION) {
    throw new BeaconError(
      'BEACON_ERR_SCHEMA_TOO_NEW',
      `the monthly rollup of ${month} has format ${r.v}, unknown to this usage-beacon; upgrade usage-beacon`,
    );
  }
  return r;
}

/** What the report computes for its month, as it was when the month was rolled up. */
export function rollupDetail(r: Rollup, minBacking: number) {
  const breakdowns: Record<string, Breakdown> = {};
  for (const [name, b] of Object.entries(r.breakdowns)) breakdowns[name] = resolveVariant(b, minBacking);
  return {
    v: r.v,
    summary: r.summary,
    durations: r.durations,
    exitCodes: resolveVariant(r.exitCodes, minBacking),
    breakdowns,
    components: r.components.map(([k, b]): [string, Breakdown] => [k, resolveVariant(b, minBacking)]),
  };
}
