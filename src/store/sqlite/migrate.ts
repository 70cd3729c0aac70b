import fs from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import type { Database } from 'better-sqlite3';
import { BeaconError } from '../../errors.js';
import type { Migration } from '../types.js';
import { SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION } from './migrations.js';

/**
 * Brings a SQLite store to this build's schema. Applied migrations are recorded in
 * `schema_migrations`; each runs in its own IMMEDIATE transaction so two processes opening the
 * same new file cannot both apply it. A store migrated by a newer build is refused, never
 * downgraded or written to.
 */

export function currentSchemaVersion(db: Database): number {
  const exists = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).get();
  if (!exists) return 0;
  const row = db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number | null };
  return row.v ?? 0;
}

function refuseNewer(version: number): void {
  if (version > SQLITE_SCHEMA_VERSION) {
    throw new BeaconError(
      'BEACON_ERR_SCHEMA_TOO_NEW',
      `the store has schema version ${version}, newer than this usage-beacon knows (${SQLITE_SCHEMA_VERSION}); upgrade usage-beacon`,
    );
  }
}

/** Returns the versions applied now (empty when the store was already current). */
export function migrateSqlite(db: Database, migrations: readonly Migration[] = SQLITE_MIGRATIONS): number[] {
  refuseNewer(currentSchemaVersion(db));
  const applied: number[] = [];
  for (const m of migrations) {
    const apply = db.transaction(() => {
      db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version    INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        applied_ms INTEGER NOT NULL
      )`);
      // Re-read inside the write transaction: another process may have migrated meanwhile.
      const now = currentSchemaVersion(db);
      refuseNewer(now);
      if (m.version <= now) return false;
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
      return true;
    });
    if (apply.immediate()) applied.push(m.version);
  }
  return applied;
}

/**
 * For a maintenance command: opens an existing store file, brings it to this build's schema, runs
 * `work` on the same connection and closes it. A missing file is BEACON_ERR_DB_MISSING (a typo
 * must not create an empty store); anything else that fails is one BEACON_ERR_DB_OPEN line saying
 * what could not be done (`verb`: "open", "refresh").
 */
export function migrateSqliteFile<T>(file: string, verb: string, work: (db: Database) => T): T {
  if (!fs.existsSync(file)) {
    throw new BeaconError('BEACON_ERR_DB_MISSING', `no SQLite store at ${file} (give --db PATH of a store written by \`beacon receive\`)`);
  }
  try {
    const db = new BetterSqlite3(file, { fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000');
      migrateSqlite(db);
      return work(db);
    } finally {
      db.close();
    }
  } catch (e) {
    if (e instanceof BeaconError) throw e;
    const why = e instanceof Error ? e.message : String(e);
    throw new BeaconError('BEACON_ERR_DB_OPEN', `cannot ${verb} SQLite store ${file}: ${why}`, { cause: e });
  }
}
