import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { refreshBookkeeping } from '../../src/store/sqlite/bookkeeping.js';
import { currentSchemaVersion, migrateSqlite } from '../../src/store/sqlite/migrate.js';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/store.js';
import { afterEach, beforeEach } from 'vitest';

/**
 * Hand-built stores for report tests: a real SQLite file with the real migrations, rows inserted
 * directly so every expected number is known before the report runs.
 */
export interface RunRow {
  run?: string;
  project?: string;
  format?: 'native' | 'parsl-legacy' | 'parsl-1';
  user_id?: string | null;
  host_id?: string | null;
  script_id?: string | null;
  weak_ids?: number;
  eph?: number;
  version?: string | null;
  runtime?: string | null;
  os?: string | null;
  arch?: string | null;
  ci?: number | null;
  components?: string | null;
  month: number;
  day?: number;
  exit_code?: number | null;
  duration_ms?: number | null;
  has_start?: number;
  has_end?: number;
}

let seq = 0;

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'reports-test-'));
}

/** 32-hex ID from a short name, like the beacon's anonymized IDs. */
export function hexId(name: string): string {
  return Buffer.from(name).toString('hex').padEnd(32, '0').slice(0, 32);
}

export class TestStore {
  readonly db: Database.Database;
  constructor(
    readonly file: string,
    migrations = SQLITE_MIGRATIONS,
  ) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    migrateSqlite(this.db, migrations);
  }

  insert(rows: RunRow[]): void {
    const stmt = this.db.prepare(`INSERT INTO run_facts (run, project, format, user_id, host_id, script_id, weak_ids, eph,
      version, runtime, os, arch, ci, components, first_seen_ms, month, start_seen_ms, end_seen_ms, exit_code, duration_ms,
      has_start, has_end) VALUES (@run, @project, @format, @user_id, @host_id, @script_id, @weak_ids, @eph, @version, @runtime,
      @os, @arch, @ci, @components, @first_seen_ms, @month, @start_seen_ms, @end_seen_ms, @exit_code, @duration_ms, @has_start, @has_end)`);
    const tx = this.db.transaction((rs: RunRow[]) => {
      for (const r of rs) {
        const y = Math.floor(r.month / 100);
        const m = r.month % 100;
        const t = Date.UTC(y, m - 1, r.day ?? 10, 12);
        const hasStart = r.has_start ?? 1;
        const hasEnd = r.has_end ?? 1;
        const format = r.format ?? 'native';
        const idless = format === 'parsl-1';
        stmt.run({
          run: r.run ?? `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`,
          project: r.project ?? 'parsl',
          format,
          user_id: r.user_id === undefined ? (idless ? null : hexId('user-default')) : r.user_id,
          host_id: r.host_id === undefined ? (idless ? null : hexId('host-default')) : r.host_id,
          script_id: r.script_id === undefined ? (idless ? null : hexId('script-default')) : r.script_id,
          weak_ids: r.weak_ids ?? (format === 'parsl-legacy' ? 1 : 0),
          eph: r.eph ?? 0,
          version: r.version === undefined ? '1.0.0' : r.version,
          runtime: r.runtime === undefined ? 'node/20.20.2' : r.runtime,
          os: r.os === undefined ? 'linux' : r.os,
          arch: r.arch === undefined ? 'x64' : r.arch,
          ci: r.ci === undefined ? 0 : r.ci,
          components: r.components === undefined ? null : r.components,
          first_seen_ms: t,
          month: r.month,
          start_seen_ms: hasStart ? t : null,
          end_seen_ms: hasEnd ? t + 1000 : null,
          exit_code: hasEnd ? (r.exit_code === undefined ? (idless ? null : 0) : r.exit_code) : null,
          duration_ms: hasEnd ? (r.duration_ms === undefined ? 60_000 : r.duration_ms) : null,
          has_start: hasStart,
          has_end: hasEnd,
        });
      }
    });
    tx(rows);
    // Rows written by hand, not by the store: the report bookkeeping must be told (schema v4).
    if (currentSchemaVersion(this.db) >= 4) refreshBookkeeping(this.db);
  }

  counters(day: string, counts: Record<string, number>): void {
    const stmt = this.db.prepare(
      'INSERT INTO daily_counters (day, name, value) VALUES (?, ?, ?) ON CONFLICT (day, name) DO UPDATE SET value = value + excluded.value',
    );
    for (const [name, value] of Object.entries(counts)) stmt.run(day, name, value);
  }

  close(): void {
    this.db.close();
  }
}

/** Runs `n` copies of a row template, each with its own run ID. */
export function times(n: number, row: RunRow): RunRow[] {
  return Array.from({ length: n }, () => ({ ...row }));
}

export interface ReceiverStore {
  dir: string;
  file: string;
  store: SqliteStore;
}

/**
 * A fresh store written through the receiver's own SqliteStore for each test (closed and removed
 * after it); `use` receives it before the test runs.
 */
export function useReceiverStore(use: (s: ReceiverStore) => void): void {
  let current: ReceiverStore | undefined;
  beforeEach(() => {
    const dir = tempDir();
    const file = path.join(dir, 'usage.db');
    current = { dir, file, store: openSqliteStore(file) };
    use(current);
  });
  afterEach(async () => {
    await current?.store.close();
    if (current) fs.rmSync(current.dir, { recursive: true, force: true });
    current = undefined;
  });
}
