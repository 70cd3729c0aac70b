import { storeTarget, type StoreLocation } from './location.js';
import type { QueryRunner } from './query-runner.js';
import { openSqliteStore } from './sqlite/store.js';
import type { RunStore } from './types.js';

export type { StoreLocation } from './location.js';

/**
 * The one way every command opens a store from `--db` / `--store`: for ingest (a RunStore) or for
 * reading and maintenance (a QueryRunner). Callers never see which kind it is beyond `kind` and
 * `dialect`; PostgreSQL's driver is loaded only when asked for, so SQLite users never load pg.
 */
export async function openStore(loc: StoreLocation): Promise<RunStore> {
  const target = storeTarget(loc);
  if (target.kind === 'postgres') {
    const { openPostgresStore } = await import('./postgres/store.js');
    return openPostgresStore(target.url);
  }
  return openSqliteStore(target.file);
}

export interface RunnerOptions {
  /**
   * Bring the schema up to this build's first (maintenance commands that write, such as prune,
   * need tables a store written by an older receiver may lack). Reports never migrate.
   */
  migrate?: boolean;
}

/** SQLite (--db) or PostgreSQL (--store / BEACON_STORE): the same QueryRunner, the same SQL. */
export async function openQueryRunner(loc: StoreLocation, opts: RunnerOptions = {}): Promise<QueryRunner> {
  const target = storeTarget(loc);
  if (target.kind === 'postgres') {
    if (opts.migrate) {
      const { openPostgresPool } = await import('./postgres/connection.js');
      const { migratePostgres } = await import('./postgres/migrate.js');
      const pool = await openPostgresPool(target.url);
      try {
        await migratePostgres(pool);
      } finally {
        await pool.end();
      }
    }
    return (await import('./postgres/query-runner.js')).openPostgresRunner(target.url);
  }
  const { migrateSqliteFile } = await import('./sqlite/migrate.js');
  if (opts.migrate) migrateSqliteFile(target.file, 'open', () => {});
  return (await import('./sqlite/query-runner.js')).openSqliteRunner(target.file);
}
