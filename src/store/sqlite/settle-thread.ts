import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { settleAll } from './settle.js';
import { lowerThreadPriority } from './thread-priority.js';

/**
 * Worker side of startSettler (settler.ts): its own connection to the receiver's SQLite store,
 * settling on a timer. Its grouping reads never block the receiver's writes (WAL); only the short
 * swap takes the write lock, with a long busy timeout because it is in no hurry.
 */
export interface SettleThreadData {
  path: string;
  firstMs: number;
  intervalMs: number;
}

export type FromSettleThread = { type: 'settled'; months: Record<string, string>; ms: number } | { type: 'failed'; message: string };

if (!parentPort) throw new Error('settle-thread.js runs only as a worker thread');
const port = parentPort;
const { path, firstMs, intervalMs } = workerData as SettleThreadData;
// Background work: a settle round (up to seconds of CPU on a big month) must not take the core
// from the thread reading the socket (src/store/sqlite/thread-priority.ts).
lowerThreadPriority();
const db = new BetterSqlite3(path);
db.pragma('busy_timeout = 5000');
db.pragma('cache_size = -65536');

function round(): void {
  const t = performance.now();
  try {
    const done = [...settleAll(db)].filter(([, o]) => o !== 'unchanged');
    if (done.length)
      port.postMessage({
        type: 'settled',
        months: Object.fromEntries(done.map(([m, o]) => [String(m), o])),
        ms: Math.round(performance.now() - t),
      } satisfies FromSettleThread);
  } catch (e) {
    // A busy store or a full disk: the aggregates are only a shortcut, so try again next round.
    try {
      if (db.inTransaction) db.exec('ROLLBACK');
    } catch {
      // nothing to roll back
    }
    port.postMessage({ type: 'failed', message: e instanceof Error ? e.message : String(e) } satisfies FromSettleThread);
  }
}

setTimeout(() => {
  round();
  setInterval(round, intervalMs);
}, firstMs);
port.on('message', (m: { type: 'close' }) => {
  if (m.type === 'close') {
    db.close();
    process.exit(0);
  }
});
