/**
 * SQLite schema, as an append-only list of migrations applied at open. Never edit a migration that
 * has shipped: add a new one. docs/storage.md documents the resulting tables and the `runs` view.
 *
 * One row per run in `run_facts`, keyed by the run UUID: the start and the end of a run upsert the
 * same row, so the unique key in the database is what dedupes (across restarts and receivers).
 * `month` (UTC YYYYMM of the receiver clock at the first datagram) is stored, not derived at query
 * time, so monthly reports are index range scans.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'runs, daily counters',
    sql: `
CREATE TABLE run_facts (
  run             TEXT PRIMARY KEY,
  project         TEXT NOT NULL,
  format          TEXT NOT NULL CHECK (format IN ('native', 'parsl-legacy', 'parsl-1')),
  user_id         TEXT,
  host_id         TEXT,
  script_id       TEXT,
  weak_ids        INTEGER NOT NULL DEFAULT 0,
  eph             INTEGER NOT NULL DEFAULT 0,
  version         TEXT,
  runtime         TEXT,
  os              TEXT,
  arch            TEXT,
  ci              INTEGER,
  components      TEXT,
  first_seen_ms   INTEGER NOT NULL,
  month           INTEGER NOT NULL,
  start_seen_ms   INTEGER,
  end_seen_ms     INTEGER,
  client_start_ms INTEGER,
  client_end_ms   INTEGER,
  exit_code       INTEGER,
  duration_ms     INTEGER,
  has_start       INTEGER NOT NULL DEFAULT 0,
  has_end         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX run_facts_month ON run_facts (month, project);

CREATE VIEW runs AS
SELECT run, project, user_id, host_id, script_id, version, runtime, os, arch, ci,
       first_seen_ms, exit_code, duration_ms, has_start, has_end, format,
       month, eph, weak_ids, components, start_seen_ms, end_seen_ms
FROM run_facts;

CREATE TABLE daily_counters (
  day   TEXT NOT NULL,
  name  TEXT NOT NULL,
  value INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (day, name)
) WITHOUT ROWID;
`,
  },
];

/** Highest schema version this build knows; a store migrated further is refused. */
export const SQLITE_SCHEMA_VERSION = SQLITE_MIGRATIONS[SQLITE_MIGRATIONS.length - 1]!.version;
