import { count, type QueryRunner } from '../../store/query-runner.js';
import { DURATIONS, durationAtRank } from './month-groups.js';

/**
 * Run lengths of completed runs (duration_ms is only ever set once an end arrived), from the
 * month's rep_durations table (month-groups.ts): the histogram, and nearest-rank median and 90th
 * percentile. Lengths are truncated to 3 significant digits there, which keeps every run in its
 * exact bin and each percentile within 0.1 % of the exact one (docs/reports.md, methodology).
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

export async function durationStats(db: QueryRunner): Promise<DurationStats> {
  const rows = await db.all(`SELECT ${binCase()} AS bin, sum(runs) AS runs FROM ${DURATIONS} GROUP BY 1 ORDER BY 1`);
  const counts = new Array<number>(BIN_EDGES_S.length).fill(0);
  for (const r of rows) counts[count(r.bin)] = count(r.runs);
  const total = counts.reduce((a, b) => a + b, 0);
  const histogram = counts.map((runs, i) => ({ from_s: BIN_EDGES_S[i]!, to_s: BIN_EDGES_S[i + 1] ?? null, runs }));
  if (total === 0) return { runs: 0, histogram, median_s: null, p90_s: null };
  const at = async (q: number) => {
    const ms = await durationAtRank(db, Math.max(1, Math.ceil(q * total)));
    return ms === null ? null : ms / 1000;
  };
  return { runs: total, histogram, median_s: await at(0.5), p90_s: await at(0.9) };
}
