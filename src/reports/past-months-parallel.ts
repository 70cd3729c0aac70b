import { Worker } from 'node:worker_threads';
import type { Month } from './month.js';
import type { PastMonthsJob, PastMonthsResult } from './past-months-thread.js';
import type { CacheEntry, CacheFeatures } from './queries/summary-cache.js';
import type { MonthSummary } from './queries/summary.js';

export interface PastMonths {
  summaries: Map<number, { s: MonthSummary; cached: boolean }>;
  pending: CacheEntry[];
}

/**
 * Computes past months' summaries (the previous month and uncached trend months) in a worker
 * thread with its own SQLite connection, so they run on the second core while the main thread
 * computes the reported month: a month's first report does two months' work in the time of one.
 * Its read transaction starts when the worker starts, a few milliseconds after the main one; each
 * summary is exact for its own snapshot and cached with that snapshot's change count. Resolves
 * null on any failure: the caller then computes those months itself.
 */
export function pastSummariesInThread(file: string, months: Month[], project: string | null, features: CacheFeatures): Promise<PastMonths | null> {
  return new Promise((resolve) => {
    let worker: Worker;
    try {
      worker = new Worker(new URL('./past-months-thread.js', import.meta.url), {
        workerData: { file, months, project, features } satisfies PastMonthsJob,
      });
    } catch {
      resolve(null);
      return;
    }
    worker.once('message', (r: PastMonthsResult) => {
      resolve(r.ok ? { summaries: new Map(r.summaries.map((x) => [x.key, { s: x.s, cached: x.cached }])), pending: r.pending } : null);
    });
    worker.once('error', () => resolve(null));
    worker.once('exit', () => resolve(null));
  });
}
