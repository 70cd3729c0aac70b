import type { ClientBase, Pool } from 'pg';
import { BeaconError } from '../../errors.js';
import { POSTGRES_MIGRATIONS, POSTGRES_SCHEMA_VERSION } from './migrations.js';
import type { Migration } from '../types.js';

/**
 * Brings a PostgreSQL store to this build's schema, in the schema the connection's search_path
 * points at. PostgreSQL DDL is transactional, so all pending migrations apply in one transaction
 * that holds a transaction-scoped advisory lock: several receivers starting at once queue on the
 * lock, and the ones that get it after the first find the schema current and apply nothing. A
 * store migrated by a newer build is refused, never downgraded or written to.
 */

/** Advisory-lock key: per schema, so stores in different schemas of one database never wait on each other. */
const LOCK = `SELECT pg_advisory_xact_lock(hashtext('usage-beacon migrate ' || current_schema()))`;

export async function postgresSchemaVersion(db: Pool | ClientBase): Promise<number> {
  const t = await db.query<{ t: string | null }>(`SELECT to_regclass('schema_migrations')::text AS t`);
  if (t.rows[0]?.t == null) return 0;
  const v = await db.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
  return v.rows[0]?.v ?? 0;
}

function refuseNewer(version: number, known: number): void {
  if (version > known) {
    throw new BeaconError(
      'BEACON_ERR_SCHEMA_TOO_NEW',
      `the PostgreSQL store has schema version ${version}, newer than this usage-beacon knows (${known}); upgrade usage-beacon`,
    );
  }
}

/** Returns the versions applied now (empty when the store was already current). */
export async function migratePostgres(pool: Pool, migrations: readonly Migration[] = POSTGRES_MIGRATIONS): Promise<number[]> {
  const known = migrations.length ? migrations[migrations.length - 1]!.version : POSTGRES_SCHEMA_VERSION;
  const client = await pool.connect();
  try {
    // Fast path without any lock: a current store (every start but the first) takes no write lock.
    const seen = await postgresSchemaVersion(client);
    refuseNewer(seen, known);
    if (seen === known) return [];
    await client.query('BEGIN');
    try {
      await client.query(LOCK);
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version    integer PRIMARY KEY,
        name       text NOT NULL,
        applied_ms bigint NOT NULL
      )`);
      // Re-read under the lock: another receiver may have migrated meanwhile.
      const now = await postgresSchemaVersion(client);
      refuseNewer(now, known);
      const applied: number[] = [];
      for (const m of migrations) {
        if (m.version <= now) continue;
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name, applied_ms) VALUES ($1, $2, $3)', [
          m.version,
          m.name,
          Date.now(),
        ]);
        applied.push(m.version);
      }
      await client.query('COMMIT');
      return applied;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    }
  } finally {
    client.release();
  }
}
