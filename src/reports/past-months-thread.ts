import { parentPort, workerData } from 'node:worker_threads';
import type { Month } from './month.js';
import { pastSummary } from './past-months.js';
import type { CacheEntry, CacheFeatures } from './queries/summary-cache.js';
import type { MonthSummary } from './queries/summary.js';
import { openSqliteRunner } from './sqlite-runner.js';

/**
 * Worker side of pastSummariesInThread (past-months-parallel.ts): the past months' summaries from
 * a second connection, in its own read transaction, while the main thread computes the reported
 * month. Cache entries go back to the main thread, which writes them with its own.
 */
export interface PastMonthsJob {
  file: string;
  months: Month[];
  project: string | null;
  features: CacheFeatures;
}

export type PastMonthsResult =
  | { ok: true; summaries: { key: number; s: MonthSummary; cached: boolean }[]; pending: CacheEntry[] }
  | { ok: false; message: string };

const job = workerData as PastMonthsJob;
const port = parentPort!;

async function main(): Promise<PastMonthsResult> {
  const db = openSqliteRunner(job.file);
  const pending: CacheEntry[] = [];
  const summaries: { key: number; s: MonthSummary; cached: boolean }[] = [];
  try {
    await db.exec('BEGIN');
    for (const m of job.months) {
      const r = await pastSummary(db, { month: m, project: job.project }, job.features, pending);
      summaries.push({ key: m.key, ...r });
    }
    await db.exec('COMMIT');
    return { ok: true, summaries, pending };
  } finally {
    await db.close();
  }
}

main().then(
  (r) => port.postMessage(r),
  (e: unknown) => port.postMessage({ ok: false, message: e instanceof Error ? e.message : String(e) } satisfies PastMonthsResult),
);
