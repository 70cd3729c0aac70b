import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { BeaconError } from '../../../src/errors.js';
import { currentSchemaVersion, migrateSqlite } from '../../../src/store/sqlite/migrate.js';
import { SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION } from '../../../src/store/sqlite/migrations.js';
import { openStore } from '../../../src/store/open-store.js';
import { tempDir } from '../../receiver/helpers.js';

let tmp: ReturnType<typeof tempDir>;
afterEach(() => tmp?.cleanup());

describe('SQLite migrations', () => {
  it('applies every migration once, records it, and is idempotent', () => {
    tmp = tempDir();
    const db = new Database(tmp.db);
    expect(migrateSqlite(db)).toEqual(SQLITE_MIGRATIONS.map((m) => m.version));
    expect(migrateSqlite(db)).toEqual([]);
    expect(currentSchemaVersion(db)).toBe(SQLITE_SCHEMA_VERSION);
    const cols = (db.prepare('PRAGMA table_info(runs)').all() as Array<{ name: string }>).map((c) => c.name);
    // The documented columns of the `runs` view (docs/storage.md).
    expect(cols).toEqual(
      expect.arrayContaining([
        'run',
        'project',
        'user_id',
        'host_id',
        'script_id',
        'version',
        'runtime',
        'os',
        'arch',
        'ci',
        'first_seen_ms',
        'exit_code',
        'duration_ms',
        'has_start',
        'has_end',
        'format',
      ]),
    );
    db.close();
  });

  it('upgrades a store left at an older version', () => {
    tmp = tempDir();
    const db = new Database(tmp.db);
    migrateSqlite(db, SQLITE_MIGRATIONS.slice(0, 1));
    expect(currentSchemaVersion(db)).toBe(1);
    expect(migrateSqlite(db)).toEqual(SQLITE_MIGRATIONS.slice(1).map((m) => m.version));
    db.close();
  });

  it('refuses a newer schema with BEACON_ERR_SCHEMA_TOO_NEW and leaves it untouched', () => {
    tmp = tempDir();
    const db = new Database(tmp.db);
    migrateSqlite(db);
    db.prepare('INSERT INTO schema_migrations VALUES (?, ?, 0)').run(SQLITE_SCHEMA_VERSION + 1, 'future');
    let err: unknown;
    try {
      migrateSqlite(db);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BeaconError);
    expect((err as BeaconError).code).toBe('BEACON_ERR_SCHEMA_TOO_NEW');
    expect(currentSchemaVersion(db)).toBe(SQLITE_SCHEMA_VERSION + 1);
    db.close();
  });

  it('openStore: an unusable postgres URL is BEACON_ERR_DB_OPEN, anything else under --store a usage error', async () => {
    await expect(openStore({ store: 'postgres://127.0.0.1:1/nothing' })).rejects.toMatchObject({ code: 'BEACON_ERR_DB_OPEN' });
    await expect(openStore({ store: '/tmp/x.db' })).rejects.toMatchObject({ code: 'BEACON_ERR_USAGE' });
  });
});
