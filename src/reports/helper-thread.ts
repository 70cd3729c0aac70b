import { parentPort, workerData } from 'node:worker_threads';
import type { Charts } from './charts.js';
import type { Month } from './month.js';
import { pastSummary } from './past-months.js';
import type { PeriodReport } from './period-types.js';
import { periodMonthData, usePeriodCaches } from './queries/period-month.js';
import type { CacheEntry, CacheFeatures } from './queries/summary-cache.js';
import type { MonthSummary } from './queries/summary.js';
import type { Report } from './report-types.js';
import { openSqliteRunner } from '../store/sqlite/query-runner.js';

/**
 * Worker side of startReportHelper (report-helper.ts). Jobs, one at a time, in arrival order:
 * - past: the past months' summaries from a second SQLite connection in its own read
 *   transaction, while the main thread computes the reported month; cache entries go back to
 *   the main thread, which writes them with its own;
 * - period: for `reports period`, the months whose summary or period entry is not cached
 *   (queries/period-month.ts), in the same way, while the main thread does the others;
 * - charts: the html report's charts (monthly or period). When the helper was started for an html report it loads
 *   vega as soon as the past months are done (or at once if none are asked for), while the main
 *   thread is still querying.
 */
export interface HelperData {
  file: string;
  charts: boolean;
}

export type ToHelper =
  | { type: 'past'; months: Month[]; project: string | null; features: CacheFeatures }
  | { type: 'period'; months: Month[]; project: string | null; features: CacheFeatures }
  | { type: 'none' }
  | { type: 'charts'; report: Report }
  | { type: 'period-charts'; report: PeriodReport };

export interface PeriodMonthResult {
  key: number;
  summary: MonthSummary;
  /** The encoded entry (period-entry.ts): one block of bytes to copy, not a graph of objects. */
  raw: Uint8Array;
}

export type FromHelper =
  | { type: 'past'; ok: true; summaries: { key: number; s: MonthSummary; cached: boolean }[]; pending: CacheEntry[] }
  | { type: 'past'; ok: false; message: string }
  | { type: 'period'; ok: true; months: PeriodMonthResult[]; pending: CacheEntry[] }
  | { type: 'period'; ok: false; message: string }
  | { type: 'charts'; ok: true; charts: Charts }
  | { type: 'charts'; ok: false; message: string };

if (!parentPort) throw new Error('helper-thread.js runs only as a worker thread');
const port = parentPort;
const { file, charts } = workerData as HelperData;

async function past(job: Extract<ToHelper, { type: 'past' }>): Promise<FromHelper> {
  const db = openSqliteRunner(file);
  // Both threads' SQLite memory counts toward the report's peak RSS: this one has half the page
  // cache (past months need only the short grouping).
  await db.exec('PRAGMA cache_size = -8192');
  const pending: CacheEntry[] = [];
  const summaries: { key: number; s: MonthSummary; cached: boolean }[] = [];
  try {
    await db.exec('BEGIN');
    for (const m of job.months) {
      const r = await pastSummary(db, { month: m, project: job.project }, job.features, pending);
      summaries.push({ key: m.key, ...r });
    }
    await db.exec('COMMIT');
    return { type: 'past', ok: true, summaries, pending };
  } finally {
    // Closed before vega is loaded: its page cache and temp tables are not needed any more.
    await db.close();
  }
}

async function period(job: Extract<ToHelper, { type: 'period' }>): Promise<FromHelper> {
  const db = openSqliteRunner(file);
  await usePeriodCaches(db);
  const pending: CacheEntry[] = [];
  const months: PeriodMonthResult[] = [];
  try {
    await db.exec('BEGIN');
    for (const m of job.months) {
      const { summary, raw } = await periodMonthData(db, m, job.project, job.features, pending);
      months.push({ key: m.key, summary, raw });
    }
    await db.exec('COMMIT');
    return { type: 'period', ok: true, months, pending };
  } finally {
    await db.close();
  }
}

let vega: Promise<unknown> | undefined;
const warm = () => (vega ??= Promise.all([import('vega-lite'), import('vega')]));

async function handle(m: ToHelper): Promise<FromHelper | null> {
  if (m.type === 'none') {
    if (charts) await warm();
    return null;
  }
  if (m.type === 'past' || m.type === 'period') {
    try {
      return m.type === 'past' ? await past(m) : await period(m);
    } catch (e) {
      return { type: m.type, ok: false, message: e instanceof Error ? e.message : String(e) };
    } finally {
      if (charts) void warm();
    }
  }
  try {
    await warm();
    const { renderCharts, renderPeriodCharts } = await import('./charts.js');
    const c = m.type === 'charts' ? await renderCharts(m.report) : await renderPeriodCharts(m.report);
    return { type: 'charts', ok: true, charts: c };
  } catch (e) {
    return { type: 'charts', ok: false, message: e instanceof Error ? e.message : String(e) };
  }
}

let queue: Promise<unknown> = Promise.resolve();
port.on('message', (m: ToHelper) => {
  queue = queue
    .then(() => handle(m))
    .then((reply) => {
      if (reply) port.postMessage(reply);
    });
});
