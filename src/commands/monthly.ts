import fs from 'node:fs';
import path from 'node:path';
import { BeaconError } from '../errors.js';
import { buildReport } from '../reports/build-report.js';
import { collectMonth } from '../reports/collect.js';
import { defaultMonth, parseMonth } from '../reports/month.js';
import { createProgress } from '../reports/progress.js';
import { renderCsvSections, renderCsvStream } from '../reports/render-csv.js';
import { renderHtml } from '../reports/render-html.js';
import { startReportHelper } from '../reports/report-helper.js';
import { renderMarkdown } from '../reports/render-md.js';
import { openQueryRunner } from '../store/open-store.js';
import { makeOutputDir } from '../reports/output-dir.js';

/**
 * `reports monthly` / `beacon reports monthly`: validate the options, read the store, build the
 * report object, render it, write it. Throws BeaconError for anything the user can fix.
 */
export const FORMATS = ['md', 'html', 'json', 'csv'] as const;
export type Format = (typeof FORMATS)[number];

export interface MonthlyOptions {
  month?: string;
  db: string;
  store?: string;
  project?: string;
  format: string;
  out?: string;
  minUsers: number;
  raw?: boolean;
  /** Injectable for tests: the clock deciding the default month, and the output streams. */
  now?: () => number;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
}

export function checkFormat(f: string): Format {
  if (!(FORMATS as readonly string[]).includes(f)) {
    throw new BeaconError('BEACON_ERR_BAD_FORMAT', `--format must be one of ${FORMATS.join(', ')}, got ${JSON.stringify(f.slice(0, 40))}`);
  }
  return f as Format;
}

/** Write atomically (temp file + rename), so a failed write never leaves half a report behind. */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    const why = e instanceof Error ? e.message : String(e);
    throw new BeaconError('BEACON_ERR_OUTPUT', `cannot write ${file}: ${why}`, { cause: e });
  }
}

export function writeOutput(format: Format, out: string, text: string | Map<string, string>): void {
  if (typeof text === 'string') return writeFileAtomic(out, text);
  makeOutputDir(out, 'the csv directory');
  for (const [name, csv] of text) writeFileAtomic(path.join(out, `${name}.csv`), csv);
}

export async function writeStdout(stream: NodeJS.WritableStream, text: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    stream.write(text, (err) =>
      err ? reject(new BeaconError('BEACON_ERR_OUTPUT', `cannot write the report: ${err.message}`)) : resolve(),
    );
  });
}

export async function monthlyCommand(opts: MonthlyOptions): Promise<number> {
  const format = checkFormat(String(opts.format));
  if (opts.raw && format !== 'json') {
    throw new BeaconError('BEACON_ERR_USAGE', '--raw (no small-count suppression) applies to --format json only');
  }
  const now = opts.now ?? Date.now;
  const month = opts.month === undefined ? defaultMonth(now()) : parseMonth(String(opts.month));
  const project = opts.project === undefined ? null : String(opts.project);
  const stderr = opts.stderr ?? process.stderr;
  const progress = createProgress(stderr);
  const db = await openQueryRunner(opts);
  // SQLite: a second thread for the past months, and for loading vega while the store is queried.
  const helper = db.file !== undefined ? startReportHelper(db.file, format === 'html') : undefined;
  let report;
  try {
    const k = opts.minUsers;
    const data = await collectMonth(db, { month, project, minBacking: opts.raw ? 0 : k, progress, helper });
    report = buildReport(data, { month, project, suppression: { k, raw: Boolean(opts.raw) }, nowMs: now() });
  } finally {
    progress.finish();
    await db.close();
  }
  let text: string | Map<string, string>;
  if (format === 'json') text = `${JSON.stringify(report, null, 2)}\n`;
  else if (format === 'md') text = renderMarkdown(report);
  else if (format === 'html') text = await renderHtml(report, helper);
  else text = opts.out ? renderCsvSections(report) : renderCsvStream(report);
  helper?.close();
  if (opts.out) writeOutput(format, opts.out, text);
  else await writeStdout(opts.stdout ?? process.stdout, text as string);
  return 0;
}
