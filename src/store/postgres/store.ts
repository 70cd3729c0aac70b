import type { Pool, PoolClient } from 'pg';
import { BeaconError } from '../../errors.js';
import { MAX_PLAUSIBLE_DURATION_MS } from '../../protocol/limits.js';
import type { CounterName } from '../counters.js';
import { migratePostgres } from './migrate.js';
import { dbOpenError, openPostgresPool, type PoolOptions } from './connection.js';
import { BatchColumns, dayOfMs, splitBatch } from './batch.js';
import type { CounterDelta, IngestRecord, RunStore, WriteResult } from '../types.js';

/**
 * The PostgreSQL store: the same semantics as the SQLite store (sqlite/store.ts), for several
 * receivers writing one database. Dedupe is the primary key: a start (or end) upserts the run's
 * row only while its has_start (has_end) flag is 0, so a copy of a stored datagram changes
 * nothing, whichever receiver got it. Identity fields keep the first non-null value;
 * first_seen_ms / month keep the earliest arrival; components of start and end are merged.
 *
 * A batch is one transaction of at most three statements, each one round trip whatever the batch
 * size (columns sent as arrays and expanded with unnest): the first datagram of every run in the
 * batch, then the other half of runs whose start and end both came in this batch (one INSERT … ON
 * CONFLICT may not touch a row twice), then the counters. RETURNING lists the runs a statement
 * really changed, which is exactly what was stored; the rest are duplicates.
 *
 * Concurrent receivers: rows are upserted in run order and counters in key order, so two batches
 * lock rows in the same order and cannot deadlock on them; the second statement touches only rows
 * the first already locked. A deadlock or serialization failure the server still reports (from
 * an unforeseen order) rolls the transaction back and is retried here a few times, as is a batch
 * that met a dead pooled connection (server restarted). If a connection dies after COMMIT was sent
 * but before its answer, the rerun finds the rows stored and counts them as duplicates: the runs
 * are right, only that batch's stored/duplicates split is off.
 */

const IDENTITY = ['user_id', 'host_id', 'script_id', 'version', 'runtime', 'os', 'arch', 'ci', 'net_tag'] as const;

/** Legacy Parsl ends carry no duration: derive end − start from the client clocks when plausible. */
function derived(endMs: string, startMs: string): string {
  return `CASE WHEN ${endMs} - ${startMs} BETWEEN 0 AND ${MAX_PLAUSIBLE_DURATION_MS} THEN ${endMs} - ${startMs} END`;
}

export const UPSERT_RUNS = `
INSERT INTO run_facts AS t (run, project, format, user_id, host_id, script_id, weak_ids, eph, version, runtime,
  os, arch, ci, components, first_seen_ms, month, start_seen_ms, end_seen_ms, client_start_ms, client_end_ms,
  exit_code, duration_ms, has_start, has_end, net_tag)
SELECT run, project, format, user_id, host_id, script_id, weak_ids, eph, version, runtime,
  os, arch, ci, components::jsonb, seen_ms, month,
  CASE WHEN is_end = 0 THEN seen_ms END, CASE WHEN is_end = 1 THEN seen_ms END,
  CASE WHEN is_end = 0 THEN client_ms END, CASE WHEN is_end = 1 THEN client_ms END,
  CASE WHEN is_end = 1 THEN exit_code END, CASE WHEN is_end = 1 THEN duration_ms END, 1 - is_end, is_end, net_tag
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::int[],
  $9::text[], $10::text[], $11::text[], $12::text[], $13::int[], $14::text[], $15::bigint[], $16::int[],
  $17::bigint[], $18::int[], $19::bigint[], $20::int[], $21::text[])
  AS u(run, project, format, user_id, host_id, script_id, weak_ids, eph, version, runtime,
       os, arch, ci, components, seen_ms, month, client_ms, exit_code, duration_ms, is_end, net_tag)
ORDER BY run COLLATE "C"
ON CONFLICT (run) DO UPDATE SET
  has_start = greatest(t.has_start, excluded.has_start),
  has_end = greatest(t.has_end, excluded.has_end),
  -- Completed by this transaction: settled at its xid (schema v5, src/store/postgres/settle.ts).
  settled_xid = CASE WHEN greatest(t.has_start, excluded.has_start) = 1 AND greatest(t.has_end, excluded.has_end) = 1
    THEN pg_current_xact_id() ELSE t.settled_xid END,
  start_seen_ms = CASE WHEN excluded.has_start = 1 THEN excluded.start_seen_ms ELSE t.start_seen_ms END,
  client_start_ms = CASE WHEN excluded.has_start = 1 THEN excluded.client_start_ms ELSE t.client_start_ms END,
  end_seen_ms = CASE WHEN excluded.has_end = 1 THEN excluded.end_seen_ms ELSE t.end_seen_ms END,
  client_end_ms = CASE WHEN excluded.has_end = 1 THEN excluded.client_end_ms ELSE t.client_end_ms END,
  exit_code = CASE WHEN excluded.has_end = 1 THEN excluded.exit_code ELSE t.exit_code END,
  duration_ms = CASE WHEN excluded.has_end = 1
    THEN coalesce(excluded.duration_ms, ${derived('excluded.client_end_ms', 't.client_start_ms')})
    ELSE coalesce(t.duration_ms, ${derived('t.client_end_ms', 'excluded.client_start_ms')}) END,
  weak_ids = greatest(t.weak_ids, excluded.weak_ids),
  eph = greatest(t.eph, excluded.eph),
  components = CASE WHEN t.components IS NULL THEN excluded.components
                    WHEN excluded.components IS NULL THEN t.components
                    ELSE t.components || excluded.components END,
  month = CASE WHEN excluded.first_seen_ms < t.first_seen_ms THEN excluded.month ELSE t.month END,
  first_seen_ms = least(t.first_seen_ms, excluded.first_seen_ms),
  ${IDENTITY.map((c) => `${c} = coalesce(t.${c}, excluded.${c})`).join(',\n  ')}
WHERE CASE WHEN excluded.has_end = 1 THEN t.has_end = 0 ELSE t.has_start = 0 END
RETURNING run`;

