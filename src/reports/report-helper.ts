import { Worker } from 'node:worker_threads';
import { renderCharts, renderPeriodCharts, type Charts } from './charts.js';
import type { FromHelper, HelperData, PeriodMonthResult, ToHelper } from './helper-thread.js';
import type { Month } from './month.js';
import type { PeriodReport } from './period-types.js';
import type { CacheEntry, CacheFeatures } from './queries/summary-cache.js';
import type { MonthSummary } from './queries/summary.js';
import type { Report } from './report-types.js';

export interface PastMonths {
  summaries: Map<number, { s: MonthSummary; cached: boolean }>;
  pending: CacheEntry[];
}

/**
 * A second thread for `reports monthly` on a SQLite store, so a month's first report uses both
 * cores: it computes the past months (the previous month and uncached trend months) while the
 * main thread computes the reported month, then loads vega and renders the html charts. Every
 * job falls back to the calling thread if the worker cannot start or fails, so the output never
 * depends on it. The past months are read in the worker's own read transaction, started a few
 * milliseconds after the main one: each summary is exact for its snapshot and cached with that
 * snapshot's change count.
 */
export interface ReportHelper {
  /** Past months' summaries, or null (then compute them on the calling thread). Call once. */
  pastSummaries(months: Month[], project: string | null, features: CacheFeatures): Promise<PastMonths | null>;
  /** `reports period`: months' summaries and period entries, or null (then compute them on the calling thread). */
  periodMonths(
    months: Month[],
    project: string | null,
    features: CacheFeatures,
  ): Promise<{ months: PeriodMonthResult[]; pending: CacheEntry[] } | null>;
  /** Tell the helper there are no past months to compute (it may start loading vega). */
  noPastMonths(): void;
  charts(report: Report): Promise<Charts>;
  periodCharts(report: PeriodReport): Promise<Charts>;
  close(): void;
}

export function startReportHelper(file: string, wantCharts: boolean): ReportHelper {
  let worker: Worker | null = null;
  let gone = false;
  try {
    worker = new Worker(new URL('./helper-thread.js', import.meta.url), { workerData: { file, charts: wantCharts } satisfies HelperData });
    worker.unref();
    worker.on('error', () => (gone = true));
    worker.on('exit', () => (gone = true));
  } catch {
    worker = null;
  }

  /** Sends a job and waits for the reply of its type; null if the worker is gone or fails. */
  function ask<T extends FromHelper['type']>(job: ToHelper, type: T): Promise<Extract<FromHelper, { type: T }> | null> {
    const w = worker;
    if (w === null || gone) return Promise.resolve(null);
    return new Promise((resolve) => {
      const onMessage = (m: FromHelper) => {
        if (m.type !== type) return;
        cleanup();
        resolve(m as Extract<FromHelper, { type: T }>);
      };
      const onGone = () => {
        cleanup();
        resolve(null);
      };
      const cleanup = () => {
        w.off('message', onMessage);
        w.off('error', onGone);
        w.off('exit', onGone);
      };
      w.on('message', onMessage);
      w.once('error', onGone);
      w.once('exit', onGone);
      w.postMessage(job);
    });
  }

  return {
    async pastSummaries(months, project, features) {
      const r = await ask({ type: 'past', months, project, features }, 'past');
      if (!r || !r.ok) return null;
      return { summaries: new Map(r.summaries.map((x) => [x.key, { s: x.s, cached: x.cached }])), pending: r.pending };
    },
    async periodMonths(months, project, features) {
      const r = await ask({ type: 'period', months, project, features }, 'period');
      return r && r.ok ? { months: r.months, pending: r.pending } : null;
    },
    noPastMonths() {
      if (worker && !gone) worker.postMessage({ type: 'none' } satisfies ToHelper);
    },
    async charts(report) {
      const r = await ask({ type: 'charts', report }, 'charts');
      return r && r.ok ? r.charts : renderCharts(report);
    },
    async periodCharts(report) {
      const r = await ask({ type: 'period-charts', report }, 'charts');
      return r && r.ok ? r.charts : renderPeriodCharts(report);
    },
    close() {
      void worker?.terminate();
      worker = null;
    },
  };
}
