import { MAX_LABEL_LENGTH } from '../protocol/limits.js';

/**
 * Every string in a report that came from a datagram (project, version, runtime, platform,
 * component keys and values) is hostile until proven otherwise: senders are anonymous. It is
 * first cleaned once, for every format (cleanLabel), then escaped for the one format it is
 * written in (html, md, csv).
 */

// C0/C1 controls, and the Unicode format characters that can reorder or hide text (bidi
// overrides and isolates, zero-width joiners, BOM, line/paragraph separators).
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/g;

/** Replace unsafe characters with U+FFFD and cap the length (counted in code points). */
export function cleanLabel(s: string, max = MAX_LABEL_LENGTH): string {
  const cleaned = s.replace(UNSAFE, '\ufffd');
  const chars = Array.from(cleaned);
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : cleaned;
}

const HTML: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Safe in HTML text and in quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"'`]/g, (c) => HTML[c]!);
}

/**
 * Safe inside a GitHub-flavoured Markdown table cell or paragraph. CommonMark lets any ASCII
 * punctuation be backslash-escaped, so all of it is (except `/ , '`, which mean nothing): no
 * link, image, emphasis, raw HTML (`\<`), autolink (`www\.`, `http\:`, `a\@b`) or cell break
 * (`\|`) can form. Whitespace runs (including newlines) collapse to one space.
 */
export function escapeMd(s: string): string {
  return s.replace(/[!-&(-+\-.:-@[-`{-~]/g, (c) => `\\${c}`).replace(/\s+/g, ' ');
}

/**
 * One CSV field (RFC 4180). A field a spreadsheet would evaluate as a formula (= + - @ tab CR at
 * the start) gets a leading apostrophe, the OWASP recommendation, so it is shown as text.
 */
export function escapeCsv(s: string): string {
  const defused = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\r\n]/.test(defused) || defused !== defused.trim() ? `"${defused.replace(/"/g, '""')}"` : defused;
}
