import { count, type QueryRunner } from '../../store/query-runner.js';
import { runsWhere, type Scope } from './scope.js';

/**
 * What could inflate a month's headline numbers, read from the month's runs (docs/reports.md,
 * "Report poisoning"). Anyone can send datagrams with made-up IDs; three patterns are flagged:
 *  - heavy IDs: a user ID with at least HEAVY_MIN_RUNS runs and HEAVY_SHARE of the month's runs;
 *  - one-off bursts: users new this month whose runs all fall on one UTC day and who were never
 *    seen again, on a day with at least BURST_MIN of them and BURST_FACTOR times the month's
 *    median day;
 *  - one network: a daily network tag (run_facts.net_tag: a keyed hash of the source network and
 *    the day, never the address) that brought at least NETWORK_MIN new users and NETWORK_SHARE of
 *    the month's new users.
 * Then the headline numbers are computed again without the flagged users (and the flagged
 * networks' runs). Flags need a real signal: a small project's only user is not "heavy".
 */
export const HEAVY_MIN_RUNS = 100;
export const HEAVY_SHARE = 0.1;
export const BURST_MIN = 50;
export const BURST_FACTOR = 5;
export const NETWORK_MIN = 20;
export const NETWORK_SHARE = 0.1;
/** At most this many network tags are listed (the largest); all flagged ones are excluded. */
const MAX_LISTED = 10;

export interface PoisoningTotals {
  runs_started: number;
  runs_completed: number;
  compute_ms: number;
  unique_users: number;
  new_users: number;
}

export interface PoisoningData {
  /** Runs of the month that carry a network tag (0 in a store from before them: the check is then moot). */
  runs_tagged: number;
  total_runs: number;
  heavy: { runs: number }[];
  burst_days: { day: string; one_off_users: number }[];
  /** Median one-off new users per day (days with runs). */
  median_one_off_per_day: number;
  networks: { day: string; new_users: number }[];
  network_tags_flagged: number;
  all: PoisoningTotals;
  without: PoisoningTotals;
  /** Users removed by the flags (each counted once, whichever flags it). */
  flagged_users: number;
}

const DAY_MS = 86_400_000;
const dayLabel = (d: number) => new Date(d * DAY_MS).toISOString().slice(0, 10);
const marks = (n: number) => Array.from({ length: n }, () => '?').join(', ');

/** CTEs shared by the queries: the month's runs (m) and the scope's users new this month (n). */
function baseCtes(scope: Scope, tags: boolean, firstMonth: boolean): { sql: string; params: unknown[] } {
  const w = runsWhere(scope);
  // user_first_month (schema v2) makes "new" a lookup; a v1 store gets the same answer by anti-join.
  const newUsers = !firstMonth
    ? `SELECT DISTINCT user_id FROM m WHERE user_id IS NOT NULL AND user_id NOT IN
        (SELECT user_id FROM run_facts WHERE month < ?${scope.project === null ? '' : ' AND project = ?'} AND user_id IS NOT NULL)`
    : scope.project === null
      ? 'SELECT user_id FROM user_first_month GROUP BY user_id HAVING min(month) = ?'
      : 'SELECT user_id FROM user_first_month WHERE month = ? AND project = ?';
  const later = scope.project === null ? 'month > ?' : 'month > ? AND project = ?';
  const sql = `WITH m AS (
    SELECT user_id, ${tags ? 'net_tag' : 'NULL AS net_tag'}, has_start, has_end, duration_ms, first_seen_ms / ${DAY_MS} AS day
    FROM run_facts WHERE ${w.sql}),
  n AS (${newUsers}),
  later AS (SELECT DISTINCT user_id FROM run_facts WHERE ${later} AND user_id IS NOT NULL),
  pu AS (SELECT user_id, count(*) AS runs, min(day) AS d0, max(day) AS d1 FROM m WHERE user_id IS NOT NULL GROUP BY user_id),
  oneoff AS (SELECT pu.user_id, pu.d0 AS day FROM pu JOIN n ON n.user_id = pu.user_id
    LEFT JOIN later ON later.user_id = pu.user_id WHERE later.user_id IS NULL AND pu.d0 = pu.d1)`;
  const p = scope.project === null ? [scope.month.key] : [scope.month.key, scope.project];
  return { sql, params: [...w.params, ...p, ...p] };
}

function totals(r: Record<string, unknown> | undefined): PoisoningTotals {
  return {
    runs_started: count(r?.runs_started),
    runs_completed: count(r?.runs_completed),
    compute_ms: count(r?.compute_ms),
    unique_users: count(r?.unique_users),
    new_users: count(r?.new_users),
  };
}

