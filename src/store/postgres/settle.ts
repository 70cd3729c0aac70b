import type { Pool, PoolClient } from 'pg';
import { SETTLED_GROUP_COLUMNS, truncatedDuration } from '../columns.js';
import type { SettleOutcome } from '../types.js';

/**
 * Settled-run aggregates on PostgreSQL (schema v5): what src/store/sqlite/settle.ts does for SQLite, with
 * a cut that holds while several receivers write at once.
 *
 * A run is stamped, by the upsert that completes it, with that transaction's xid
 * (run_facts.settled_xid). A settle runs in one REPEATABLE READ transaction and takes as its cut
 * the xmin of its snapshot: every transaction below it has ended, so the runs with
 * settled_xid < cut are all visible to the settle and final, and no commit to come can add one
 * (new transactions get higher xids). The aggregates of a month cover exactly those runs; a report
 * adds the month's runs with no stamp or a stamp at or above the cut, read live.
 *
 * The receivers' writes are never blocked: the grouping only reads, and the swap rewrites the
 * month's aggregate rows, which nothing but a settle writes. Two settles of one month are
 * serialized by an advisory lock (the second one skips the month: 'raced'); a concurrent prune or
 * hand edit moves the month's delete count, which makes these aggregates unusable until the next
 * settle rebuilds them.
 */

/** Advisory-lock namespace of settling (the second key is the month). */
const LOCK_SPACE = 0x5e771e;

const COMPLETE = 'has_start = 1 AND has_end = 1';

const SETTLE_WORK_MEM = '128MB'; // as the reports' (postgres/query-runner.ts)

async function inTransaction<T>(client: PoolClient, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
  try {
    const out = await work();
    await client.query('COMMIT');
    return out;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  }
}

/** Brings one month's aggregates up to now (see the module comment). */
export async function settlePostgresMonth(pool: Pool, month: number): Promise<SettleOutcome> {
  const client = await pool.connect();
  try {
    return await inTransaction(client, async () => {
      const locked = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1, $2) AS ok', [LOCK_SPACE, month]);
      if (locked.rows[0]?.ok !== true) return 'raced';
      // A month rebuilt from a million runs groups them in memory rather than in temp files
      // (for this transaction only, and never lowering what the operator configured).
      await client.query(`SELECT set_config('work_mem', $1, true) WHERE pg_size_bytes(current_setting('work_mem')) < pg_size_bytes($1)`, [
        SETTLE_WORK_MEM,
      ]);
      const now = await client.query<{ cut: string; deletes: string | null }>(
        `SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS cut,
                (SELECT deletes FROM report_month_changes WHERE month = $1)::text AS deletes`,
        [month],
      );
      const snapshot = now.rows[0];
      if (!snapshot) throw new Error('PostgreSQL returned no snapshot row');
      const cut = snapshot.cut;
      const deletes = snapshot.deletes ?? '0';
      const state = await client.query<{ cut: string; deletes: string }>(
        'SELECT cut::text AS cut, deletes::text AS deletes FROM report_settled_months WHERE month = $1',
        [month],
      );
      const prev = state.rows[0];
      const rebuild = prev === undefined || prev.deletes !== deletes;
      // The month's runs newly settled: all completed runs below the cut, or those since the last cut.
      const fresh = rebuild
        ? { sql: `month = $1 AND ${COMPLETE} AND settled_xid < $2::xid8`, params: [month, cut] }
        : { sql: `month = $1 AND ${COMPLETE} AND settled_xid >= $2::xid8 AND settled_xid < $3::xid8`, params: [month, prev.cut, cut] };
      if (!rebuild) {
        const any = await client.query(`SELECT 1 FROM run_facts WHERE ${fresh.sql} LIMIT 1`, fresh.params);
        if (any.rowCount === 0) return 'unchanged';
      }
      const runs = `SELECT ${SETTLED_GROUP_COLUMNS}, 1 AS runs, duration_ms AS dur_sum, CASE WHEN duration_ms IS NULL THEN 0 ELSE 1 END AS dur_n, duration_ms
        FROM run_facts WHERE ${fresh.sql}`;
      const keep = (table: string, cols: string) => (rebuild ? '' : `SELECT ${cols} FROM ${table} WHERE month = $1 UNION ALL `);
      await client.query('DROP TABLE IF EXISTS pg_temp.settle_groups, pg_temp.settle_durations');
      await client.query(
        `CREATE TEMP TABLE settle_groups ON COMMIT DROP AS
         SELECT ${SETTLED_GROUP_COLUMNS}, sum(runs) AS runs, sum(dur_sum) AS dur_sum, sum(dur_n) AS dur_n FROM (
           ${keep('report_settled_groups', `${SETTLED_GROUP_COLUMNS}, runs, dur_sum, dur_n`)}SELECT ${SETTLED_GROUP_COLUMNS}, runs, dur_sum, dur_n FROM (${runs}) AS n
         ) AS g GROUP BY ${SETTLED_GROUP_COLUMNS}`,
        fresh.params,
      );
      await client.query(
        `CREATE TEMP TABLE settle_durations ON COMMIT DROP AS
         SELECT project, duration_ms, sum(runs) AS runs FROM (
           ${keep('report_settled_durations', 'project, duration_ms, runs')}SELECT project, ${truncatedDuration()} AS duration_ms, 1 AS runs FROM (${runs}) AS n WHERE duration_ms IS NOT NULL
         ) AS d GROUP BY project, duration_ms`,
        fresh.params,
      );
      await client.query('DELETE FROM report_settled_groups WHERE month = $1', [month]);
      await client.query('DELETE FROM report_settled_durations WHERE month = $1', [month]);
      await client.query(
        `INSERT INTO report_settled_groups (month, ${SETTLED_GROUP_COLUMNS}, runs, dur_sum, dur_n)
         SELECT $1, ${SETTLED_GROUP_COLUMNS}, runs, dur_sum, dur_n FROM settle_groups`,
        [month],
      );
      await client.query(
        'INSERT INTO report_settled_durations (month, project, duration_ms, runs) SELECT $1, project, duration_ms, runs FROM settle_durations',
        [month],
      );
      await client.query(
        `INSERT INTO report_settled_months (month, cut, deletes) VALUES ($1, $2::xid8, $3)
         ON CONFLICT (month) DO UPDATE SET cut = excluded.cut, deletes = excluded.deletes`,
        [month, cut, deletes],
      );
      return rebuild ? 'rebuilt' : 'extended';
    });
  } catch (e) {
    // Another settle or a prune committed a conflicting change meanwhile: the next round retries.
    if ((e as { code?: string }).code === '40001') return 'raced';
    throw e;
  } finally {
    client.release();
  }
}

/** Settles every month with runs (months whose runs were all pruned are quickly 'unchanged'). */
export async function settlePostgresAll(pool: Pool): Promise<Map<number, SettleOutcome>> {
  const months = await pool.query<{ month: number }>('SELECT month FROM report_month_changes ORDER BY month');
  const out = new Map<number, SettleOutcome>();
  for (const { month } of months.rows) out.set(month, await settlePostgresMonth(pool, month));
  return out;
}
