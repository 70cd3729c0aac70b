import fs from 'node:fs';
import path from 'node:path';
import { BeaconError } from '../errors.js';
import { buildReport } from '../reports/build-report.js';
import { renderPeriodCharts } from '../reports/charts.js';
import { collectMonth } from '../reports/collect.js';
import { openQueryRunner } from '../store/open-store.js';
import { writeFileAtomic } from './monthly.js';
import { escapeHtml } from '../reports/escape.js';
import { cellText, hoursText, monthText } from '../reports/format.js';
import { addMonths, defaultMonth, monthFromKey, type Month } from '../reports/month.js';
import { buildPeriodReport } from '../reports/period-build.js';
import { collectPeriod } from '../reports/period-collect.js';
import { renderPeriodHtml } from '../reports/period-render.js';
import type { PeriodReport } from '../reports/period-types.js';
import type { QueryRunner } from '../store/query-runner.js';
import { count } from '../store/query-runner.js';
import { prunedMonths } from '../reports/queries/rollups.js';
import { CSS } from '../reports/render-html.js';
import { renderHtml } from '../reports/render-html.js';
import type { Report } from '../reports/report-types.js';
import { makeOutputDir } from '../reports/output-dir.js';

/**
 * `reports site --out DIR`: a static site a maintainer can host anywhere (GitHub Pages, a
 * university web server). Every page is a self-contained html report (inline CSS and SVG, no
 * script, no external URL); beside each, the JSON of the same suppressed numbers.
 *
 *   index.html, index.json          the latest period and month, links to everything
 *   months/YYYY-MM.html|.json       every complete month since the first with runs
 *   periods/FROM_TO.html|.json      the last 12 months, and each year (--year-start) to date
 *
 * Nothing in the output depends on when it was made beyond which months are complete, so a
 * re-run rewrites only files whose content changed (compared byte for byte before writing).
 */
export interface SiteOptions {
  out: string;
  db: string;
  store?: string;
  project?: string;
  minUsers: number;
  yearStart?: string;
  now?: () => number;
  stdout?: NodeJS.WritableStream;
}

export interface SiteResult {
  written: string[];
  unchanged: number;
}

interface PeriodSpec {
  from: Month;
  to: Month;
  name: string;
  label: string;
}

async function monthsWithData(db: QueryRunner, project: string | null): Promise<number[]> {
  const rows = await db.all(
    project === null
      ? 'SELECT DISTINCT month FROM run_facts ORDER BY month'
      : 'SELECT DISTINCT month FROM run_facts WHERE project = ? ORDER BY month',
    project === null ? [] : [project],
  );
  const keys = new Set(rows.map((r) => count(r.month)));
  for (const m of (await prunedMonths(db)).keys()) keys.add(m);
  return [...keys].sort((a, b) => a - b);
}

function periodsFor(first: Month, latest: Month, yearStart: number): PeriodSpec[] {
  const out: PeriodSpec[] = [];
  const last12 = addMonths(latest, -11);
  out.push({
    from: last12,
    to: latest,
    name: `${last12.label}_${latest.label}`,
    label: `Last 12 months (${last12.label} to ${latest.label})`,
  });
  // Years starting in `yearStart` (grant years), the current one up to the latest complete month.
  let y = Math.floor(first.key / 100) - (first.key % 100 < yearStart ? 1 : 0);
  for (;;) {
    const from = monthFromKey(y * 100 + yearStart);
    if (from.key > latest.key) break;
    const end = addMonths(from, 11);
    const to = end.key <= latest.key ? end : latest;
    const label = yearStart === 1 ? `${y}` : `${from.label} to ${end.label}`;
    out.push({ from, to, name: `${from.label}_${to.label}`, label: to.key < end.key ? `${label} (to ${to.label})` : label });
    y++;
  }
  return out;
}

