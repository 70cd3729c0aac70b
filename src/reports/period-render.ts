import { renderPeriodCharts, type Charts } from './charts.js';
import { escapeHtml, escapeMd } from './escape.js';
import { methodology } from './methodology.js';
import { periodMonthsTable, periodSummaryTable, periodTitle } from './period-sections.js';
import type { PeriodReport } from './period-types.js';
import { figure, htmlDocument, table as htmlTable } from './render-html.js';
import { breakdownCsvRows, csv, qualityCsvRows, type CsvValue } from './render-csv.js';
import { table as mdTable } from './render-md.js';
import { breakdownTables, exitCodeTable, histogramTable, qualityTable, uncertaintyTable } from './sections.js';

/** md, html and csv renderings of the period report (json is the object itself). */
const NONE = 'None in this period.';
const SPAN = "the period's";

export function renderPeriodMarkdown(r: PeriodReport): string {
  const t = periodTitle(r);
  const out: string[] = [`# ${t.before}${escapeMd(t.subject)}${t.after}`, '', r.summary_text, ''];
  for (const n of r.notes) out.push(`> ${n}`, '>');
  if (r.notes.length) out.pop();
  out.push('');
  out.push(mdTable(periodSummaryTable(r), '##', NONE));
  out.push(mdTable(periodMonthsTable(r), '##', NONE));
  if (!r.empty) {
    out.push(mdTable(exitCodeTable(r), '##', NONE));
    out.push(mdTable(histogramTable(r), '##', NONE));
    for (const b of breakdownTables(r)) out.push(mdTable(b, '##', NONE));
  }
  out.push(mdTable(qualityTable(r, SPAN), '##', NONE));
  out.push(mdTable(uncertaintyTable(r), '###', NONE));
  out.push('## Methodology and privacy', '');
  for (const s of methodology(r.suppression.min_users)) {
    out.push(`### ${s.title}`, '');
    for (const p of s.paragraphs) out.push(p, '');
  }
  out.push(
    '---',
    '',
    "_Made by usage-beacon (reports period) from the collector's store. The JSON format of this report holds the same numbers._",
    '',
  );
  return out.join('\n');
}

/** `charts`: the report helper thread (report-helper.ts), which may have vega loaded already. */
export async function renderPeriodHtml(r: PeriodReport, charts?: { periodCharts(r: PeriodReport): Promise<Charts> }): Promise<string> {
  const svg = r.empty ? { trend: null, histogram: null, exitCodes: null } : await (charts ? charts.periodCharts(r) : renderPeriodCharts(r));
  const t = periodTitle(r);
  const heading = escapeHtml(`${t.before}${t.subject}${t.after}`);
  const body: string[] = [`<h1>${heading}</h1>`, `<p class="lead">${escapeHtml(r.summary_text)}</p>`];
  if (r.notes.length) body.push(`<div class="notes">${r.notes.map((n) => `<p>${escapeHtml(n)}</p>`).join('')}</div>`);
  body.push(htmlTable(periodSummaryTable(r), 'h2', NONE));
  body.push(`<div class="wide">${htmlTable(periodMonthsTable(r), 'h2', NONE)}</div>`);
  body.push(
    figure(
      svg.trend,
      'Per month: active, new and cumulative distinct users, runs started and compute hours (linear scales from 0; a partial month is a hollow point).',
    ),
  );
  if (!r.empty) {
    body.push(htmlTable(exitCodeTable(r), 'h2', NONE), figure(svg.exitCodes, 'Completed runs per exit code (linear scale).'));
    body.push(htmlTable(histogramTable(r), 'h2', NONE), figure(svg.histogram, 'Completed runs by run length.'));
    body.push('<div class="grid">', ...breakdownTables(r).map((b) => htmlTable(b, 'h2', NONE)), '</div>');
  }
  body.push(htmlTable(qualityTable(r, SPAN), 'h2', NONE), htmlTable(uncertaintyTable(r), 'h3', NONE));
  return htmlDocument(heading, body, r.suppression.min_users, 'period');
}

type Value = CsvValue;

export function periodCsvSections(r: PeriodReport): [string, string][] {
  const period = `${r.from}..${r.to}`;
  const scope = r.project ?? '';
  const keys = [
    'unique_users',
    'unique_hosts',
    'unique_scripts',
    'new_users',
    'runs',
    'runs_started',
    'runs_completed',
    'success_rate',
    'compute_hours',
  ] as const;
  const summary: Value[][] = keys.map((k) => [k, r[k], k.startsWith('unique_') ? r.distinct.method : 'exact']);
  for (const k of ['median', 'mean', 'p90'] as const) summary.push([`duration_s.${k}`, r.duration_s[k], 'exact']);
  const breakdowns = breakdownCsvRows(r.breakdowns, r.components);
  const quality = qualityCsvRows(r.quality);
  return [
    [
      'summary',
      csv(
        ['period', 'project', 'metric', 'value', 'method'],
        summary.map((row) => [period, scope, ...row]),
      ),
    ],
    [
      'months',
      csv(
        [
          'month',
          'partial',
          'source',
          'unique_users',
          'new_users',
          'cumulative_users',
          'runs_started',
          'runs_completed',
          'success_rate',
          'compute_hours',
        ],
        r.monthly.map((m) => [
          m.month,
          m.partial,
          m.source,
          m.unique_users,
          m.new_users,
          m.cumulative_users,
          m.runs_started,
          m.runs_completed,
          m.success_rate,
          m.compute_hours,
        ]),
      ),
    ],
    [
      'exit_codes',
      csv(
        ['period', 'code', 'runs', 'share', 'users'],
        r.exit_codes.map((e) => [period, String(e.code), e.runs, e.share, e.users]),
      ),
    ],
    [
      'run_length',
      csv(
        ['period', 'from_s', 'to_s', 'runs'],
        r.run_length_histogram.map((h) => [period, h.from_s, h.to_s, h.runs]),
      ),
    ],
    [
      'breakdowns',
      csv(
        ['period', 'dimension', 'value', 'runs', 'share', 'users'],
        breakdowns.map((row) => [period, ...row]),
      ),
    ],
    [
      'quality',
      csv(
        ['period', 'measure', 'value'],
        quality.map((row) => [period, ...row]),
      ),
    ],
    [
      'notes',
      csv(
        ['period', 'kind', 'text'],
        [['summary', r.summary_text], ...r.notes.map((n) => ['note', n])].map((row) => [period, ...row]),
      ),
    ],
  ];
}

export function renderPeriodCsvStream(r: PeriodReport): string {
  return periodCsvSections(r)
    .map(([name, body]) => `# ${name}\r\n${body}`)
    .join('\r\n');
}
