import { count, type QueryRunner } from '../../store/query-runner.js';
import { concatAgg, distinctConcatAgg, hex8, isHex32, tempTable } from '../dialect.js';
import type { IdList } from '../id-set.js';
import type { Month } from '../month.js';
import { COMPONENT_SOURCE, createDimensions, DIMENSIONS, dropDimensions } from './breakdowns.js';
import { createMonthGroups, dropMonthGroups, DURATIONS, GROUPS } from './month-groups.js';
import { decodeEntry, encodeEntry, entryVersion, type PeriodMonthEntry, type SectionValue } from '../period-entry.js';
import { scopeKey } from './scope.js';
import { loadCached, monthChanges, type CacheEntry, type CacheFeatures } from './summary-cache.js';
import { summarizeGroups, SUMMARY_VERSION, type MonthSummary } from './summary.js';

/**
 * What the period report needs of one month with raw runs, small enough to cache per month in
 * report_month_cache (under its own scope key, so the same change counters invalidate it and
 * `beacon prune` deletes it with the month's runs):
 * - the month's distinct user, host and script IDs, packed 16 bytes each (id-set.ts): the
 *   period's exact distinct counts and first months are unions of these, not one GROUP BY over
 *   every month's groups;
 * - per breakdown section (dimension, exit codes, each component key) and value: runs, runs
 *   without a user ID, and the month's users of that value as indices into `users`;
 * - the run-length distribution (truncated length, runs), flattened.
 * Runs add up across months; distinct users per value are unions of the index sets (period-merge.ts).
 * It holds nothing the store does not already hold for the month: IDs are the anonymized hashes
 * of run_facts, and the entry goes when the month's runs go.
 */
export const PERIOD_MONTH_VERSION = SUMMARY_VERSION * 100 + 5;

export type { PeriodMonthEntry, SectionValue };

const USERS = 'rep_users';

/** The bytes of a hex string from an aggregate (NULL over no rows). */
function hexBytes(v: unknown): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'hex') : Buffer.alloc(0);
}

/**
 * A month's distinct IDs of one column, packed in SQL: the 32-hex ones as one string of hex
 * digits (one JS string for the month, not one per ID; a month of 12M-store runs has ~180k
 * hosts and scripts), any other shape as rows.
 */
async function distinctIds(db: QueryRunner, column: string): Promise<IdList> {
  const hex = isHex32(db.dialect, column);
  const packed = await db.all(
    `SELECT ${concatAgg(db.dialect, 'id')} AS ids FROM (SELECT DISTINCT ${column} AS id FROM ${GROUPS} WHERE ${column} IS NOT NULL AND ${hex} = 1) AS d`,
  );
  const other = await db.all(`SELECT DISTINCT ${column} AS id FROM ${GROUPS} WHERE ${column} IS NOT NULL AND ${hex} = 0 ORDER BY id`);
  return { hex: hexBytes(packed[0]?.ids), other: other.map((r) => String(r.id)) };
}

/**
 * One section's values: runs, runs without a user ID, and the value's users as packed indices.
 * The users are aggregated in SQL into one string of 8-hex-digit indices per value (not a row,
 * nor a JS string, per user and value).
 */
async function section(db: QueryRunner, select: string, keyed: boolean): Promise<{ k: string; v: SectionValue }[]> {
  const k = keyed ? 's.k' : "''";
  const rows = await db.all(
    `SELECT ${k} AS k, s.value AS value, sum(s.runs) AS runs, sum(CASE WHEN s.user_id IS NULL THEN s.runs ELSE 0 END) AS idless,
       ${distinctConcatAgg(db.dialect, 'u.hx')} AS ixs
     FROM (${select}) AS s LEFT JOIN ${USERS} AS u ON u.user_id = s.user_id
     GROUP BY ${keyed ? 's.k, ' : ''}s.value`,
  );
  return rows.map((r) => ({ k: String(r.k), v: [r.value as string | number | null, count(r.runs), count(r.idless), hexBytes(r.ixs)] }));
}

/**
 * The month's entry from its groups: call after createMonthGroups(detail) and createDimensions,
 * whose temp tables it reads (rep_groups, rep_durations, rep_dims, rep_pairs).
 */
export async function periodMonthEntry(db: QueryRunner, withProjects: boolean): Promise<PeriodMonthEntry> {
  await db.exec(`DROP TABLE IF EXISTS ${tempTable(db.dialect, USERS)}`);
  // Numbered as the packed list holds them (the 32-hex IDs first), so an index is a place in `users`.
  await db.exec(
    `CREATE TEMP TABLE ${USERS} AS SELECT user_id, h, ix, ${hex8(db.dialect, 'ix')} AS hx FROM (
       SELECT user_id, h, row_number() OVER (ORDER BY h DESC, user_id) - 1 AS ix
       FROM (SELECT DISTINCT user_id, ${isHex32(db.dialect, 'user_id')} AS h FROM ${GROUPS} WHERE user_id IS NOT NULL) AS d) AS r`,
  );
  await db.exec(`CREATE INDEX ${USERS}_id ON ${USERS} (user_id)`);
  const packed = await db.all(`SELECT ${concatAgg(db.dialect, 'user_id', 'ix')} AS ids FROM ${USERS} WHERE h = 1`);
  const other = await db.all(`SELECT user_id FROM ${USERS} WHERE h = 0 ORDER BY ix`);
  const users: IdList = { hex: hexBytes(packed[0]?.ids), other: other.map((r) => String(r.user_id)) };
  const sections = new Map<string, SectionValue[]>();
  for (const [name, expr] of Object.entries(DIMENSIONS)) {
    if (name === 'projects' && !withProjects) continue;
    sections.set(
      `d:${name}`,
      (await section(db, `SELECT ${expr} AS value, user_id, runs FROM rep_dims`, false)).map((x) => x.v),
    );
  }
  sections.set(
    'exit',
    (await section(db, `SELECT exit_code AS value, user_id, runs FROM ${GROUPS} WHERE has_end = 1 AND exit_code IS NOT NULL`, false)).map(
      (x) => x.v,
    ),
  );
  const c = COMPONENT_SOURCE;
  for (const x of await section(db, `SELECT ${c.key} AS k, ${c.value} AS value, user_id, runs FROM ${c.from}`, true)) {
    const list = sections.get(`c:${x.k}`);
    if (list) list.push(x.v);
    else sections.set(`c:${x.k}`, [x.v]);
  }
  await db.exec(`DROP TABLE IF EXISTS ${tempTable(db.dialect, USERS)}`);
  const durations: number[] = [];
  for (const r of await db.all(`SELECT duration_ms, sum(runs) AS runs FROM ${DURATIONS} GROUP BY duration_ms`))
    durations.push(count(r.duration_ms), count(r.runs));
  return {
    v: PERIOD_MONTH_VERSION,
    users,
    hosts: await distinctIds(db, 'host_id'),
    scripts: await distinctIds(db, 'script_id'),
    durations,
    sections,
  };
}