const TOTALS = `count(CASE WHEN has_start = 1 THEN 1 END) AS runs_started,
  count(CASE WHEN has_end = 1 THEN 1 END) AS runs_completed,
  sum(CASE WHEN has_end = 1 THEN duration_ms ELSE 0 END) AS compute_ms,
  count(DISTINCT user_id) AS unique_users,
  count(DISTINCT CASE WHEN user_id IN (SELECT user_id FROM n) THEN user_id END) AS new_users,
  count(*) AS runs,
  count(net_tag) AS runs_tagged`;

/** The month's poisoning checks; null for a month read from rollups (its runs were pruned). */
export async function poisoningData(db: QueryRunner, scope: Scope): Promise<PoisoningData> {
  // Network tags arrived with the collector secret (same migration as collector_secret).
  const tags = await db.hasTable('collector_secret');
  const base = baseCtes(scope, tags, await db.hasTable('user_first_month'));
  const q = (tail: string, extra: unknown[] = []) => db.all(`${base.sql} ${tail}`, [...base.params, ...extra]);

  const [all] = await q(`SELECT ${TOTALS} FROM m`);
  const totalRuns = count(all?.runs);
  const heavyRows = await q('SELECT user_id, runs FROM pu WHERE runs >= ? AND runs >= ? ORDER BY runs DESC', [
    HEAVY_MIN_RUNS,
    Math.ceil(HEAVY_SHARE * totalRuns),
  ]);
  const perDay = await q(
    'SELECT m.day AS day, count(DISTINCT oneoff.user_id) AS n FROM m LEFT JOIN oneoff ON oneoff.day = m.day GROUP BY m.day ORDER BY m.day',
  );
  const counts = perDay.map((r) => count(r.n)).sort((a, b) => a - b);
  const median =
    counts.length === 0
      ? 0
      : counts.length % 2
        ? counts[(counts.length - 1) >> 1]!
        : (counts[counts.length / 2 - 1]! + counts[counts.length / 2]!) / 2;
  const bursts = perDay.filter((r) => count(r.n) >= BURST_MIN && count(r.n) >= BURST_FACTOR * median);
  const newTotal = count(all?.new_users);
  const netRows = tags
    ? await q(
        `SELECT net_tag, min(day) AS day, count(DISTINCT m.user_id) AS users FROM m JOIN n ON n.user_id = m.user_id
        WHERE net_tag IS NOT NULL GROUP BY net_tag HAVING count(DISTINCT m.user_id) >= ? AND count(DISTINCT m.user_id) >= ?
        ORDER BY users DESC`,
        [NETWORK_MIN, Math.ceil(NETWORK_SHARE * newTotal)],
      )
    : [];

  const heavyIds = heavyRows.map((r) => r.user_id);
  const burstDays = bursts.map((r) => count(r.day));
  const flaggedTags = netRows.map((r) => r.net_tag);
  const flagged = [
    heavyIds.length ? `SELECT user_id FROM pu WHERE user_id IN (${marks(heavyIds.length)})` : null,
    burstDays.length ? `SELECT user_id FROM oneoff WHERE day IN (${marks(burstDays.length)})` : null,
    flaggedTags.length ? `SELECT m.user_id FROM m JOIN n ON n.user_id = m.user_id WHERE m.net_tag IN (${marks(flaggedTags.length)})` : null,
  ].filter((s): s is string => s !== null);
  const flaggedParams = [...heavyIds, ...burstDays, ...flaggedTags];
  let without = totals(all);
  let flaggedUsers = 0;
  if (flagged.length > 0) {
    const sets = `, f AS (${flagged.join(' UNION ')})`;
    // A flagged network's runs without a user ID go too: nothing else can vouch for them.
    const tagCut = flaggedTags.length
      ? ` AND NOT (user_id IS NULL AND net_tag IS NOT NULL AND net_tag IN (${marks(flaggedTags.length)}))`
      : '';
    const [w] = await q(
      `${sets} SELECT ${TOTALS}, (SELECT count(*) FROM f) AS flagged FROM m
      WHERE (user_id IS NULL OR user_id NOT IN (SELECT user_id FROM f))${tagCut}`,
      [...flaggedParams, ...flaggedTags],
    );
    without = totals(w);
    flaggedUsers = count(w?.flagged);
  }
  return {
    runs_tagged: count(all?.runs_tagged),
    total_runs: totalRuns,
    heavy: heavyRows.map((r) => ({ runs: count(r.runs) })),
    burst_days: bursts.map((r) => ({ day: dayLabel(count(r.day)), one_off_users: count(r.n) })),
    median_one_off_per_day: median,
    networks: netRows.slice(0, MAX_LISTED).map((r) => ({ day: dayLabel(count(r.day)), new_users: count(r.users) })),
    network_tags_flagged: netRows.length,
    all: totals(all),
    without,
    flagged_users: flaggedUsers,
  };
}