/** Writes `text` only when the file does not already hold exactly it. */
function put(out: string, rel: string, text: string, result: SiteResult): void {
  const file = path.join(out, rel);
  try {
    if (fs.readFileSync(file, 'utf8') === text) {
      result.unchanged++;
      return;
    }
  } catch {
    // Missing or unreadable: write it.
  }
  makeOutputDir(path.dirname(file), 'the directory');
  writeFileAtomic(file, text);
  result.written.push(rel);
}

const json = (x: unknown) => `${JSON.stringify(x, null, 2)}\n`;

function indexHtml(
  k: number,
  title: string,
  period: PeriodReport | null,
  periodSvg: string | null,
  month: Report | null,
  months: Report[],
  periods: { spec: PeriodSpec; r: PeriodReport }[],
): string {
  const e = escapeHtml;
  const body: string[] = [`<h1>${e(title)}</h1>`];
  if (!period || !month) {
    body.push('<p>No complete month with runs yet.</p>');
  } else {
    body.push(
      `<section id="period"><h2>${e(`Latest period: ${period.from} to ${period.to}`)}</h2>`,
      `<p class="lead">${e(period.summary_text)}</p>`,
    );
    if (periodSvg) body.push(`<figure>${periodSvg}<figcaption class="intro">Per month, linear scales from 0.</figcaption></figure>`);
    body.push(
      `<p><a href="periods/${e(period.from)}_${e(period.to)}.html">Full report</a> · <a href="periods/${e(period.from)}_${e(period.to)}.json">JSON</a></p></section>`,
    );
    body.push(`<section id="month"><h2>${e(`Latest month: ${month.month}`)}</h2>`, `<p class="lead">${e(month.summary_text)}</p>`);
    body.push(
      `<p><a href="months/${e(month.month)}.html">Full report</a> · <a href="months/${e(month.month)}.json">JSON</a></p></section>`,
    );
  }
  body.push(
    '<section id="periods"><h2>Periods</h2><div class="wide"><table><thead><tr><th>Period</th><th class="n">Distinct users</th><th class="n">Runs started</th><th class="n">Compute hours</th><th>Report</th></tr></thead><tbody>',
  );
  for (const { spec, r } of periods) {
    const est = r.distinct.method === 'estimate' && typeof r.unique_users === 'number' ? '≈ ' : '';
    body.push(
      `<tr><td>${e(spec.label)}</td><td class="n">${e(est + cellText(r.unique_users))}</td><td class="n">${e(cellText(r.runs_started))}</td><td class="n">${e(hoursText(r.compute_hours))}</td><td><a href="periods/${e(spec.name)}.html">html</a> · <a href="periods/${e(spec.name)}.json">json</a></td></tr>`,
    );
  }
  body.push('</tbody></table></div></section>');
  body.push(
    '<section id="months"><h2>Months</h2><div class="wide"><table><thead><tr><th>Month</th><th class="n">Users</th><th class="n">New users</th><th class="n">Runs started</th><th class="n">Compute hours</th><th>Report</th></tr></thead><tbody>',
  );
  for (const r of [...months].reverse()) {
    body.push(
      `<tr><td>${e(monthText(r.month, r.incomplete_month))}</td><td class="n">${e(cellText(r.unique_users))}</td><td class="n">${e(cellText(r.new_users))}</td><td class="n">${e(cellText(r.runs_started))}</td><td class="n">${e(hoursText(r.compute_hours))}</td><td><a href="months/${e(r.month)}.html">html</a> · <a href="months/${e(r.month)}.json">json</a></td></tr>`,
    );
  }
  body.push('</tbody></table></div></section>');
  body.push(
    `<footer>Made by usage-beacon (reports site). Cells backed by fewer than ${k} distinct users are shown as "&lt; ${k}"; the JSON files hold the same suppressed numbers. index.json lists every file.</footer>`,
  );
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(title)}</title>
<style>${CSS}</style>
</head>
<body>
${body.join('\n')}
</body>
</html>
`;
}

export async function buildSite(opts: SiteOptions): Promise<SiteResult> {
  const now = (opts.now ?? Date.now)();
  const project = opts.project === undefined ? null : String(opts.project);
  const ys = opts.yearStart === undefined ? '01' : String(opts.yearStart);
  if (!/^(0?[1-9]|1[0-2])$/.test(ys))
    throw new BeaconError('BEACON_ERR_BAD_PERIOD', `--year-start must be a month number 1-12, got ${JSON.stringify(ys.slice(0, 40))}`);
  const yearStart = Number(ys);
  const k = opts.minUsers;
  const sup = { k, raw: false };
  const out = opts.out;
  makeOutputDir(out, 'the site directory');
  const db = await openQueryRunner(opts);
  const result: SiteResult = { written: [], unchanged: 0 };
  try {
    const latest = defaultMonth(now);
    const keys = (await monthsWithData(db, project)).filter((m) => m <= latest.key);
    const months: Report[] = [];
    const periods: { spec: PeriodSpec; r: PeriodReport }[] = [];
    if (keys.length) {
      const first = monthFromKey(keys[0]!);
      for (let m = first; m.key <= latest.key; m = addMonths(m, 1)) {
        const data = await collectMonth(db, { month: m, project, minBacking: k });
        const r = buildReport(data, { month: m, project, suppression: sup, nowMs: now });
        months.push(r);
        put(out, `months/${m.label}.json`, json(r), result);
        put(out, `months/${m.label}.html`, await renderHtml(r), result);
      }
      for (const spec of periodsFor(first, latest, yearStart)) {
        const data = await collectPeriod(db, { from: spec.from, to: spec.to, project, minBacking: k });
        const r = buildPeriodReport(data, { from: spec.from, to: spec.to, project, suppression: sup, nowMs: now });
        periods.push({ spec, r });
        put(out, `periods/${spec.name}.json`, json(r), result);
        put(out, `periods/${spec.name}.html`, await renderPeriodHtml(r), result);
      }
    }
    const period = periods[0]?.r ?? null;
    const month = months.at(-1) ?? null;
    const svg = period && !period.empty ? (await renderPeriodCharts(period)).trend : null;
    const title = project === null ? 'Usage of all projects' : `Usage of ${project}`;
    put(out, 'index.html', indexHtml(k, title, period, svg, month, months, periods), result);
    put(
      out,
      'index.json',
      json({
        site: 'usage-beacon reports site',
        site_version: 1,
        project,
        min_users: k,
        latest_month: month ? { month: month.month, html: `months/${month.month}.html`, json: `months/${month.month}.json` } : null,
        latest_period: period
          ? {
              from: period.from,
              to: period.to,
              html: `periods/${periods[0]!.spec.name}.html`,
              json: `periods/${periods[0]!.spec.name}.json`,
            }
          : null,
        months: months.map((r) => ({
          month: r.month,
          unique_users: r.unique_users,
          runs_started: r.runs_started,
          compute_hours: r.compute_hours,
          html: `months/${r.month}.html`,
          json: `months/${r.month}.json`,
        })),
        periods: periods.map(({ spec, r }) => ({
          label: spec.label,
          from: r.from,
          to: r.to,
          unique_users: r.unique_users,
          distinct_method: r.distinct.method,
          runs_started: r.runs_started,
          compute_hours: r.compute_hours,
          html: `periods/${spec.name}.html`,
          json: `periods/${spec.name}.json`,
        })),
      }),
      result,
    );
  } finally {
    await db.close();
  }
  return result;
}

export async function siteCommand(opts: SiteOptions): Promise<number> {
  const r = await buildSite(opts);
  const stdout = opts.stdout ?? process.stdout;
  stdout.write(`reports site: ${r.written.length} file(s) written, ${r.unchanged} unchanged, in ${opts.out}\n`);
  return 0;
}
