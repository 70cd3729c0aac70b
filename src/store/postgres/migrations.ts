import { RUNS_VIEW_DDL } from '../columns.js';
import type { Migration } from '../types.js';

/**
 * PostgreSQL schema, as an append-only list of migrations applied at start (postgres/migrate.ts).
 * Never edit a migration that has shipped: add a new one. Versions 1–4 mirror the SQLite schema
 * (sqlite/migrations.ts): the same tables, columns and meanings, so the `runs` view and the
 * report SQL are the same on both stores; v5 adds the settled-run aggregates SQLite got in its v4
 * (with a transaction-ID cut instead of a write sequence). docs/storage.md documents them.
 *
 * Deliberate differences, each for a PostgreSQL reason:
 * - Flags (has_start, has_end, weak_ids, eph, ci) stay integer 0/1, not boolean, so report SQL
 *   such as `has_end = 1` or `CASE ci WHEN 1` runs unchanged on both stores.
 * - Text columns use COLLATE "C": byte order, like SQLite's BINARY, so ORDER BY and GROUP BY give
 *   the same order on both stores whatever the database's locale, and key comparisons are memcmp.
 * - Epoch-ms columns are bigint; `components` is jsonb (validated on write, queryable with ->>,
 *   merged with ||, which equals SQLite's json_patch for the flat objects the protocol allows).
 * - The report triggers of v2 are statement-level with transition tables: one aggregated upsert
 *   per statement instead of one per row, which matters when a batch of thousands of rows would
 *   otherwise update the same month counter thousands of times inside one transaction.
 * - v2's wide covering index is left out: a B-tree entry is limited to ~2.7 kB, and a run with 16
 *   long components could exceed it, failing a whole batch of accepted runs. Reports read the
 *   month through run_facts_month and the duration index instead.
 */
