import type { Database } from 'better-sqlite3';
import { SETTLED_GROUP_COLUMNS, truncatedDuration } from '../columns.js';
import type { SettleOutcome } from '../types.js';

/**
 * Settled runs folded into per-month aggregates (SQLite schema v4), so a monthly report reads a
 * hundred thousand groups instead of sorting a million runs.
 *
 * A run is settled once it has both its start and its end: every later datagram of it is a copy
 * and changes nothing, so its contribution to a report can be computed once. The store stamps it
 * with the write sequence of the batch that settled it (run_facts.settled_seq); SQLite writes are
 * serialized, so "settled_seq <= S" is an exact cut. For each month, report_settled_months
 * records the cut S its aggregates cover and the month's delete count then: a report combines the
 * aggregates with the month's runs not settled by S, read live, and gets exactly what the runs
 * alone would give. A delete (beacon prune) moves the delete count, and the month is rebuilt.
 *
 * The receiver settles every few minutes from its store thread (the same connection that writes,
 * so no lock is waited for); the cost is one grouping of the month's groups plus the new runs.
 */

interface MonthState {
  seq: number;
  deletes: number;
}

interface Cut {
  seq: number;
  deletes: number;
  state: MonthState | undefined;
}

function readCut(db: Database, month: number): Cut {
  const seq = (db.prepare('SELECT seq FROM write_seq WHERE id = 1').pluck().get() as number | undefined) ?? 0;
  const deletes = (db.prepare('SELECT deletes FROM report_month_changes WHERE month = ?').pluck().get(month) as number | undefined) ?? 0;
  const state = db.prepare('SELECT seq, deletes FROM report_settled_months WHERE month = ?').get(month) as MonthState | undefined;
  return { seq, deletes, state };
}

const NEW_RUNS = `SELECT ${SETTLED_GROUP_COLUMNS}, 1 AS runs, duration_ms AS dur_sum, duration_ms IS NOT NULL AS dur_n, duration_ms
  FROM run_facts WHERE month = ? AND settled_seq > ? AND settled_seq <= ?`;

/**
 * Brings one month's aggregates up to the store's current write sequence, in two steps so a
 * receiver writing to the same file is held up for the shortest time: the grouping (seconds for
 * a month rebuilt from a million runs) runs in a read transaction, which never blocks the writer,
 * into temp tables; a short write transaction then swaps them in, unless another settle or a
 * delete got there first ('raced': the next round retries).
 */
export function settleMonth(db: Database, month: number): SettleOutcome {
  let cut: Cut;
  let rebuild: boolean;
  db.exec('DROP TABLE IF EXISTS temp.settle_groups; DROP TABLE IF EXISTS temp.settle_durations');
  db.exec('BEGIN');
  try {
    cut = readCut(db, month);
    rebuild = cut.state === undefined || cut.state.deletes !== cut.deletes;
    const from = rebuild || cut.state === undefined ? -1 : cut.state.seq;
    const newest = db.prepare('SELECT max(settled_seq) FROM run_facts WHERE month = ?').pluck().get(month) as number | null;
    if (!rebuild && (newest === null || newest <= from)) return 'unchanged';
    const fresh = [month, from, cut.seq];
    const keep = rebuild
      ? ''
      : `SELECT ${SETTLED_GROUP_COLUMNS}, runs, dur_sum, dur_n FROM report_settled_groups WHERE month = ${Number(month)} UNION ALL `;
    db.prepare(
      `CREATE TEMP TABLE settle_groups AS
       SELECT ${SETTLED_GROUP_COLUMNS}, sum(runs) AS runs, sum(dur_sum) AS dur_sum, sum(dur_n) AS dur_n FROM (
         ${keep}SELECT ${SETTLED_GROUP_COLUMNS}, runs, dur_sum, dur_n FROM (${NEW_RUNS}) AS n
       ) AS g GROUP BY ${SETTLED_GROUP_COLUMNS}`,
    ).run(...fresh);
    const keepDurations = rebuild
      ? ''
      : `SELECT project, duration_ms, runs FROM report_settled_durations WHERE month = ${Number(month)} UNION ALL `;
    db.prepare(
      `CREATE TEMP TABLE settle_durations AS
       SELECT project, duration_ms, sum(runs) AS runs FROM (
         ${keepDurations}SELECT project, ${truncatedDuration()} AS duration_ms, 1 AS runs FROM (${NEW_RUNS}) AS n WHERE duration_ms IS NOT NULL
       ) AS d GROUP BY project, duration_ms`,
    ).run(...fresh);
  } finally {
    db.exec('COMMIT');
  }
  const swapped = db
    .transaction((): boolean => {
      const now = readCut(db, month);
      const same = now.deletes === cut.deletes && now.state?.seq === cut.state?.seq && now.state?.deletes === cut.state?.deletes;
      if (!same) return false;
      db.prepare('DELETE FROM report_settled_groups WHERE month = ?').run(month);
      db.prepare('DELETE FROM report_settled_durations WHERE month = ?').run(month);
      db.prepare(
        `INSERT INTO report_settled_groups (month, ${SETTLED_GROUP_COLUMNS}, runs, dur_sum, dur_n)
      SELECT ?, ${SETTLED_GROUP_COLUMNS}, runs, dur_sum, dur_n FROM temp.settle_groups`,
      ).run(month);
      db.prepare(
        `INSERT INTO report_settled_durations (month, project, duration_ms, runs)
      SELECT ?, project, duration_ms, runs FROM temp.settle_durations`,
      ).run(month);
      db.prepare(
        `INSERT INTO report_settled_months (month, seq, deletes) VALUES (?, ?, ?)
       ON CONFLICT (month) DO UPDATE SET seq = excluded.seq, deletes = excluded.deletes`,
      ).run(month, cut.seq, cut.deletes);
      return true;
    })
    .immediate();
  db.exec('DROP TABLE IF EXISTS temp.settle_groups; DROP TABLE IF EXISTS temp.settle_durations');
  if (!swapped) return 'raced';
  return rebuild ? 'rebuilt' : 'extended';
}

/**
 * Settles every month that has runs settled since its last cut (in practice the current and the
 * previous month). Months whose raw runs were pruned have no runs left and are skipped.
 */
export function settleAll(db: Database): Map<number, SettleOutcome> {
  const months = db.prepare('SELECT month FROM report_month_changes ORDER BY month').pluck().all() as number[];
  const out = new Map<number, SettleOutcome>();
  for (const m of months) out.set(m, settleMonth(db, m));
  return out;
}
