import { escapeMd } from './escape.js';
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

/** GitHub-flavoured Markdown. Every cell and title goes through escapeMd (some carry sender data). */
function table(t: Table, level = '##'): string {
  const lines = [`${level} ${escapeMd(t.title)}`, ''];
  if (t.intro) lines.push(escapeMd(t.intro), '');
  if (t.rows.length === 0) return [...lines, '_None this month\\._', ''].join('\n');
  lines.push(`| ${t.head.map(escapeMd).join(' | ')} |`);
  lines.push(`|${t.numeric.map((n) => (n ? ' ---: ' : ' --- ')).join('|')}|`);
  for (const row of t.rows) lines.push(`| ${row.map(escapeMd).join(' | ')} |`);
  lines.push('');
  return lines.join('\n');
}

export function renderMarkdown(r: Report): string {
  const out: string[] = [`# ${escapeMd(title(r))}`, ''];
  for (const n of r.notes) out.push(`> ${escapeMd(n)}`, '>');
  if (r.notes.length) out.pop();
  out.push('');
  out.push(table(summaryTable(r)));
  if (!r.empty) {
    out.push(table(trendTable(r)));
    out.push(table(exitCodeTable(r)));
    out.push(table(histogramTable(r)));
    for (const t of breakdownTables(r)) out.push(table(t));
  } else {
    out.push(table(trendTable(r)));
  }
  out.push(table(qualityTable(r)));
  out.push(table(uncertaintyTable(r), '###'));
  out.push('## Methodology and privacy', '');
  for (const s of methodology(r.suppression.min_users)) {
    out.push(`### ${escapeMd(s.title)}`, '');
    for (const p of s.paragraphs) out.push(escapeMd(p), '');
  }
  out.push('---', '', `_Made by usage\\-beacon \\(reports monthly\\) from the collector's store\\. The JSON format of this report holds the same numbers\\._`, '');
  return out.join('\n');
}
