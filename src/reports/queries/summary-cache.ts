import { num, type QueryRunner } from '../../store/query-runner.js';

/**
 * Per-month results cached in the store (report_month_cache, schema v2): each month's summary, so
 * the 12-month trend and the previous month cost one row each instead of a pass over a million
 * runs each, and the reported month's full breakdowns, so the md, html, csv and json of one month
 * (or a re-run) aggregate the month once.
 *
 * Exactness, not freshness heuristics: triggers on run_facts count every insert, update and
 * delete per month in report_month_changes. A cached summary records the count it was computed
 * at and is used only while the count is unchanged, so a late end datagram for an old month (or a
 * prune) invalidates exactly that month. The count is read inside the same read snapshot as the
 * rows it describes; a change racing the report only makes the next report recompute.
 */
export interface CacheFeatures {
  /** report_month_cache and report_month_changes exist (schema v2). */
  cache: boolean;
  /** user_first_month exists (schema v2). */
  firstMonth: boolean;
}

export async function cacheFeatures(db: QueryRunner): Promise<CacheFeatures> {
  const cache = (await db.hasTable('report_month_cache')) && (await db.hasTable('report_month_changes'));
  return { cache, firstMonth: await db.hasTable('user_first_month') };
}

export async function monthChanges(db: QueryRunner, month: number): Promise<number> {
  const rows = await db.all('SELECT changes FROM report_month_changes WHERE month = ?', [month]);
  return num(rows[0]?.changes) ?? 0;
}

/** A cached value is any JSON object carrying the version `v` of the code that made it. */
export interface Versioned {
  v: number;
}

export async function loadCached<T extends Versioned>(
  db: QueryRunner,
  month: number,
  scope: string,
  changes: number,
  v: number,
): Promise<T | null> {
  const rows = await db.all('SELECT changes, summary FROM report_month_cache WHERE month = ? AND scope = ?', [month, scope]);
  const row = rows[0];
  if (!row || num(row.changes) !== changes) return null;
  try {
    const value = JSON.parse(String(row.summary)) as T;
    return value.v === v ? value : null;
  } catch {
    // A damaged cache row is only a missed shortcut: recompute.
    return null;
  }
}

export interface CacheEntry {
  month: number;
  scope: string;
  changes: number;
  /** JSON, or bytes (a period entry, period-entry.ts: a BLOB in SQLite, base64 text in PostgreSQL). */
  value: Versioned | Uint8Array;
}

function stored(db: QueryRunner, v: Versioned | Uint8Array): string | Buffer {
  if (!(v instanceof Uint8Array)) return JSON.stringify(v);
  // A Buffer sent from the helper thread arrives as a plain Uint8Array.
  const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return db.dialect === 'sqlite' ? b : b.toString('base64');
}

/** Best effort: a store we cannot write (read-only copy, receiver holding the lock) is not an error. */
export async function saveCachedSummaries(db: QueryRunner, entries: readonly CacheEntry[]): Promise<boolean> {
  if (!db.writable || entries.length === 0) return false;
  try {
    await db.exec('BEGIN');
    for (const e of entries) {
      await db.exec(
        `INSERT INTO report_month_cache (month, scope, changes, summary) VALUES (?, ?, ?, ?)
         ON CONFLICT (month, scope) DO UPDATE SET changes = excluded.changes, summary = excluded.summary`,
        [e.month, e.scope, e.changes, stored(db, e.value)],
      );
    }
    await db.exec('COMMIT');
    return true;
  } catch {
    await db.exec('ROLLBACK').catch(() => {});
    return false;
  }
}
