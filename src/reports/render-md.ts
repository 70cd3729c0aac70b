import { poisoningTable } from './poisoning.js';
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

/**
 * GitHub-flavoured Markdown. Strings that came from datagrams (breakdown values, component keys,
 * the project name) go through escapeMd; the rest is text this module writes itself, made of
 * words, numbers and punctuation that carries no Markdown meaning, left readable.
 */
export function table(t: Table, level = '##', none = 'None this month.'): string {
  const lines = [`${level} ${t.title}${t.subject === undefined ? '' : escapeMd(t.subject)}`, ''];
  // Intros and methodology are fixed prose written for Markdown; only data-bearing text is escaped.
  if (t.intro) lines.push(t.intro, '');
  if (t.rows.length === 0) return [...lines, `_${t.empty ?? none}_`, ''].join('\n');
  lines.push(`| ${t.head.join(' | ')} |`);
  lines.push(`|${t.numeric.map((n) => (n ? ' ---: ' : ' --- ')).join('|')}|`);
  for (const row of t.rows) lines.push(`| ${row.map((c, i) => (t.data?.[i] ? escapeMd(c) : c)).join(' | ')} |`);
  lines.push('');
  return lines.join('\n');
}

export function renderMarkdown(r: Report): string {
  const t = title(r);
  const out: string[] = [`# ${t.before}${escapeMd(t.subject)}${t.after}`, ''];
  // Notes are fixed sentences with numbers (build-report.ts never puts sender strings in them).
  // The paragraph for a grant report comes first; it holds no sender strings (summary-text.ts).
  out.push(r.summary_text, '');
  for (const n of r.notes) out.push(`> ${n}`, '>');
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
  if (r.quality.poisoning) out.push(table(poisoningTable(r.quality.poisoning), '###'));
  out.push('## Methodology and privacy', '');
  for (const s of methodology(r.suppression.min_users)) {
    out.push(`### ${s.title}`, '');
    for (const p of s.paragraphs) out.push(p, '');
  }
  out.push(
    '---',
    '',
    "_Made by usage-beacon (reports monthly) from the collector's store. The JSON format of this report holds the same numbers._",
    '',
  );
  return out.join('\n');
}
