import { Worker } from 'node:worker_threads';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { settlePostgresAll } from './postgres/settle.js';
import type { FromSettleThread, SettleThreadData } from './sqlite/settle-thread.js';

export interface Settler {
  stop(): Promise<void>;
}

/**
 * Keeps a SQLite store's settled-run aggregates (src/store/sqlite/settle.ts) current from a worker
 * thread, so the reports of a month read them instead of every run. The first round runs soon
 * after start (a store just upgraded to schema v4 gets its aggregates built), then every
 * `seconds`. Never keeps the process alive; failures are logged and retried next round.
 */
export function startSettler(path: string, seconds: number, log: Logger): Settler | null {
  if (seconds <= 0) return null;
  const data: SettleThreadData = { path, firstMs: Math.min(10_000, seconds * 1000), intervalMs: seconds * 1000 };
  const worker = new Worker(new URL('./sqlite/settle-thread.js', import.meta.url), { workerData: data });
  worker.unref();
  worker.on('message', (m: FromSettleThread) => {
    if (m.type === 'settled') log.info({ months: m.months, ms: m.ms }, 'settled runs aggregated for reports');
    else log.warn({ err: m.message }, 'settling runs for reports failed; will retry');
  });
  worker.on('error', (e) => log.warn({ err: e.message }, 'settle thread stopped'));
  return {
    async stop() {
      // Referenced while stopping: the caller still has a commit to finish after this, and an
      // event loop with only unref'd handles would end the process under its feet.
      worker.ref();
      const exited = new Promise<void>((r) => worker.once('exit', () => r()));
      worker.postMessage({ type: 'close' });
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise<void>((r) => (timer = setTimeout(r, 2000)))]);
      clearTimeout(timer);
      await worker.terminate();
    },
  };
}

/**
 * The same for a PostgreSQL store (src/store/postgres/settle.ts), on a timer of the receiver's
 * own: the work runs in the database server, the receiver only waits on the pool. Every receiver
 * writing the store may run one; an advisory lock per month keeps two from settling it at once.
 */
export function startPostgresSettler(pool: Pool, seconds: number, log: Logger): Settler | null {
  if (seconds <= 0) return null;
  let running: Promise<void> | undefined;
  let stopped = false;
  const round = (): void => {
    if (running || stopped) return;
    const t = performance.now();
    running = settlePostgresAll(pool)
      .then(
        (outcomes) => {
          const done = [...outcomes].filter(([, o]) => o !== 'unchanged');
          if (done.length)
            log.info(
              { months: Object.fromEntries(done.map(([m, o]) => [String(m), o])), ms: Math.round(performance.now() - t) },
              'settled runs aggregated for reports',
            );
        },
        // The database is down or busy: the aggregates are only a shortcut, so try again next round.
        (e: unknown) => log.warn({ err: e instanceof Error ? e.message : String(e) }, 'settling runs for reports failed; will retry'),
      )
      .finally(() => (running = undefined));
  };
  let interval: NodeJS.Timeout | undefined;
  const first = setTimeout(
    () => {
      round();
      interval = setInterval(round, seconds * 1000);
      interval.unref();
    },
    Math.min(10_000, seconds * 1000),
  );
  first.unref();
  return {
    async stop() {
      stopped = true;
      clearTimeout(first);
      clearInterval(interval);
      // A round under way finishes (its transaction commits or rolls back) before the pool closes.
      await running;
    },
  };
}
