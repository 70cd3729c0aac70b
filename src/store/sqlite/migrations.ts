import { RUNS_VIEW_DDL } from '../columns.js';
import type { Migration } from '../types.js';

/**
 * SQLite schema, as an append-only list of migrations applied at open. Never edit a migration that
 * has shipped: add a new one. docs/storage.md documents the resulting tables and the `runs` view.
 *
 * One row per run in `run_facts`, keyed by the run UUID: the start and the end of a run upsert the
 * same row, so the unique key in the database is what dedupes (across restarts and receivers).
 * `month` (UTC YYYYMM of the receiver clock at the first datagram) is stored, not derived at query
 * time, so monthly reports are index range scans.
 */
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

${RUNS_VIEW_DDL}

CREATE TABLE daily_counters (
  day   TEXT NOT NULL,
  name  TEXT NOT NULL,
  value INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (day, name)
) WITHOUT ROWID;
`,
  },
  {
    // Owned by the reports (src/reports, docs/reports.md). Per-month change counters kept by
    // triggers, so a month's report aggregates can be cached and trusted exactly; each user's first
    // month, for "new users". Deliberately no covering index: those cost the receiver's ingest
    // (random inserts into a wide index) far more than they save a monthly report — see
    // docs/reports.md for the optional indexes and their measured trade-off.
    version: 2,
    name: 'report cache, month change counters, first month per user',
    sql: `
CREATE TABLE report_month_changes (
  month   INTEGER PRIMARY KEY,
  changes INTEGER NOT NULL
);
INSERT INTO report_month_changes (month, changes) SELECT DISTINCT month, 0 FROM run_facts;
-- The row of a month exists from its first run on, so the per-row work on the receiver's hot path
-- is one rowid UPDATE; the INSERT OR IGNORE only runs for a run's first datagram or a month change.
CREATE TRIGGER run_facts_changes_insert AFTER INSERT ON run_facts BEGIN
  INSERT OR IGNORE INTO report_month_changes (month, changes) VALUES (NEW.month, 0);
  UPDATE report_month_changes SET changes = changes + 1 WHERE month = NEW.month;
END;
CREATE TRIGGER run_facts_changes_update AFTER UPDATE ON run_facts BEGIN
  INSERT OR IGNORE INTO report_month_changes (month, changes) SELECT NEW.month, 0 WHERE NEW.month <> OLD.month;
  UPDATE report_month_changes SET changes = changes + 1 WHERE month = NEW.month OR month = OLD.month;
END;
CREATE TRIGGER run_facts_changes_delete AFTER DELETE ON run_facts BEGIN
  UPDATE report_month_changes SET changes = changes + 1 WHERE month = OLD.month;
END;

CREATE TABLE user_first_month (
  project TEXT NOT NULL,
  user_id TEXT NOT NULL,
  month   INTEGER NOT NULL,
  PRIMARY KEY (project, user_id)
) WITHOUT ROWID;
INSERT INTO user_first_month (project, user_id, month)
  SELECT project, user_id, min(month) FROM run_facts WHERE user_id IS NOT NULL GROUP BY project, user_id;
CREATE INDEX user_first_month_month ON user_first_month (month, project);
CREATE TRIGGER run_facts_first_month_insert AFTER INSERT ON run_facts WHEN NEW.user_id IS NOT NULL BEGIN
  INSERT INTO user_first_month (project, user_id, month) VALUES (NEW.project, NEW.user_id, NEW.month)
  ON CONFLICT (project, user_id) DO UPDATE SET month = excluded.month WHERE excluded.month < user_first_month.month;
END;
CREATE TRIGGER run_facts_first_month_update AFTER UPDATE OF user_id, month ON run_facts
WHEN NEW.user_id IS NOT NULL AND (OLD.user_id IS NULL OR NEW.month <> OLD.month) BEGIN
  INSERT INTO user_first_month (project, user_id, month) VALUES (NEW.project, NEW.user_id, NEW.month)
  ON CONFLICT (project, user_id) DO UPDATE SET month = excluded.month WHERE excluded.month < user_first_month.month;
