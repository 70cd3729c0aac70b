import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { FromSettleThread, SettleThreadData } from './settle-thread.js';

/** Seconds between settle rounds ($BEACON_SETTLE_SECONDS; 0 turns settling off). */
export const DEFAULT_SETTLE_SECONDS = 300;

export function settleSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.BEACON_SETTLE_SECONDS;
  const n = raw === undefined || raw === '' ? DEFAULT_SETTLE_SECONDS : Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : DEFAULT_SETTLE_SECONDS;
}

export interface Settler {
  stop(): Promise<void>;
}

/**
 * Keeps a SQLite store's settled-run aggregates (src/store/settle.ts) current from a worker
 * thread, so the reports of a month read them instead of every run. The first round runs soon
 * after start (a store just upgraded to schema v4 gets its aggregates built), then every
 * `seconds`. Never keeps the process alive; failures are logged and retried next round.
 */
export function startSettler(path: string, seconds: number, log: Logger): Settler | null {
  if (seconds <= 0) return null;
  const data: SettleThreadData = { path, firstMs: Math.min(10_000, seconds * 1000), intervalMs: seconds * 1000 };
  const worker = new Worker(new URL('./settle-thread.js', import.meta.url), { workerData: data });
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
