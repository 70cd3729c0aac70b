import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BeaconError } from '../../../src/errors.js';
import { migratePostgres, postgresSchemaVersion } from '../../../src/store/postgres/migrate.js';
import { openPostgresPool, withDefaultUser } from '../../../src/store/postgres/connection.js';
import { POSTGRES_MIGRATIONS, POSTGRES_SCHEMA_VERSION } from '../../../src/store/postgres/migrations.js';
import { openPostgresStore, PostgresStore } from '../../../src/store/postgres/store.js';
import { SQLITE_SCHEMA_VERSION } from '../../../src/store/sqlite/migrations.js';
import { createTestSchema, PG_URL, schemaUrl, type TestSchema } from './helpers.js';
import { rec } from '../store-contract.js';

/** Schema migrations on the real server: from empty, from the previous version, concurrently, and refusal of a newer schema. */

async function objects(s: TestSchema): Promise<string[]> {
  const r = await s.admin.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'v') ORDER BY 1`,
    [s.schema],
  );
  return r.rows.map((x) => x.name);
}

function pool(url: string): pg.Pool {
  return new pg.Pool({ connectionString: withDefaultUser(url), max: 1 });
}

describe('PostgreSQL migrations', () => {
  let s: TestSchema;
  beforeEach(async () => {
    s = await createTestSchema();
  });
  afterEach(async () => {
    await s.drop();
  });

  it('mirror the SQLite schema versions up to 4; v5 is what SQLite v4 added for settled runs; v6 is SQLite v5 (sketches); v7 is SQLite v6 (collector secret, network tags); SQLite v7 (the intake log merge positions) has no PostgreSQL counterpart', () => {
    expect(SQLITE_SCHEMA_VERSION).toBe(7);
    expect(POSTGRES_SCHEMA_VERSION).toBe(7);
    expect(POSTGRES_MIGRATIONS.map((m) => m.version)).toEqual(POSTGRES_MIGRATIONS.map((_, i) => i + 1));
  });

  it('build the schema from empty; running them again is a no-op', async () => {
    const p = pool(s.url);
    try {
      expect(await migratePostgres(p)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(await objects(s)).toEqual([
        'collector_secret',
        'daily_counters',
        'monthly_rollups',
        'monthly_sketches',
        'pruned_months',
        'report_month_cache',
        'report_month_changes',
        'report_settled_durations',
        'report_settled_groups',
        'report_settled_months',
        'run_facts',
        'runs',
        'schema_migrations',
        'sketch_key',
        'user_first_month',
      ]);
      const before = (await s.admin.query('SELECT version, name, applied_ms FROM schema_migrations ORDER BY version')).rows;
      expect(before.map((r) => r.version)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(await migratePostgres(p)).toEqual([]);
      expect((await s.admin.query('SELECT version, name, applied_ms FROM schema_migrations ORDER BY version')).rows).toEqual(before);
      expect(await postgresSchemaVersion(p)).toBe(7);
    } finally {
      await p.end();
    }
  });

  it('upgrade a version-1 store with data: v2 backfills users’ first months and keeps counting', async () => {
    const p = pool(s.url);
    try {
      expect(await migratePostgres(p, POSTGRES_MIGRATIONS.slice(0, 1))).toEqual([1]);
      // Rows as a version-1 receiver wrote them (today's upsert needs today's columns).
      const user = 'e'.repeat(32);
      const v1Row = (run: string, seen: number, complete: boolean) =>
        s.admin.query(
          `INSERT INTO ${s.schema}.run_facts (run, project, format, user_id, first_seen_ms, month, start_seen_ms, has_start, has_end, end_seen_ms, exit_code, duration_ms)
         VALUES ($1, 'demo', 'native', $2, $3, $4, $3, 1, $5, $6, $7, $8)`,
          [
            run,
            user,
            seen,
            new Date(seen).getUTCFullYear() * 100 + new Date(seen).getUTCMonth() + 1,
            complete ? 1 : 0,
            complete ? seen + 1 : null,
            complete ? 0 : null,
            complete ? 1 : null,
          ],
        );
      await v1Row(randomUUID(), Date.UTC(2026, 1, 3), false);
      await v1Row(randomUUID(), Date.UTC(2026, 2, 3), false);
      await v1Row(randomUUID(), Date.UTC(2026, 2, 3), true); // one run completed before v5
      expect(await migratePostgres(p)).toEqual([2, 3, 4, 5, 6, 7]);
      expect((await s.admin.query('SELECT project, user_id, month FROM user_first_month')).rows).toEqual([
        { project: 'demo', user_id: user, month: 202602 },
      ]);
      // v5 stamps runs completed before it as settled before any cut; open runs stay unstamped.
      expect((await s.admin.query('SELECT has_end, settled_xid::text AS x FROM run_facts ORDER BY has_end, run')).rows).toEqual([
        { has_end: 0, x: null },
        { has_end: 0, x: null },
        { has_end: 1, x: '1' },
      ]);
      await new PostgresStore(p).writeBatch([rec('start', randomUUID(), { user_id: 'f'.repeat(32), seen_ms: Date.UTC(2026, 2, 4) })], []);
      // v5 lists the months written before v2's triggers (unchanged), so settling finds them.
      expect((await s.admin.query('SELECT month, changes::int AS changes FROM report_month_changes ORDER BY month')).rows).toEqual([
        { month: 202602, changes: 0 },
        { month: 202603, changes: 1 },
      ]);
    } finally {
      await p.end();
    }
  });

  it('several receivers starting at once: one migrates, the others wait and find it done', async () => {
    const pools = Array.from({ length: 4 }, () => pool(s.url));
    try {
      const applied = await Promise.all(pools.map((p) => migratePostgres(p)));
      expect(applied.filter((a) => a.length > 0)).toEqual([[1, 2, 3, 4, 5, 6, 7]]);
      expect((await s.admin.query('SELECT count(*)::int AS n FROM schema_migrations')).rows[0].n).toBe(7);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('refuse a store migrated by a newer usage-beacon, before writing anything', async () => {
    const store = await openPostgresStore(s.url);
    await store.close();
    await s.admin.query(`INSERT INTO schema_migrations (version, name, applied_ms) VALUES (${POSTGRES_SCHEMA_VERSION + 1}, 'future', 0)`);
    const err = await openPostgresStore(s.url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BeaconError);
    expect((err as BeaconError).code).toBe('BEACON_ERR_SCHEMA_TOO_NEW');
    expect((err as BeaconError).message).toContain(`schema version ${POSTGRES_SCHEMA_VERSION + 1}`);
    expect((err as BeaconError).message).not.toContain('\n');
    expect((await s.admin.query('SELECT count(*)::int AS n FROM run_facts')).rows[0].n).toBe(0);
  });
});

describe('PostgreSQL connection errors', () => {
  async function openError(url: string): Promise<BeaconError> {
    const e = await openPostgresStore(url, { connectTimeoutMs: 3000 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BeaconError);
    expect((e as Error).message).not.toContain('\n');
    return e as BeaconError;
  }

  it('an unreachable server is one line naming host, port and database, never the password', async () => {
    const e = await openError('postgres://beacon:s3cret@127.0.0.1:1/usage');
    expect(e.code).toBe('BEACON_ERR_DB_OPEN');
    expect(e.message).toMatch(/^cannot open PostgreSQL store 127\.0\.0\.1:1\/usage: .*ECONNREFUSED/);
    expect(e.message).not.toContain('s3cret');
  });

  it('a database that does not exist', async () => {
    const u = new URL(PG_URL);
    u.pathname = `/nope_${Date.now()}`;
    const e = await openError(u.toString());
    expect(e.code).toBe('BEACON_ERR_DB_OPEN');
    expect(e.message).toMatch(/does not exist/);
  });

  it('a search_path naming no existing schema cannot be migrated', async () => {
    const e = await openError(schemaUrl(`missing_${Date.now()}`));
    expect(e.code).toBe('BEACON_ERR_DB_OPEN');
    expect(e.message).toMatch(/schema/);
  });

  it('not a postgres URL is a usage error', async () => {
    await expect(openPostgresPool('mysql://127.0.0.1/x')).rejects.toMatchObject({ code: 'BEACON_ERR_USAGE' });
  });
});