const ADD_COUNTERS = `
INSERT INTO daily_counters (day, name, value)
SELECT day, name, value FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(day, name, value)
ORDER BY day COLLATE "C", name COLLATE "C"
ON CONFLICT (day, name) DO UPDATE SET value = daily_counters.value + excluded.value`;

/** deadlock_detected, serialization_failure: the transaction rolled back and may simply be rerun. */
const TRANSIENT = new Set(['40P01', '40001']);
const ATTEMPTS = 4;

/**
 * The connection, not the statement, failed: a socket error (no SQLSTATE), class 08 (connection
 * exception) or 57P01–57P03 (server shutting down or restarting). The batch is rerun on a
 * fresh connection, which is what a pool holding connections from before a server restart needs.
 */
function isConnectionError(code: string | undefined): boolean {
  return code === undefined || code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || /^E[A-Z]+$/.test(code);
}

export class PostgresStore implements RunStore {
  readonly kind = 'postgres' as const;
  private closed = false;
  /** Batches rerun after a deadlock, serialization failure or lost connection (for metrics and tests). */
  retries = 0;

  constructor(readonly pool: Pool) {}

  async writeBatch(records: readonly IngestRecord[], counters: readonly CounterDelta[]): Promise<WriteResult> {
    if (this.closed) throw new BeaconError('BEACON_ERR_DB_OPEN', 'the PostgreSQL store is closed');
    if (records.length === 0 && counters.every((c) => Object.values(c.counts).every((v) => !v))) return { stored: 0, duplicates: 0 };
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      // While checked out a client has no listener of the pool's: a connection reset arriving
      // between queries (server restart) would be an uncaught 'error' event and kill the receiver.
      const onError = (e: Error) => {
        broken = e;
      };
      client.on('error', onError);
      try {
        return await this.apply(client, records, counters);
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (isConnectionError(code)) broken ??= e as Error;
        const retry = TRANSIENT.has(code ?? '') || isConnectionError(code);
        if (attempt >= ATTEMPTS || !retry) throw e;
        this.retries++;
        // Back off a little, randomly, so the two receivers that collided do not collide again.
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
      } finally {
        client.off('error', onError);
        // A client whose connection failed is discarded, not handed out again.
        client.release(broken);
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private async apply(client: PoolClient, records: readonly IngestRecord[], counters: readonly CounterDelta[]): Promise<WriteResult> {
    const { first, second, copies } = splitBatch(records);
    const tally = new Map<string, number>();
    const add = (day: string, name: string, n: number) => {
      if (n === 0) return;
      const key = `${day}\u0000${name}`;
      tally.set(key, (tally.get(key) ?? 0) + n);
    };
    await client.query('BEGIN');
    try {
      let stored = 0;
      for (const part of [first, second]) {
        if (part.length === 0) continue;
        const res = await client.query<{ run: string }>({
          name: 'beacon_upsert_runs',
          text: UPSERT_RUNS,
          values: new BatchColumns(part).values(),
        });
        const changed = new Set(res.rows.map((r) => r.run));
        for (const r of part) {
          const ok = changed.has(r.run);
          if (ok) stored++;
          add(dayOfMs(r.seen_ms), ok ? 'stored' : 'duplicates', 1);
        }
      }
      for (const r of copies) add(dayOfMs(r.seen_ms), 'duplicates', 1);
      for (const c of counters) {
        for (const [name, value] of Object.entries(c.counts) as [CounterName, number][]) add(c.day, name, value ?? 0);
      }
      if (tally.size > 0) {
        const days: string[] = [];
        const names: string[] = [];
        const values: number[] = [];
        for (const [key, value] of tally) {
          const i = key.indexOf('\u0000');
          days.push(key.slice(0, i));
          names.push(key.slice(i + 1));
          values.push(value);
        }
        await client.query({ name: 'beacon_add_counters', text: ADD_COUNTERS, values: [days, names, values] });
      }
      await client.query('COMMIT');
      return { stored, duplicates: records.length - stored };
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    }
  }
}

/** Connect, check and migrate; any failure is a one-line BEACON_ERR_DB_OPEN (or SCHEMA_TOO_NEW). */
export async function openPostgresStore(url: string, opts: PoolOptions = {}): Promise<PostgresStore> {
  const pool = await openPostgresPool(url, opts);
  try {
    await migratePostgres(pool);
  } catch (e) {
    await pool.end().catch(() => {});
    if (e instanceof BeaconError) throw e;
    throw dbOpenError(url, e);
  }
  return new PostgresStore(pool);
}