/**
 * A cached entry in its binary form (period-entry.ts) while the month's change count holds: a
 * BLOB in SQLite, base64 text in PostgreSQL (whose column is text). JSON text is an entry of an
 * older version: recomputed once.
 */
async function loadEntry(db: QueryRunner, month: number, scope: string, changes: number): Promise<MonthEntry | null> {
  const rows = await db.all('SELECT changes, summary FROM report_month_cache WHERE month = ? AND scope = ?', [month, scope]);
  const row = rows[0];
  if (!row || count(row.changes) !== changes) return null;
  const raw = row.summary;
  const b = Buffer.isBuffer(raw) ? raw : typeof raw === 'string' && !raw.startsWith('{') ? Buffer.from(raw, 'base64') : null;
  if (!b || entryVersion(b) !== PERIOD_MONTH_VERSION) return null;
  try {
    return { raw: b, entry: decodeEntry(b) };
  } catch {
    // A damaged row is only a missed shortcut: recompute.
    return null;
  }
}

/** An entry and its encoding (the entry's lists are views into `raw` when it was read back). */
export interface MonthEntry {
  raw: Buffer;
  entry: PeriodMonthEntry;
}

/**
 * A month with raw runs: its summary and its period entry (encoded, period-entry.ts), from the
 * cache while the month's change count holds, else from its groups (built once for both),
 * queued for the cache.
 */
export async function periodMonthData(
  db: QueryRunner,
  month: Month,
  project: string | null,
  features: CacheFeatures,
  pending: CacheEntry[],
): Promise<{ summary: MonthSummary } & MonthEntry> {
  const key = scopeKey(project);
  const entryKey = periodEntryKey(project);
  const changes = features.cache ? await monthChanges(db, month.key) : 0;
  let summary = features.cache ? await loadCached<MonthSummary>(db, month.key, key, changes, SUMMARY_VERSION) : null;
  let entry = features.cache ? await loadEntry(db, month.key, entryKey, changes) : null;
  if (summary && entry) return { summary, ...entry };
  const scope = { month, project };
  await createMonthGroups(db, scope, true);
  if (!summary) {
    summary = (await summarizeGroups(db, scope, features.firstMonth)).summary;
    if (features.cache) pending.push({ month: month.key, scope: key, changes, value: summary });
  }
  if (!entry) {
    await createDimensions(db);
    const made = await periodMonthEntry(db, project === null);
    entry = { raw: encodeEntry(made), entry: made };
    await dropDimensions(db);
    if (features.cache) pending.push({ month: month.key, scope: entryKey, changes, value: entry.raw });
  }
  await dropMonthGroups(db);
  return { summary, ...entry };
}

/**
 * Small SQLite page caches for the period report's connections (each thread has one). The main
 * schema is read once per uncached month, and the temp schema (the month's groups) defaults to
 * the build's 16 MB cache per connection; with both threads computing a month at once, 16 + 8 MB
 * main and 2 × 16 MB temp caches were ~50 MB of peak RSS. Sorts larger than the cache spill to
 * temp files. On the 12M store this took the new-month period from ~205-220 to ~170-185 MB
 * with no CPU change beyond noise.
 */
export const PERIOD_CACHE_KIB = 4096;

export async function usePeriodCaches(db: QueryRunner): Promise<void> {
  if (db.dialect !== 'sqlite') return;
  await db.exec(`PRAGMA cache_size = -${PERIOD_CACHE_KIB}`);
  await db.exec(`PRAGMA temp.cache_size = -${PERIOD_CACHE_KIB}`);
}

/** Cache key of a scope's period entries (report_month_cache.scope). */
export function periodEntryKey(project: string | null): string {
  return `period:${scopeKey(project)}`;
}

/** Whether the month's summary and entry are both cached at its current change count (no JSON parsed). */
export async function periodMonthCached(db: QueryRunner, month: number, project: string | null): Promise<boolean> {
  const changes = await monthChanges(db, month);
  const rows = await db.all('SELECT count(*) AS n FROM report_month_cache WHERE month = ? AND scope IN (?, ?) AND changes = ?', [
    month,
    scopeKey(project),
    periodEntryKey(project),
    changes,
  ]);
  return count(rows[0]?.n) === 2;
}
