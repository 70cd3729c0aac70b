import type { Database } from 'better-sqlite3';

/**
 * SQLite's run_facts has no triggers (schema v4: any trigger costs every upsert a statement
 * journal). The store keeps the report bookkeeping itself on every batch: per-month change
 * counters, each user's first month, and the write sequence at which a run was settled. Anything
 * else that writes run_facts (a hand edit, an import, the synthetic benchmark store, test
 * fixtures) calls this afterwards. It treats every month as changed: cached report summaries are
 * recomputed and settled aggregates rebuilt, so nothing stale can survive it.
 */
export function refreshBookkeeping(db: Database): void {
  db.transaction(() => {
    db.exec(`
INSERT INTO report_month_changes (month, changes, deletes) SELECT DISTINCT month, 1, 1 FROM run_facts WHERE true
ON CONFLICT (month) DO UPDATE SET changes = changes + 1, deletes = deletes + 1;
UPDATE report_month_changes SET changes = changes + 1, deletes = deletes + 1 WHERE month NOT IN (SELECT DISTINCT month FROM run_facts);
INSERT INTO user_first_month (project, user_id, month)
  SELECT project, user_id, min(month) FROM run_facts WHERE user_id IS NOT NULL GROUP BY project, user_id
ON CONFLICT (project, user_id) DO UPDATE SET month = excluded.month WHERE excluded.month < user_first_month.month;
UPDATE write_seq SET seq = seq + 1 WHERE id = 1;
UPDATE run_facts SET settled_seq = (SELECT seq FROM write_seq WHERE id = 1)
  WHERE has_start = 1 AND has_end = 1 AND settled_seq IS NULL;
UPDATE run_facts SET settled_seq = NULL WHERE settled_seq IS NOT NULL AND NOT (has_start = 1 AND has_end = 1);`);
  }).immediate();
}