export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'runs, daily counters',
    sql: `
CREATE TABLE run_facts (
  run             text COLLATE "C" PRIMARY KEY,
  project         text COLLATE "C" NOT NULL,
  format          text COLLATE "C" NOT NULL CHECK (format IN ('native', 'parsl-legacy', 'parsl-1')),
  user_id         text COLLATE "C",
  host_id         text COLLATE "C",
  script_id       text COLLATE "C",
  weak_ids        integer NOT NULL DEFAULT 0,
  eph             integer NOT NULL DEFAULT 0,
  version         text COLLATE "C",
  runtime         text COLLATE "C",
  os              text COLLATE "C",
  arch            text COLLATE "C",
  ci              integer,
  components      jsonb,
  first_seen_ms   bigint NOT NULL,
  month           integer NOT NULL,
  start_seen_ms   bigint,
  end_seen_ms     bigint,
  client_start_ms bigint,
  client_end_ms   bigint,
  exit_code       integer,
  duration_ms     bigint,
  has_start       integer NOT NULL DEFAULT 0,
  has_end         integer NOT NULL DEFAULT 0
);
CREATE INDEX run_facts_month ON run_facts (month, project);

${RUNS_VIEW_DDL}

CREATE TABLE daily_counters (
  day   text COLLATE "C" NOT NULL,
  name  text COLLATE "C" NOT NULL,
  value bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (day, name)
);
`,
  },
  {
    // The reports' objects (see sqlite/migrations.ts v2 and src/reports/queries/summary-cache.ts):
    // per-month change counters so cached month summaries are trusted exactly, each user's first
    // month for "new users", the summary cache itself, and the duration index. Upserts inside the
    // triggers run in key order so concurrent receivers always lock rows in the same order.
    version: 2,
    name: 'report indexes, month change counters, first month per user, report cache',
    sql: `
CREATE INDEX run_facts_duration ON run_facts (month, duration_ms, project);

CREATE TABLE report_month_changes (
  month   integer PRIMARY KEY,
  changes bigint NOT NULL
);

CREATE TABLE user_first_month (
  project text COLLATE "C" NOT NULL,
  user_id text COLLATE "C" NOT NULL,
  month   integer NOT NULL,
  PRIMARY KEY (project, user_id)
);
INSERT INTO user_first_month (project, user_id, month)
  SELECT project, user_id, min(month) FROM run_facts WHERE user_id IS NOT NULL GROUP BY project, user_id;
CREATE INDEX user_first_month_month ON user_first_month (month, project);

CREATE TABLE report_month_cache (
  month   integer NOT NULL,
  scope   text COLLATE "C" NOT NULL,
  changes bigint NOT NULL,
  summary text COLLATE "C" NOT NULL,
  PRIMARY KEY (month, scope)
);

CREATE FUNCTION run_facts_note_months(months integer[]) RETURNS void
LANGUAGE sql SET search_path FROM CURRENT AS $fn$
  INSERT INTO report_month_changes (month, changes)
  SELECT m, count(*) FROM unnest(months) AS m GROUP BY m ORDER BY m
  ON CONFLICT (month) DO UPDATE SET changes = report_month_changes.changes + excluded.changes;
$fn$;

CREATE FUNCTION run_facts_after_insert() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
BEGIN
  PERFORM run_facts_note_months(ARRAY(SELECT month FROM new_rows));
  INSERT INTO user_first_month (project, user_id, month)
  SELECT project, user_id, min(month) FROM new_rows WHERE user_id IS NOT NULL
  GROUP BY project, user_id ORDER BY project, user_id
  ON CONFLICT (project, user_id) DO UPDATE SET month = excluded.month
  WHERE excluded.month < user_first_month.month;
  RETURN NULL;
END
$fn$;

CREATE FUNCTION run_facts_after_update() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
BEGIN
  -- No join of old_rows with new_rows: transition tables have no statistics or indexes, and the
  -- planner's nested loop made a 3000-row batch spend most of its time here. A month that changed
  -- is found by grouping both sides by run instead (one hash or sort pass).
  PERFORM run_facts_note_months(ARRAY(
    SELECT month FROM new_rows
    UNION ALL
    SELECT o FROM (
      SELECT max(month) FILTER (WHERE side = 0) AS o, max(month) FILTER (WHERE side = 1) AS n
      FROM (SELECT run, month, 0 AS side FROM old_rows UNION ALL SELECT run, month, 1 FROM new_rows) AS b
      GROUP BY run) AS g
    WHERE o <> n));
  -- Upserting every updated run's user is idempotent (the earliest month wins) and cheaper than
  -- finding the few whose user or month changed.
  INSERT INTO user_first_month (project, user_id, month)
  SELECT project, user_id, min(month) FROM new_rows WHERE user_id IS NOT NULL
  GROUP BY project, user_id ORDER BY project, user_id
  ON CONFLICT (project, user_id) DO UPDATE SET month = excluded.month
  WHERE excluded.month < user_first_month.month;
  RETURN NULL;
END
$fn$;

CREATE FUNCTION run_facts_after_delete() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
BEGIN
  PERFORM run_facts_note_months(ARRAY(SELECT month FROM old_rows));
  RETURN NULL;
END
$fn$;

CREATE TRIGGER run_facts_changes_insert AFTER INSERT ON run_facts
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION run_facts_after_insert();
CREATE TRIGGER run_facts_changes_update AFTER UPDATE ON run_facts
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION run_facts_after_update();
CREATE TRIGGER run_facts_changes_delete AFTER DELETE ON run_facts
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION run_facts_after_delete();
`,
  },
  {
    // Retention: the same tables as SQLite v3 (see sqlite/migrations.ts, src/retention/prune.ts).
    version: 3,
    name: 'monthly rollups, pruned months',
    sql: `
CREATE TABLE monthly_rollups (
  month      integer NOT NULL,
  scope      text COLLATE "C" NOT NULL,
  runs       bigint NOT NULL,
  data       text COLLATE "C" NOT NULL,
  created_ms bigint NOT NULL,
  PRIMARY KEY (month, scope)
);

CREATE TABLE pruned_months (
  month        integer PRIMARY KEY,
  pruned_ms    bigint NOT NULL,
  cutoff_ms    bigint NOT NULL,
  runs_deleted bigint NOT NULL
);
`,
  },
  {
    // Mirrors SQLite v4's report_month_changes.deletes. PostgreSQL keeps its statement-level
    // triggers (they cost no per-row journal there); its settled-run aggregates came in v5.
    version: 4,
    name: 'deletes per month',
    sql: `
ALTER TABLE report_month_changes ADD COLUMN deletes bigint NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION run_facts_after_delete() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
BEGIN
  PERFORM run_facts_note_months(ARRAY(SELECT month FROM old_rows));
  UPDATE report_month_changes SET deletes = deletes + 1 WHERE month IN (SELECT DISTINCT month FROM old_rows);
  RETURN NULL;
END
$fn$;
`,
  },
  {
    // Settled-run aggregates, as SQLite v4 keeps them (src/store/sqlite/settle.ts explains the idea; the
    // PostgreSQL settle is src/store/postgres/settle.ts). With several receivers writing at once
    // a sequence number is no cut: a batch that drew a lower number may commit after a higher one.
    // A transaction ID is: a run is stamped with the xid (xid8, which never wraps) of the batch
    // that completed it, and a settle takes as its cut the xmin of its own snapshot, below which
    // every transaction has ended. The runs with settled_xid < cut are then all visible and final,
    // and no later commit can add one; a report reads the aggregates plus the runs not below it.
    version: 5,
    name: 'settled-run aggregates',
    sql: `
ALTER TABLE run_facts ADD COLUMN settled_xid xid8;
-- Runs completed before this version: settled before any cut (xid 1 precedes every real one).
-- The update trigger would only re-count their months: it is off for this one statement.
ALTER TABLE run_facts DISABLE TRIGGER run_facts_changes_update;
UPDATE run_facts SET settled_xid = '1'::xid8 WHERE has_start = 1 AND has_end = 1;
ALTER TABLE run_facts ENABLE TRIGGER run_facts_changes_update;
CREATE INDEX run_facts_settled ON run_facts (month, settled_xid);
-- Settling walks the months listed here. A store whose runs were written before v2's triggers
-- (v2 created the table empty) has months missing from it: listed now, as unchanged.
INSERT INTO report_month_changes (month, changes) SELECT DISTINCT month, 0 FROM run_facts ORDER BY month
ON CONFLICT (month) DO NOTHING;

CREATE TABLE report_settled_groups (
  month      integer NOT NULL,
  project    text COLLATE "C" NOT NULL,
  user_id    text COLLATE "C",
  host_id    text COLLATE "C",
  script_id  text COLLATE "C",
  exit_code  integer,
  format     text COLLATE "C" NOT NULL,
  eph        integer NOT NULL,
  version    text COLLATE "C",
  runtime    text COLLATE "C",
  os         text COLLATE "C",
  arch       text COLLATE "C",
  ci         integer,
  components jsonb,
  runs       bigint NOT NULL,
  dur_sum    bigint,
  dur_n      bigint NOT NULL
);
CREATE INDEX report_settled_groups_month ON report_settled_groups (month, project);

CREATE TABLE report_settled_durations (
  month       integer NOT NULL,
  project     text COLLATE "C" NOT NULL,
  duration_ms bigint NOT NULL,
  runs        bigint NOT NULL,
  PRIMARY KEY (month, project, duration_ms)
);

-- Per month: the aggregates cover exactly the runs with settled_xid < cut, as of the month's
-- delete count; a different delete count means they must be rebuilt.
CREATE TABLE report_settled_months (
  month   integer PRIMARY KEY,
  cut     xid8 NOT NULL,
  deletes bigint NOT NULL
);

-- The receivers never update a settled run (every later datagram of it is a copy). An update of
-- one is a hand edit: it makes the aggregates of the run's month stale, exactly as a delete does.
CREATE FUNCTION run_facts_settled_edit() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
BEGIN
  UPDATE report_month_changes SET deletes = deletes + 1
  WHERE month IN (SELECT DISTINCT month FROM old_rows WHERE settled_xid IS NOT NULL);
  RETURN NULL;
END
$fn$;
CREATE TRIGGER run_facts_settled_edit AFTER UPDATE ON run_facts
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION run_facts_settled_edit();
`,
  },
  {
    // Distinct counts that survive pruning: SQLite v5 explains it (src/reports/hll.ts). The key
    // comes from gen_random_uuid(), which PostgreSQL draws from a cryptographic source.
    version: 6,
    name: 'monthly distinct-count sketches',
    sql: `
CREATE TABLE sketch_key (
  id  integer PRIMARY KEY CHECK (id = 1),
  key text NOT NULL
);
INSERT INTO sketch_key (id, key) VALUES (1, replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));

CREATE TABLE monthly_sketches (
  month     integer NOT NULL,
  scope     text COLLATE "C" NOT NULL,
  kind      text COLLATE "C" NOT NULL CHECK (kind IN ('user', 'host', 'script')),
  p         integer NOT NULL,
  registers text NOT NULL,
  PRIMARY KEY (month, scope, kind)
);
`,
  },
  {
    version: 7,
    name: 'collector secret fingerprint, daily network tags',
    // Self-contained (issue 11): it only adds.
    sql: `
-- Which collector secret keyed this store's legacy Parsl IDs and network tags: a fingerprint
-- (16 hex of an HMAC of the secret), never the secret. Receivers sharing this store must share
-- the secret; one with another secret refuses to start.
CREATE TABLE collector_secret (
  id                integer PRIMARY KEY CHECK (id = 1),
  fingerprint       text NOT NULL,
  legacy_rekeyed_ms bigint
);

-- The source network's daily tag at the run's first datagram (src/receiver/collector-secret.ts).
ALTER TABLE run_facts ADD COLUMN net_tag text COLLATE "C";
`,
  },
];

/** Highest schema version this build knows; a store migrated further is refused. */
export const POSTGRES_SCHEMA_VERSION = POSTGRES_MIGRATIONS[POSTGRES_MIGRATIONS.length - 1]!.version;