END;

CREATE TABLE report_month_cache (
  month   INTEGER NOT NULL,
  scope   TEXT NOT NULL,
  changes INTEGER NOT NULL,
  summary TEXT NOT NULL,
  PRIMARY KEY (month, scope)
);
`,
  },
  {
    // Retention (beacon prune, src/retention/prune.ts). A pruned month's report is rebuilt from its
    // rollups: per (month, scope) the reports' own aggregates as one JSON value (no per-run rows, no
    // IDs), raw counts — suppression is applied when a report is rendered. pruned_months marks the
    // months whose raw runs are gone, so reports know to read the rollups. Both are kept forever.
    version: 3,
    name: 'monthly rollups, pruned months',
    sql: `
CREATE TABLE monthly_rollups (
  month      INTEGER NOT NULL,
  scope      TEXT NOT NULL,
  runs       INTEGER NOT NULL,
  data       TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (month, scope)
);

CREATE TABLE pruned_months (
  month        INTEGER PRIMARY KEY,
  pruned_ms    INTEGER NOT NULL,
  cutoff_ms    INTEGER NOT NULL,
  runs_deleted INTEGER NOT NULL
);
`,
  },
  {
    // Ingest speed (issue 3) and report speed (issue 4), measured with bench/receiver.mjs and
    // bench/reports.mjs:
    // - No triggers on run_facts. Any trigger on the table, even one for DELETE, makes SQLite open
    //   a statement journal (a temp file) for every upsert: v2's triggers cost ~14 µs of the
    //   ~21 µs a stored datagram took. The store keeps report_month_changes and user_first_month
    //   itself, once per batch (SqliteStore.apply), and beacon prune counts its deletes; whoever
    //   writes run_facts by hand must call refreshBookkeeping (src/store/sqlite/bookkeeping.ts) after.
    // - moved_from: set by an upsert that moves a run to an earlier month (its new first datagram
    //   arrived before the stored one), so the store can count the month the run left.
    // - settled_seq: the write sequence (write_seq) of the batch that gave a run both its start and
    //   its end. Such a run never changes again (each upsert only fills a missing half), so
    //   settled runs are folded into per-month aggregates (report_settled_*, src/store/sqlite/settle.ts)
    //   and a report reads those plus only the runs settled later or not at all. The index is
    //   append-mostly (new runs enter their month's NULL segment in rowid order).
    version: 4,
    name: 'per-batch report bookkeeping, settled runs and their monthly aggregates',
    sql: `
DROP TRIGGER run_facts_changes_insert;
DROP TRIGGER run_facts_changes_update;
DROP TRIGGER run_facts_changes_delete;
DROP TRIGGER run_facts_first_month_insert;
DROP TRIGGER run_facts_first_month_update;

-- Deletes of a month's runs (prune): its settled aggregates must be rebuilt, not extended.
ALTER TABLE report_month_changes ADD COLUMN deletes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE run_facts ADD COLUMN moved_from INTEGER;

CREATE TABLE write_seq (
  id  INTEGER PRIMARY KEY CHECK (id = 1),
  seq INTEGER NOT NULL
);
INSERT INTO write_seq (id, seq) VALUES (1, 0);

ALTER TABLE run_facts ADD COLUMN settled_seq INTEGER;
UPDATE run_facts SET settled_seq = 0 WHERE has_start = 1 AND has_end = 1;
CREATE INDEX run_facts_settled ON run_facts (month, settled_seq);

