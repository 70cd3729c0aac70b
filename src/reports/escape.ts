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
 * Safe inside a GitHub-flavoured Markdown table cell, heading or paragraph, yet readable in a
 * terminal: a character is escaped only where Markdown would give it meaning in that position
 * (CommonMark allows a backslash before any ASCII punctuation, so an escape is always valid).
 * - always: `\` (escapes), `` ` `` (code), `*` (emphasis, also inside words), `[` `]` (links and
 *   images: `!` and `(` mean nothing without them), `<` `>` (raw HTML, autolinks; `>` also so no
 *   tag-like text reads as one), `|` (cell break),
 *   `~` (strikethrough), `$` (GitHub math), `@` (e-mail autolinks);
 * - `_` only at a word edge (GFM never opens emphasis inside a word: `app_fails` stays as is);
 * - `&` only when it would start an entity (`&amp;`), `:` only in `://` and `.` only after a
 *   bare `www` (the extended autolinks);
 * - at the start: `#` `>` `+` `-` `=` (heading, quote, list, setext) and `1.`/`1)` (ordered list).
 * So `demo-sim`, `1.3.0` and `python/3.12` print unchanged. Whitespace runs (newlines too)
 * collapse to one space, so nothing can start a new line.
 */
const MD_ALWAYS = new Set(['\\', '`', '*', '[', ']', '<', '>', '|', '~', '$', '@']);
const WORD = /[\p{L}\p{N}]/u;

export function escapeMd(s: string): string {
  const t = s.replace(/\s+/g, ' ');
  let out = '';
  for (let i = 0; i < t.length; i++) {
    const c = t[i]!;
    const prev = t[i - 1] ?? '';
    const next = t[i + 1] ?? '';
    const escape =
      MD_ALWAYS.has(c) ||
      (c === '_' && (!WORD.test(prev) || !WORD.test(next))) ||
      (c === '&' && /^&(#\d+|#x[0-9a-f]+|[a-z][a-z0-9]*);/i.test(t.slice(i, i + 40))) ||
      (c === ':' && t.startsWith('//', i + 1)) ||
      (c === '.' && /(^|[^\p{L}\p{N}])www$/iu.test(t.slice(Math.max(0, i - 4), i))) ||
      (i === 0 && '#>+-='.includes(c));
    out += escape ? `\\${c}` : c;
  }
  return out.replace(/^(\d+)([.)])(?= |$)/, '$1\\$2');
}

/**
 * One CSV field (RFC 4180). A field a spreadsheet would evaluate as a formula (= + - @ tab CR at
 * the start) gets a leading apostrophe, the OWASP recommendation, so it is shown as text.
 */
export function escapeCsv(s: string): string {
  const defused = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\r\n]/.test(defused) || defused !== defused.trim() ? `"${defused.replace(/"/g, '""')}"` : defused;
}
