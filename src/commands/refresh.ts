import { DEFAULT_DB } from '../store/location.js';
import { refreshBookkeeping } from '../store/sqlite/bookkeeping.js';
import { migrateSqliteFile } from '../store/sqlite/migrate.js';

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
  const file = opts.db ?? DEFAULT_DB;
  const months = migrateSqliteFile(file, 'refresh', (db) => {
    refreshBookkeeping(db);
    return (db.prepare('SELECT count(*) AS n FROM report_month_changes').get() as { n: number }).n;
  });
  (opts.stdout ?? process.stdout).write(`refreshed the report bookkeeping of ${file}: ${months} months marked changed\n`);
  return 0;
}
