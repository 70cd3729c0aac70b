import fs from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { BeaconError } from '../errors.js';
import type { QueryRunner } from '../store/query-runner.js';
import { migrateSqlite } from '../store/sqlite/migrate.js';
import { POSTGRES_URL } from '../store/postgres/connection.js';
import { pruneStore, type MonthOutcome } from '../retention/prune.js';

/**
 * `beacon prune --older-than 60d [--db path | --store url] [--json]`: migrate the store to this
 * build's schema (v3 holds the rollups), then roll up and delete the raw runs of every month
 * entirely older than now − age (rules in prune.ts and docs/deploy.md). One line per month.
 */
export interface PruneCommandOptions {
  olderThan: string;
  db?: string;
  store?: string;
  json?: boolean;
  /** Injectable for tests. */
  now?: () => number;
  stdout?: NodeJS.WritableStream;
  beforeDelete?: Parameters<typeof pruneStore>[1]['beforeDelete'];
  afterPlan?: Parameters<typeof pruneStore>[1]['afterPlan'];
}

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000 } as const;

/** "60d", "12h", "90m" → milliseconds; anything else (or zero) is BEACON_ERR_BAD_DURATION. */
export function parseAge(text: string): number {
  const m = /^(\d{1,6})([dhm])$/.exec(String(text).trim());
  if (!m || Number(m[1]) === 0) {
    throw new BeaconError(
      'BEACON_ERR_BAD_DURATION',
      `--older-than must be a positive whole number followed by d (days), h (hours) or m (minutes), e.g. 60d; got ${JSON.stringify(String(text).slice(0, 40))}`,
    );
  }
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

async function openForPrune(opts: PruneCommandOptions): Promise<QueryRunner> {
  if (opts.store) {
    if (!POSTGRES_URL.test(opts.store)) {
      throw new BeaconError('BEACON_ERR_USAGE', '--store must be a postgres:// or postgresql:// URL (use --db for a SQLite file)');
    }
    // Loaded only when asked for: SQLite users never load pg.
    const { openPostgresPool } = await import('../store/postgres/connection.js');
    const { migratePostgres } = await import('../store/postgres/migrate.js');
    const { openPostgresRunner } = await import('../store/postgres/query-runner.js');
    const pool = await openPostgresPool(opts.store);
    try {
      await migratePostgres(pool);
    } finally {
      await pool.end();
    }
    return openPostgresRunner(opts.store);
  }
  const file = opts.db ?? './usage.db';
  if (!fs.existsSync(file)) {
    throw new BeaconError('BEACON_ERR_DB_MISSING', `no SQLite store at ${file} (give --db PATH of a store written by \`beacon receive\`)`);
  }
  try {
    const db = new BetterSqlite3(file, { fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000');
      migrateSqlite(db);
    } finally {
      db.close();
    }
  } catch (e) {
    if (e instanceof BeaconError) throw e;
    const why = e instanceof Error ? e.message : String(e);
    throw new BeaconError('BEACON_ERR_DB_OPEN', `cannot open SQLite store ${file}: ${why}`, { cause: e });
  }
  const { openSqliteRunner } = await import('../store/sqlite/query-runner.js');
  const runner = openSqliteRunner(file);
  if (!runner.writable) {
    await runner.close();
    throw new BeaconError('BEACON_ERR_DB_OPEN', `cannot prune ${file}: the store is read-only for this user`);
  }
  return runner;
}

function line(o: MonthOutcome): string {
  const n = o.runs.toLocaleString('en-US');
  if (o.action === 'pruned') {
    const per = o.rollups === 1 ? '1 rollup' : `${o.rollups} rollups (all projects + ${o.rollups - 1} project${o.rollups === 2 ? '' : 's'})`;
    return `${o.month}  pruned  ${n} raw runs deleted, ${per} kept`;
  }
  return `${o.month}  kept    ${n} raw runs: ${o.reason}`;
}

export async function pruneCommand(opts: PruneCommandOptions): Promise<number> {
  const ageMs = parseAge(opts.olderThan);
  const nowMs = (opts.now ?? Date.now)();
  const cutoffMs = nowMs - ageMs;
  const db = await openForPrune(opts);
  let months: MonthOutcome[];
  try {
    months = await pruneStore(db, { cutoffMs, nowMs, beforeDelete: opts.beforeDelete, afterPlan: opts.afterPlan });
  } finally {
    await db.close();
  }
  const cutoff = new Date(cutoffMs).toISOString();
  let text: string;
  if (opts.json) text = `${JSON.stringify({ cutoff, months }, null, 2)}\n`;
  else if (months.length === 0) text = `nothing to prune: no raw runs in months that ended before the cutoff ${cutoff}\n`;
  else text = `${months.map(line).join('\n')}\n`;
  const out = opts.stdout ?? process.stdout;
  await new Promise<void>((resolve, reject) => out.write(text, (e) => (e ? reject(e) : resolve())));
  return 0;
}
