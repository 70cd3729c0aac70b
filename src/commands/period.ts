import { BeaconError } from '../errors.js';
import { openQueryRunner } from '../store/open-store.js';
import { checkFormat, writeOutput, writeStdout } from './monthly.js';
import { addMonths, parseMonth, type Month } from '../reports/month.js';
import { buildPeriodReport } from '../reports/period-build.js';
import { collectPeriod, MAX_PERIOD_MONTHS, periodMonths } from '../reports/period-collect.js';
import { periodCsvSections, renderPeriodCsvStream, renderPeriodHtml, renderPeriodMarkdown } from '../reports/period-render.js';
import type { PeriodReport } from '../reports/period-types.js';
import { createProgress } from '../reports/progress.js';
import { startReportHelper, type ReportHelper } from '../reports/report-helper.js';

/**
 * `reports period` / `beacon reports period`: a report over a span of months (a grant year), from
 * --from/--to or --year [--year-start]. Throws BeaconError for anything the user can fix.
 */
export interface PeriodCommandOptions {
  from?: string;
  to?: string;
  year?: string;
  yearStart?: string;
  db: string;
  store?: string;
  project?: string;
  format: string;
  out?: string;
  minUsers: number;
  raw?: boolean;
  now?: () => number;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
}

function bad(message: string): never {
  throw new BeaconError('BEACON_ERR_BAD_PERIOD', message);
}

function month(flag: string, text: string): Month {
  try {
    return parseMonth(text);
  } catch {
    return bad(`${flag} must be YYYY-MM (e.g. 2025-09), got ${JSON.stringify(text.slice(0, 40))}`);
  }
}

/** The period's first and last month from the options; every mistake is one clear line. */
export function resolvePeriod(o: Pick<PeriodCommandOptions, 'from' | 'to' | 'year' | 'yearStart'>): { from: Month; to: Month } {
  if (o.year !== undefined) {
    if (o.from !== undefined || o.to !== undefined) bad('give either --year or --from/--to, not both');
    const y = String(o.year);
    if (!/^\d{4}$/.test(y) || Number(y) < 2000) bad(`--year must be a year like 2025, got ${JSON.stringify(y.slice(0, 40))}`);
    const start = o.yearStart === undefined ? '01' : String(o.yearStart);
    if (!/^(0?[1-9]|1[0-2])$/.test(start)) bad(`--year-start must be a month number 1-12, got ${JSON.stringify(start.slice(0, 40))}`);
    const from = parseMonth(`${y}-${start.padStart(2, '0')}`);
    return { from, to: addMonths(from, 11) };
  }
  if (o.yearStart !== undefined) bad('--year-start goes with --year');
  if (o.from === undefined || o.to === undefined) bad('give --from YYYY-MM and --to YYYY-MM, or --year YYYY');
  const from = month('--from', String(o.from));
  const to = month('--to', String(o.to));
  if (to.key < from.key) bad(`--to (${to.label}) is before --from (${from.label})`);
  const n = periodMonths(from, to).length;
  if (n > MAX_PERIOD_MONTHS) bad(`a period is at most ${MAX_PERIOD_MONTHS} months; ${from.label} to ${to.label} is ${n}`);
  return { from, to };
}

/**
 * Reads the store and builds the report object (shared with `reports site`). `withHelper`: on
 * SQLite, a second thread for the months not cached and for loading vega (an html report);
 * the caller closes it after rendering.
 */
export async function buildPeriod(
  opts: PeriodCommandOptions,
  from: Month,
  to: Month,
  nowMs: number,
  withHelper?: { charts: boolean },
): Promise<{ report: PeriodReport; helper?: ReportHelper }> {
  const project = opts.project === undefined ? null : String(opts.project);
  const progress = createProgress(opts.stderr ?? process.stderr);
  const db = await openQueryRunner(opts);
  const helper = withHelper && db.file !== undefined ? startReportHelper(db.file, withHelper.charts) : undefined;
  try {
    const k = opts.minUsers;
    const data = await collectPeriod(db, { from, to, project, minBacking: opts.raw ? 0 : k, progress, helper });
    return { report: buildPeriodReport(data, { from, to, project, suppression: { k, raw: Boolean(opts.raw) }, nowMs }), helper };
  } catch (e) {
    helper?.close();
    throw e;
  } finally {
    progress.finish();
    await db.close();
  }
}

export async function renderPeriod(
  report: PeriodReport,
  format: string,
  toDir: boolean,
  helper?: ReportHelper,
): Promise<string | Map<string, string>> {
  if (format === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  if (format === 'md') return renderPeriodMarkdown(report);
  if (format === 'html') return renderPeriodHtml(report, helper);
  return toDir ? new Map(periodCsvSections(report)) : renderPeriodCsvStream(report);
}

export async function periodCommand(opts: PeriodCommandOptions): Promise<number> {
  const format = checkFormat(String(opts.format));
  if (opts.raw && format !== 'json')
    throw new BeaconError('BEACON_ERR_USAGE', '--raw (no small-count suppression) applies to --format json only');
  const { from, to } = resolvePeriod(opts);
  const now = opts.now ?? Date.now;
  const { report, helper } = await buildPeriod(opts, from, to, now(), { charts: format === 'html' });
  let text;
  try {
    text = await renderPeriod(report, format, Boolean(opts.out), helper);
  } finally {
    helper?.close();
  }
  if (opts.out) writeOutput(format, opts.out, text);
  else await writeStdout(opts.stdout ?? process.stdout, text as string);
  return 0;
}
