import { poisoningTable } from './poisoning.js';
import { renderCharts, type Charts } from './charts.js';
import { escapeHtml } from './escape.js';
import { methodology } from './methodology.js';
import type { Report } from './report-types.js';
import {
  breakdownTables,
  exitCodeTable,
  histogramTable,
  qualityTable,
  summaryTable,
  title,
  trendTable,
  uncertaintyTable,
  type Table,
} from './sections.js';

/**
 * One self-contained html file: inline CSS, inline SVG charts, no script, no external URL, so it
 * opens offline and prints cleanly. A Content-Security-Policy forbids loading anything even if a
 * string slipped through. Every text node and attribute value goes through escapeHtml.
 */
export const CSS = `
:root { color-scheme: light; }
body { font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111827; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .25rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #e5e7eb; padding-bottom: .2rem; }
h3 { font-size: 1rem; margin-top: 1.2rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; min-width: 24rem; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #e5e7eb; text-align: left; vertical-align: top; }
th { background: #f9fafb; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td { overflow-wrap: anywhere; }
.wide { overflow-x: auto; max-width: 100%; }
.wide td:first-child, .wide th:first-child { white-space: nowrap; }
.lead { font-size: 1.05rem; background: #f0f9ff; border-left: 4px solid #0284c7; padding: .6rem 1rem; }
.notes { background: #fffbeb; border-left: 4px solid #f59e0b; padding: .5rem 1rem; margin: 1rem 0; }
.notes p { margin: .3rem 0; }
.intro { color: #4b5563; }
figure { margin: 1rem 0; }
figure svg { max-width: 100%; height: auto; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(24rem, 1fr)); gap: 0 2rem; }
footer { margin-top: 3rem; color: #6b7280; font-size: .85rem; }
@media print {
  body { margin: 0; max-width: none; font-size: 11pt; }
  h2 { break-after: avoid; }
  table, figure { break-inside: avoid; }
  .notes { border-left-color: #000; background: none; }
}`;

export function table(t: Table, level = 'h2', none = 'None this month.'): string {
  const heading = escapeHtml(t.title + (t.subject ?? ''));
  const out = [`<section id="${escapeHtml(t.id)}">`, `<${level}>${heading}</${level}>`];
  if (t.intro) out.push(`<p class="intro">${escapeHtml(t.intro)}</p>`);
  if (t.rows.length === 0) {
    out.push(`<p><em>${escapeHtml(t.empty ?? none)}</em></p></section>`);
    return out.join('\n');
  }
  const cls = (i: number) => (t.numeric[i] ? ' class="n"' : '');
  out.push('<table>', `<thead><tr>${t.head.map((h, i) => `<th${cls(i)}>${escapeHtml(h)}</th>`).join('')}</tr></thead>`, '<tbody>');
  for (const row of t.rows) out.push(`<tr>${row.map((c, i) => `<td${cls(i)}>${escapeHtml(c)}</td>`).join('')}</tr>`);
  out.push('</tbody>', '</table>', '</section>');
  return out.join('\n');
}

export function figure(svg: string | null, caption: string): string {
  return svg === null ? '' : `<figure>${svg}<figcaption class="intro">${escapeHtml(caption)}</figcaption></figure>`;
}

/** `charts`: where the charts are rendered (the report helper thread); by default, here. */
export async function renderHtml(r: Report, charts?: { charts(r: Report): Promise<Charts> }): Promise<string> {
  const svg = r.empty ? { trend: null, histogram: null, exitCodes: null } : await (charts ? charts.charts(r) : renderCharts(r));
  const t = title(r);
  const heading = escapeHtml(`${t.before}${t.subject}${t.after}`);
  const body: string[] = [`<h1>${heading}</h1>`, `<p class="lead">${escapeHtml(r.summary_text)}</p>`];
  if (r.notes.length) body.push(`<div class="notes">${r.notes.map((n) => `<p>${escapeHtml(n)}</p>`).join('')}</div>`);
  body.push(table(summaryTable(r)));
  body.push(table(trendTable(r)), figure(svg.trend, 'Unique users, runs started and compute hours per month.'));
  if (!r.empty) {
    body.push(table(exitCodeTable(r)), figure(svg.exitCodes, 'Completed runs per exit code.'));
    body.push(table(histogramTable(r)), figure(svg.histogram, 'Completed runs by run length.'));
    body.push('<div class="grid">', ...breakdownTables(r).map((t) => table(t)), '</div>');
  }
  body.push(table(qualityTable(r)), table(uncertaintyTable(r), 'h3'));
  if (r.quality.poisoning) body.push(table(poisoningTable(r.quality.poisoning), 'h3'));
  return htmlDocument(heading, body, r.suppression.min_users, 'monthly');
}

/**
 * The page around a report's body, shared by the monthly and the period report: the methodology
 * section, the footer naming the command, and the self-contained document (inline CSS, a
 * Content-Security-Policy that allows nothing from outside).
 */
export function htmlDocument(heading: string, body: string[], minUsers: number, command: 'monthly' | 'period'): string {
  const parts = [...body, '<section id="methodology"><h2>Methodology and privacy</h2>'];
  for (const s of methodology(minUsers)) {
    parts.push(`<h3>${escapeHtml(s.title)}</h3>`, ...s.paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`));
  }
  parts.push(
    '</section>',
    `<footer>Made by usage-beacon (reports ${command}) from the collector's store. The JSON format of this report holds the same numbers.</footer>`,
  );
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${heading}</title>
<style>${CSS}</style>
</head>
<body>
${parts.filter(Boolean).join('\n')}
</body>
</html>
`;
}
