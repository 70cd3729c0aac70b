import fs from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import type { Database } from 'better-sqlite3';
import { BeaconError } from '../../errors.js';
import type { QueryRunner, Row } from '../query-runner.js';

/**
 * Opens a SQLite store for reporting. Read-write when possible, only so the report can keep its
 * per-month cache (report_month_cache); if the file or its directory is read-only (a copied
 * backup, a shared volume) it falls back to read-only and simply does not cache.
 */
export function openSqliteRunner(path: string): QueryRunner {
  if (!fs.existsSync(path)) {
    throw new BeaconError('BEACON_ERR_DB_MISSING', `no SQLite store at ${path} (give --db PATH of a store written by \`beacon receive\`)`);
  }
  let db: Database;
  let writable = true;
  try {
    db = new BetterSqlite3(path, { fileMustExist: true });
    db.pragma('busy_timeout = 1000');
    db.prepare('SELECT count(*) FROM sqlite_master').get();
  } catch {
    writable = false;
    try {
      db = new BetterSqlite3(path, { fileMustExist: true, readonly: true });
      db.prepare('SELECT count(*) FROM sqlite_master').get();
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new BeaconError('BEACON_ERR_DB_OPEN', `cannot open SQLite store ${path}: ${why}`, { cause: e });
    }
  }
  // The page cache is kept small: the report reads each month once, so a big cache would only
  // raise peak RSS; sorts larger than it spill to temp files rather than to memory. No sorter
  // helper threads: the second core runs the report's helper thread (report-helper.ts), and
  // with both competing a new month measured ~0.1 s slower.
  db.pragma('cache_size = -16384');
  return new SqliteRunner(db, writable, path);
}

class SqliteRunner implements QueryRunner {
  readonly dialect = 'sqlite' as const;
  constructor(
    private readonly db: Database,
    readonly writable: boolean,
    readonly file: string,
  ) {}

  async all<T extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    return this.db.prepare(sql).all(...params) as T[];
  }

  async exec(sql: string, params: readonly unknown[] = []): Promise<void> {
    this.db.prepare(sql).run(...params);
  }

  async hasTable(name: string): Promise<boolean> {
    return this.db.prepare(`SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?`).get(name) !== undefined;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
