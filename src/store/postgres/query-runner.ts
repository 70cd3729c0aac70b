import pg from 'pg';
import { BeaconError } from '../../errors.js';
import type { QueryRunner, Row } from '../query-runner.js';
import { postgresSchemaVersion } from './migrate.js';
import { badStoreUrl, POSTGRES_URL } from '../location.js';
import { dbOpenError, withDefaultUser } from './connection.js';
import { POSTGRES_SCHEMA_VERSION } from './migrations.js';

/**
 * The reports' QueryRunner (src/store/query-runner.ts) on a PostgreSQL store, so the same
 * report SQL runs on both stores. One dedicated connection, not a pool: the reports keep a temp
 * table and a transaction across statements, and both live in one session.
 *
 * - `?` placeholders become `$1…$n` (outside string literals and quoted identifiers).
 * - `BEGIN` opens a REPEATABLE READ transaction: every query of the report sees
 *   one snapshot while receivers keep writing, which is what SQLite's read transaction gives and
 *   what the month-change counters of the summary cache rely on.
 * - The store is never migrated from here (reports only read it, and write their cache); a store
 *   newer than this build is refused like the receiver refuses it.
 */

/** `?` → `$n`, skipping '…' literals, "…" identifiers and -- comments. */
export function toDollarParams(sql: string): string {
  let out = '';
  let n = 0;
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i]!;
    if (ch === "'" || ch === '"') {
      const end = sql.indexOf(ch, i + 1);
      const stop = end < 0 ? sql.length : end + 1;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (ch === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end < 0 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (ch === '?') {
      out += `$${++n}`;
    } else {
      out += ch;
    }
  }
  return out;
}

class PostgresRunner implements QueryRunner {
  readonly dialect = 'postgres' as const;
  readonly writable = true;
  private readonly sqlCache = new Map<string, string>();

  constructor(private readonly client: pg.Client) {}

  private text(sql: string): string {
    let t = this.sqlCache.get(sql);
    if (t === undefined) this.sqlCache.set(sql, (t = toDollarParams(sql)));
    return t;
  }

  async all<T extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    const r = await this.client.query(this.text(sql), params as unknown[]);
    return r.rows as T[];
  }

  async exec(sql: string, params: readonly unknown[] = []): Promise<void> {
    const s = sql.trim().toUpperCase() === 'BEGIN' ? 'BEGIN ISOLATION LEVEL REPEATABLE READ' : this.text(sql);
    await this.client.query(s, params as unknown[]);
  }

  async hasTable(name: string): Promise<boolean> {
    const r = await this.client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [name]);
    return r.rows[0]?.t != null;
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}

const REPORT_WORK_MEM = '128MB';

/** Connect for a report; a one-line BEACON_ERR_DB_OPEN when unreachable, SCHEMA_TOO_NEW when newer. */
export async function openPostgresRunner(url: string, connectTimeoutMs = 5000): Promise<QueryRunner> {
  if (!POSTGRES_URL.test(url)) throw badStoreUrl();
  const client = new pg.Client({
    connectionString: withDefaultUser(url),
    connectionTimeoutMillis: connectTimeoutMs,
    application_name: 'usage-beacon reports',
  });
  // A connection lost mid-report surfaces as the failing query's error; this only keeps an
  // 'error' event on the idle client from crashing the process.
  client.on('error', () => {});
  try {
    await client.connect();
    // The report's month GROUP BY reads ~1M rows into ~170k groups. With the default 4 MB work_mem
    // it sorts on disk; at 128 MB the planner hashes in memory (~100 MB used), about twice as
    // fast (new-month report on the synthetic 12M-run store: ~21 s → see docs/deploy.md and
    // bench/lib/pg-report-time.mjs). Only raised, never lowered: a server configured higher
    // keeps its setting. Session-only, one connection, one query at a time.
    await client.query(`SELECT set_config('work_mem', '${REPORT_WORK_MEM}', false)
      WHERE pg_size_bytes(current_setting('work_mem')) < pg_size_bytes('${REPORT_WORK_MEM}')`);
    const v = await postgresSchemaVersion(client);
    if (v > POSTGRES_SCHEMA_VERSION) {
      throw new BeaconError(
        'BEACON_ERR_SCHEMA_TOO_NEW',
        `the PostgreSQL store has schema version ${v}, newer than this usage-beacon knows (${POSTGRES_SCHEMA_VERSION}); upgrade usage-beacon`,
      );
    }
  } catch (e) {
    await client.end().catch(() => {});
    throw e instanceof BeaconError ? e : dbOpenError(url, e);
  }
  return new PostgresRunner(client);
}
