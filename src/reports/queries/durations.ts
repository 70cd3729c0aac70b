import { count, num, type QueryRunner } from '../query-runner.js';
import { runsWhere, type Scope } from './scope.js';

/**
 * Run lengths of completed runs (duration_ms is only ever set once an end arrived). Range counts
 * over the index run_facts_duration (month, duration_ms, project) give the histogram; exact
 * percentiles then seek into the one bin that holds the wanted rank, so no query walks the month
 * twice.
 */

/** Bin edges in seconds; the last bin is open-ended. Chosen for how long workflow runs take. */
export const BIN_EDGES_S = [0, 1, 10, 60, 300, 900, 3600, 3 * 3600, 12 * 3600, 24 * 3600, 7 * 24 * 3600] as const;

export interface HistogramBin {
  from_s: number;
  to_s: number | null;
  runs: number;
}

export interface DurationStats {
  runs: number;
  histogram: HistogramBin[];
  median_s: number | null;
  p90_s: number | null;
}

/** One range count per bin: index-only range scans, several times faster than a CASE per row. */
async function binCounts(db: QueryRunner, scope: Scope): Promise<number[]> {
  const where = runsWhere(scope);
  const counts: number[] = [];
  for (const [i, from] of BIN_EDGES_S.entries()) {
    const to = BIN_EDGES_S[i + 1];
    const lower = i === 0 ? 'duration_ms IS NOT NULL' : `duration_ms >= ${from * 1000}`;
    const upper = to === undefined ? '' : ` AND duration_ms < ${to * 1000}`;
    const rows = await db.all(`SELECT count(*) AS n FROM run_facts WHERE ${where.sql} AND ${lower}${upper}`, where.params);
    counts.push(count(rows[0]?.n));
  }
  return counts;
}

export async function durationStats(db: QueryRunner, scope: Scope): Promise<DurationStats> {
  const counts = await binCounts(db, scope);
  const histogram = counts.map((runs, i) => ({ from_s: BIN_EDGES_S[i]!, to_s: BIN_EDGES_S[i + 1] ?? null, runs }));
  const total = counts.reduce((a, b) => a + b, 0);
  return {
    runs: total,
    histogram,
    median_s: await nearestRank(db, scope, histogram, total, 0.5),
    p90_s: await nearestRank(db, scope, histogram, total, 0.9),
  };
}

/** Nearest-rank percentile: the smallest duration with at least q of the runs at or below it. */
async function nearestRank(db: QueryRunner, scope: Scope, bins: HistogramBin[], total: number, q: number): Promise<number | null> {
  if (total === 0) return null;
  let rank = Math.max(1, Math.ceil(q * total));
  for (const bin of bins) {
    if (rank > bin.runs) {
      rank -= bin.runs;
      continue;
    }
    const where = runsWhere(scope);
    // The first bin has no lower bound (as in binCounts), so odd negative values land somewhere.
    const lower = bin.from_s === 0 ? 'duration_ms IS NOT NULL' : `duration_ms >= ${bin.from_s * 1000}`;
    const upper = bin.to_s === null ? '' : ` AND duration_ms < ${bin.to_s * 1000}`;
    const rows = await db.all(
      `SELECT duration_ms FROM run_facts
       WHERE ${where.sql} AND ${lower}${upper}
       ORDER BY duration_ms LIMIT 1 OFFSET ?`,
      [...where.params, rank - 1],
    );
    const ms = num(rows[0]?.duration_ms);
    return ms === null ? null : ms / 1000;
  }
  return null;
}
