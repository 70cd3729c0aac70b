import fs from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { BeaconError } from '../errors.js';
import { refreshBookkeeping } from '../store/sqlite/bookkeeping.js';
import { migrateSqlite } from '../store/sqlite/migrate.js';

/**
 * `beacon refresh [--db path]`: after run_facts of a SQLite store was written by anything other
 * than the receiver (a hand edit, an import), bring the report bookkeeping back in line with it
 * (refreshBookkeeping: every month marked changed, first months and settled runs recomputed). The
 * receiver may keep running; its settle thread rebuilds the aggregates on its next round.
 */
export interface RefreshCommandOptions {
  db?: string;
  stdout?: NodeJS.WritableStream;
}

export async function refreshCommand(opts: RefreshCommandOptions): Promise<number> {
  const file = opts.db ?? './usage.db';
  if (!fs.existsSync(file)) {
    throw new BeaconError('BEACON_ERR_DB_MISSING', `no SQLite store at ${file} (give --db PATH of a store written by \`beacon receive\`)`);
  }
  let months: number;
  try {
    const db = new BetterSqlite3(file, { fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000');
      migrateSqlite(db);
      refreshBookkeeping(db);
      months = (db.prepare('SELECT count(*) AS n FROM report_month_changes').get() as { n: number }).n;
    } finally {
      db.close();
    }
  } catch (e) {
    if (e instanceof BeaconError) throw e;
    const why = e instanceof Error ? e.message : String(e);
    throw new BeaconError('BEACON_ERR_DB_OPEN', `cannot refresh SQLite store ${file}: ${why}`, { cause: e });
  }
  (opts.stdout ?? process.stdout).write(`refreshed the report bookkeeping of ${file}: ${months} months marked changed\n`);
  return 0;
}