-- Settled runs of a month grouped by every column a report counts or breaks down by (the shape
-- of the report's own groups table, src/reports/queries/month-groups.ts), and their run lengths
-- truncated to 3 significant digits (exact histogram bins, percentiles within 0.1 %).
CREATE TABLE report_settled_groups (
  month      INTEGER NOT NULL,
  project    TEXT NOT NULL,
  user_id    TEXT,
  host_id    TEXT,
  script_id  TEXT,
  exit_code  INTEGER,
  format     TEXT NOT NULL,
  eph        INTEGER NOT NULL,
  version    TEXT,
  runtime    TEXT,
  os         TEXT,
  arch       TEXT,
  ci         INTEGER,
  components TEXT,
  runs       INTEGER NOT NULL,
  dur_sum    INTEGER,
  dur_n      INTEGER NOT NULL
);
CREATE INDEX report_settled_groups_month ON report_settled_groups (month, project);

CREATE TABLE report_settled_durations (
  month       INTEGER NOT NULL,
  project     TEXT NOT NULL,
  duration_ms INTEGER NOT NULL,
  runs        INTEGER NOT NULL,
  PRIMARY KEY (month, project, duration_ms)
) WITHOUT ROWID;

-- Per month: the aggregates above cover exactly the runs with settled_seq <= seq, as of the
-- month's delete count; a different delete count means they must be rebuilt.
CREATE TABLE report_settled_months (
  month   INTEGER PRIMARY KEY,
  seq     INTEGER NOT NULL,
  deletes INTEGER NOT NULL
);
`,
  },
  {
    // Distinct counts that survive pruning (src/reports/hll.ts): per month and scope, one
    // HyperLogLog sketch per ID kind (user, host, script), written by beacon prune next to the
    // month's rollups. A sketch holds register maxima of keyed hashes, never an ID. The key is
    // random per store, made here, and never leaves it.
    version: 5,
    name: 'monthly distinct-count sketches',
    sql: `
CREATE TABLE sketch_key (
  id  INTEGER PRIMARY KEY CHECK (id = 1),
  key TEXT NOT NULL
);
INSERT INTO sketch_key (id, key) VALUES (1, lower(hex(randomblob(32))));

CREATE TABLE monthly_sketches (
  month     INTEGER NOT NULL,
  scope     TEXT NOT NULL,
  kind      TEXT NOT NULL CHECK (kind IN ('user', 'host', 'script')),
  p         INTEGER NOT NULL,
  registers TEXT NOT NULL,
  PRIMARY KEY (month, scope, kind)
) WITHOUT ROWID;
`,
  },
  {
    version: 6,
    name: 'collector secret fingerprint, daily network tags',
    // Self-contained (issue 11): it only adds.
    sql: `
-- Which collector secret keyed this store's legacy Parsl IDs and network tags: a fingerprint
-- (16 hex of an HMAC of the secret), never the secret. A receiver with another secret refuses to
-- start. legacy_rekeyed_ms: when raw legacy IDs stored by older versions were re-keyed.
CREATE TABLE collector_secret (
  id                INTEGER PRIMARY KEY CHECK (id = 1),
  fingerprint       TEXT NOT NULL,
  legacy_rekeyed_ms INTEGER
);

-- The source network's daily tag at the run's first datagram (src/receiver/collector-secret.ts).
ALTER TABLE run_facts ADD COLUMN net_tag TEXT;
`,
  },
  {
    version: 7,
    name: 'intake log merge positions',
    // Self-contained (issue 12): it only adds.
    sql: `
-- How far the store thread has merged each intake log (src/store/sqlite/intake-log.ts) into
-- run_facts: its owner directory (pid-random, never reused), segment and byte offset. Written in
-- the transaction that merges the frames, so a frame is merged exactly once. done_ms: when the log
-- of a receiver that is gone was merged to its end (kept a week, so no one merges it again).
CREATE TABLE intake_merged (
  owner   TEXT PRIMARY KEY,
  segment INTEGER NOT NULL,
  offset  INTEGER NOT NULL,
  done_ms INTEGER
);
`,
  },
];

/** Highest schema version this build knows; a store migrated further is refused. */
export const SQLITE_SCHEMA_VERSION = SQLITE_MIGRATIONS[SQLITE_MIGRATIONS.length - 1]!.version;
