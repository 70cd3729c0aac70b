import { MAX_COMPONENT_KEYS, TOP_N } from '../reports/collect.js';
import { monthFromKey, type Month } from '../reports/month.js';
import { computeRollup } from '../reports/queries/rollups.js';
import { scopeKey } from '../reports/queries/scope.js';
import { saveSketches, sketchKey, sketchRuns, type Sketches } from '../reports/queries/sketches.js';
import { count, num, type QueryRunner } from '../store/query-runner.js';

/**
 * Retention: roll a month's raw runs into monthly rollups (kept forever), then delete the runs.
 *
 * Which months: with cutoff = now − age, a month is pruned only when it ended at or before the
 * cutoff (a run belongs to the month of the receiver clock at its first datagram, so every run of
 * it started before the cutoff) and none of its datagrams arrived after the cutoff (a long run
 * whose end came late keeps its month until the end too is older than the cutoff). A month that
 * is still going is never pruned, whatever the age.
 *
 * One write transaction per month and store (SQLite BEGIN IMMEDIATE; PostgreSQL REPEATABLE READ):
 * the rollups of every scope (all projects and each project), the pruned_months marker and the
 * DELETE commit together or not at all. On PostgreSQL a receiver touching one of the month's rows
 * meanwhile makes the DELETE fail to serialize; the month is then retried from scratch.
 */
export interface MonthOutcome {
  month: string;
  action: 'pruned' | 'kept';
  /** Raw runs deleted (pruned) or left in place (kept). */
  runs: number;
  /** Rollups written: all projects plus one per project. */
  rollups: number;
  reason?: string;
}

export interface PruneOptions {
  cutoffMs: number;
  nowMs: number;
  /** Test hook, run inside the transaction just before the DELETE (a throw must roll back everything). */
  beforeDelete?: (month: Month) => Promise<void> | void;
  /** Test hook, run between computing the rollups and the write transaction (a receiver writing). */
  afterPlan?: (month: Month) => Promise<void> | void;
}

const RETRIES = 3;

/** PostgreSQL: serialization failure, deadlock, or another prune's pruned_months row committed meanwhile. */
function isRetryable(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === '40001' || code === '40P01' || code === '23505';
}

/** Months before the one the cutoff falls in: those ended at or before the cutoff. */
function lastEndedMonth(cutoffMs: number): number {
  const d = new Date(cutoffMs);
  return d.getUTCFullYear() * 100 + d.getUTCMonth() + 1;
}

async function lastActivity(db: QueryRunner, month: number): Promise<{ runs: number; lastMs: number }> {
  const [r] = await db.all(
    'SELECT count(*) AS n, max(first_seen_ms) AS a, max(start_seen_ms) AS b, max(end_seen_ms) AS c FROM run_facts WHERE month = ?',
    [month],
  );
  return { runs: count(r?.n), lastMs: Math.max(num(r?.a) ?? 0, num(r?.b) ?? 0, num(r?.c) ?? 0) };
}

interface Plan {
  runs: number;
  /** Sum of report_month_changes up to the month: any write that could change its rollups moves it. */
  changes: number;
  rollups: { scope: string; runs: number; data: string; sketches: Sketches | null }[];
}

/** What pruning the month would write, or why it is kept. Read-only: runs in any transaction. */
async function plan(db: QueryRunner, month: Month, opts: PruneOptions): Promise<Plan | MonthOutcome> {
  if ((await db.all('SELECT 1 AS x FROM pruned_months WHERE month = ?', [month.key])).length) {
    return { month: month.label, action: 'kept', runs: 0, rollups: 0, reason: 'pruned meanwhile by another beacon prune' };
  }
  const { runs, lastMs } = await lastActivity(db, month.key);
  if (lastMs >= opts.cutoffMs) {
    const reason = `a datagram of it arrived after the cutoff (${new Date(lastMs).toISOString()})`;
    return { month: month.label, action: 'kept', runs, rollups: 0, reason };
  }
  const [c] = await db.all('SELECT sum(changes) AS n FROM report_month_changes WHERE month <= ?', [month.key]);
  const projects = await db.all('SELECT DISTINCT project FROM run_facts WHERE month = ? ORDER BY project', [month.key]);
  const rollups: Plan['rollups'] = [];
  // Distinct-count sketches (no IDs) so periods spanning this month can still count people.
  const key = await sketchKey(db);
  for (const project of [null, ...projects.map((p) => String(p.project))]) {
    const r = await computeRollup(db, { month, project }, { topN: TOP_N, maxComponentKeys: MAX_COMPONENT_KEYS });
    const sketches = key ? await sketchRuns(db, { month, project }, key) : null;
    rollups.push({ scope: scopeKey(project), runs: r.summary.runs, data: JSON.stringify(r), sketches });
  }
  return { runs, changes: count(c?.n), rollups };
}

