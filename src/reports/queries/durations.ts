import { count, num, type QueryRunner } from '../query-runner.js';
import { runsWhere, type Scope } from './scope.js';

/**
 * Run lengths of completed runs (duration_ms is only ever set once an end arrived): the histogram
 * from one pass over the month, then exact nearest-rank median and 90th percentile from a second
 * pass that sorts only the one or two bins holding those ranks (window functions both SQLite and
 * PostgreSQL have). With the optional index run_facts_duration both passes are range scans.
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

function binCase(): string {
  const whens = BIN_EDGES_S.slice(1).map((edge, i) => `WHEN duration_ms < ${edge * 1000} THEN ${i}`);
  return `CASE ${whens.join(' ')} ELSE ${BIN_EDGES_S.length - 1} END`;
}

const bounds = (bin: number) => {
  const from = BIN_EDGES_S[bin]!;
  const to = BIN_EDGES_S[bin + 1];
  // The first bin has no lower bound, like the CASE above, so every duration is in some bin.
  const lower = bin === 0 ? 'duration_ms IS NOT NULL' : `duration_ms >= ${from * 1000}`;
  return to === undefined ? lower : `${lower} AND duration_ms < ${to * 1000}`;
};

/** Bin and rank within the bin of the nearest-rank q-percentile (rank ceil(q·n)). */
function locate(counts: number[], total: number, q: number): { bin: number; rank: number } {
  let rank = Math.max(1, Math.ceil(q * total));
  for (const [bin, n] of counts.entries()) {
    if (rank <= n) return { bin, rank };
    rank -= n;
  }
  throw new Error('percentile rank beyond the histogram');
}

export async function durationStats(db: QueryRunner, scope: Scope): Promise<DurationStats> {
  const where = runsWhere(scope);
  const rows = await db.all(
    `SELECT ${binCase()} AS bin, count(*) AS runs FROM run_facts
     WHERE ${where.sql} AND duration_ms IS NOT NULL GROUP BY 1 ORDER BY 1`,
    where.params,
  );
  const counts = new Array<number>(BIN_EDGES_S.length).fill(0);
  for (const r of rows) counts[count(r.bin)] = count(r.runs);
  const total = counts.reduce((a, b) => a + b, 0);
  const histogram = counts.map((runs, i) => ({ from_s: BIN_EDGES_S[i]!, to_s: BIN_EDGES_S[i + 1] ?? null, runs }));
  if (total === 0) return { runs: 0, histogram, median_s: null, p90_s: null };
  const med = locate(counts, total, 0.5);
  const p90 = locate(counts, total, 0.9);
  const picked = await db.all(
    `WITH d AS (
       SELECT duration_ms, ${binCase()} AS bin FROM run_facts
       WHERE ${where.sql} AND ((${bounds(med.bin)}) OR (${bounds(p90.bin)}))
     ), r AS (
       SELECT duration_ms, bin, row_number() OVER (PARTITION BY bin ORDER BY duration_ms) AS rn FROM d
     )
     SELECT bin, rn, duration_ms FROM r WHERE (bin = ? AND rn = ?) OR (bin = ? AND rn = ?)`,
    [...where.params, med.bin, med.rank, p90.bin, p90.rank],
  );
  const at = (p: { bin: number; rank: number }) => {
    const ms = num(picked.find((r) => count(r.bin) === p.bin && count(r.rn) === p.rank)?.duration_ms);
    return ms === null ? null : ms / 1000;
  };
  return { runs: total, histogram, median_s: at(med), p90_s: at(p90) };
}
