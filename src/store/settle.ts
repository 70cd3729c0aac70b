import type { Database } from 'better-sqlite3';

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

/** What a report groups by, minus has_start/has_end (both 1 for a settled run). */
export const SETTLED_GROUP_COLUMNS = 'project, user_id, host_id, script_id, exit_code, format, eph, version, runtime, os, arch, ci, components';

/**
 * A run length truncated to 3 significant digits (integer ms, portable SQL). Truncating, not
 * rounding, keeps every run in its histogram bin (all bin edges have ≤ 3 significant digits);
 * percentiles taken on it are within 0.1 % of the exact value. Reports use it everywhere, so a
 * figure never depends on whether a month was settled.
 */
export function truncatedDuration(col = 'duration_ms'): string {
  const steps: string[] = [`WHEN ${col} < 1000 THEN ${col}`];
  for (let digits = 4, unit = 10; digits <= 12; digits++, unit *= 10) {
    steps.push(`WHEN ${col} < ${10 ** digits} THEN ${col} / ${unit} * ${unit}`);
  }
  return `CASE ${steps.join(' ')} ELSE ${col} END`;
}

export type SettleOutcome = 'unchanged' | 'extended' | 'rebuilt';

interface MonthState {
  seq: number;
  deletes: number;
}

function insertGroups(db: Database, month: number, source: string, params: unknown[]): void {
  db.prepare(
    `INSERT INTO report_settled_groups (month, ${SETTLED_GROUP_COLUMNS}, runs, dur_sum, dur_n)
     SELECT ?, ${SETTLED_GROUP_COLUMNS}, sum(runs), sum(dur_sum), sum(dur_n) FROM (${source})
     GROUP BY ${SETTLED_GROUP_COLUMNS}`,
  ).run(month, ...params);
}

const NEW_RUNS = `SELECT ${SETTLED_GROUP_COLUMNS}, 1 AS runs, duration_ms AS dur_sum, duration_ms IS NOT NULL AS dur_n
  FROM run_facts WHERE month = ? AND settled_seq > ? AND settled_seq <= ?`;

/** Brings one month's aggregates up to the store's current write sequence. */
export function settleMonth(db: Database, month: number): SettleOutcome {
  return db.transaction((): SettleOutcome => {
    const seq = (db.prepare('SELECT seq FROM write_seq WHERE id = 1').pluck().get() as number | undefined) ?? 0;
    const deletes = (db.prepare('SELECT deletes FROM report_month_changes WHERE month = ?').pluck().get(month) as number | undefined) ?? 0;
    const state = db.prepare('SELECT seq, deletes FROM report_settled_months WHERE month = ?').get(month) as MonthState | undefined;
    const rebuild = state === undefined || state.deletes !== deletes;
    const from = rebuild ? -1 : state.seq;
    const newest = db.prepare('SELECT max(settled_seq) FROM run_facts WHERE month = ?').pluck().get(month) as number | null;
    if (!rebuild && (newest === null || newest <= from)) return 'unchanged';

    if (rebuild) {
      db.prepare('DELETE FROM report_settled_groups WHERE month = ?').run(month);
      db.prepare('DELETE FROM report_settled_durations WHERE month = ?').run(month);
      insertGroups(db, month, NEW_RUNS, [month, from, seq]);
    } else {
      // Groups have nullable key columns (no usable unique key), so the month's groups and the new
      // runs are grouped together again and replace the old rows.
      db.exec('DROP TABLE IF EXISTS temp.settle_old');
      db.prepare(`CREATE TEMP TABLE settle_old AS SELECT ${SETTLED_GROUP_COLUMNS}, runs, dur_sum, dur_n FROM report_settled_groups WHERE month = ?`).run(month);
      db.prepare('DELETE FROM report_settled_groups WHERE month = ?').run(month);
      insertGroups(db, month, `SELECT ${SETTLED_GROUP_COLUMNS}, runs, dur_sum, dur_n FROM temp.settle_old UNION ALL ${NEW_RUNS}`, [month, from, seq]);
      db.exec('DROP TABLE temp.settle_old');
    }
    db.prepare(
      `INSERT INTO report_settled_durations (month, project, duration_ms, runs)
       SELECT ?, project, ${truncatedDuration()} AS d, count(*) FROM run_facts
       WHERE month = ? AND settled_seq > ? AND settled_seq <= ? AND duration_ms IS NOT NULL
       GROUP BY project, d
       ON CONFLICT (month, project, duration_ms) DO UPDATE SET runs = runs + excluded.runs`,
    ).run(month, month, from, seq);
    db.prepare(
      `INSERT INTO report_settled_months (month, seq, deletes) VALUES (?, ?, ?)
       ON CONFLICT (month) DO UPDATE SET seq = excluded.seq, deletes = excluded.deletes`,
    ).run(month, seq, deletes);
    return rebuild ? 'rebuilt' : 'extended';
  }).immediate();
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