/**
 * The rollups are computed first in a read transaction, so receivers keep writing meanwhile (a
 * SQLite reader does not block the writer); the write transaction then checks that nothing
 * changed the month's data since (the per-month change counters kept by triggers) and only
 * writes and deletes. If something did change, the rollups are recomputed inside the write
 * transaction, so what is deleted is always exactly what was rolled up.
 */
async function pruneMonth(db: QueryRunner, month: Month, opts: PruneOptions): Promise<MonthOutcome> {
  await db.exec('BEGIN');
  let p: Plan | MonthOutcome;
  try {
    p = await plan(db, month, opts);
  } finally {
    await db.exec('COMMIT').catch(() => {});
  }
  if ('action' in p) return p;
  await opts.afterPlan?.(month);
  await db.exec(db.dialect === 'sqlite' ? 'BEGIN IMMEDIATE' : 'BEGIN');
  try {
    const [c] = await db.all('SELECT sum(changes) AS n FROM report_month_changes WHERE month <= ?', [month.key]);
    const pruned = (await db.all('SELECT 1 AS x FROM pruned_months WHERE month = ?', [month.key])).length > 0;
    if (pruned || count(c?.n) !== p.changes) p = await plan(db, month, opts);
    if ('action' in p) {
      await db.exec('ROLLBACK');
      return p;
    }
    for (const r of p.rollups) {
      await db.exec(
        `INSERT INTO monthly_rollups (month, scope, runs, data, created_ms) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (month, scope) DO UPDATE SET runs = excluded.runs, data = excluded.data, created_ms = excluded.created_ms`,
        [month.key, r.scope, r.runs, r.data, opts.nowMs],
      );
      if (r.sketches) await saveSketches(db, month.key, r.scope, r.sketches);
    }
    await db.exec('INSERT INTO pruned_months (month, pruned_ms, cutoff_ms, runs_deleted) VALUES (?, ?, ?, ?)', [
      month.key,
      opts.nowMs,
      opts.cutoffMs,
      p.runs,
    ]);
    await opts.beforeDelete?.(month);
    await db.exec('DELETE FROM run_facts WHERE month = ?', [month.key]);
    // PostgreSQL's delete trigger counts this; SQLite's run_facts has no triggers (schema v4).
    if (db.dialect === 'sqlite') {
      await db.exec('UPDATE report_month_changes SET changes = changes + ?, deletes = deletes + 1 WHERE month = ?', [p.runs, month.key]);
    }
    // Cached summaries of the month are stale now (its change counter moved); drop them.
    await db.exec('DELETE FROM report_month_cache WHERE month = ?', [month.key]);
    await db.exec('COMMIT');
    return { month: month.label, action: 'pruned', runs: p.runs, rollups: p.rollups.length };
  } catch (e) {
    await db.exec('ROLLBACK').catch(() => {});
    throw e;
  }
}

/** Prunes every eligible month, oldest first; months already pruned are skipped (idempotent). */
export async function pruneStore(db: QueryRunner, opts: PruneOptions): Promise<MonthOutcome[]> {
  if (db.dialect === 'sqlite') {
    // A receiver commits a batch in milliseconds: wait for it rather than fail. A larger page
    // cache than the report's roughly halves the time the DELETE of a million runs holds the lock.
    await db.all('PRAGMA busy_timeout = 10000');
    await db.exec('PRAGMA cache_size = -262144');
  }
  const pruned = new Set((await db.all('SELECT month FROM pruned_months')).map((r) => count(r.month)));
  const months = await db.all('SELECT DISTINCT month FROM run_facts WHERE month < ? ORDER BY month', [lastEndedMonth(opts.cutoffMs)]);
  const out: MonthOutcome[] = [];
  for (const row of months) {
    const month = monthFromKey(count(row.month));
    if (pruned.has(month.key)) {
      // Only a receiver whose clock was months behind could add runs to a pruned month: its
      // rollups cannot absorb them (distinct counts do not add up), so they are left for an operator.
      const { runs } = await lastActivity(db, month.key);
      out.push({
        month: month.label,
        action: 'kept',
        runs,
        rollups: 0,
        reason: 'already pruned; these runs arrived later and are not in its rollups',
      });
      continue;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        out.push(await pruneMonth(db, month, opts));
        break;
      } catch (e) {
        if (!isRetryable(e) || attempt >= RETRIES) throw e;
      }
    }
  }
  return out;
}
