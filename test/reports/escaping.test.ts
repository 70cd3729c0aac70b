import fs from 'node:fs';
import path from 'node:path';
import MarkdownIt from 'markdown-it';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanLabel, escapeCsv, escapeHtml, escapeMd } from '../../src/reports/escape.js';
import { hexId, tempDir, TestStore, times } from './store-fixture.js';
import { runReport } from './run-report.js';

/** Hostile strings, as an anonymous sender could put them in a version, a project or a component. */
const HOSTILE = {
  script: '<script>alert(1)</script>',
  img: '"><img src=x onerror=alert(1)>',
  mdLink: '[click](https://evil.example/x)',
  pipe: 'a|b|c',
  formula: '=HYPERLINK("http://evil.example","x")',
  plus: '+cmd|calc',
  at: '@SUM(A1:A9)',
  minus: '-2+3',
  tab: '\tleading-tab',
  newline: 'line1\nline2\r\n| fake | row |',
  bidi: 'abc\u202edcba',
  long: 'x'.repeat(500),
};

describe('escape functions', () => {
  it('html: no tag, attribute or entity survives', () => {
    expect(escapeHtml(HOSTILE.script)).toBe('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(escapeHtml(HOSTILE.img)).not.toMatch(/[<>"]/);
  });
  it('md: no link, tag or cell break', () => {
    // Only what would form the link is escaped: the brackets and the autolink's "://".
    expect(escapeMd(HOSTILE.mdLink)).toBe('\\[click\\](https\\://evil.example/x)');
    expect(escapeMd(HOSTILE.pipe)).toBe('a\\|b\\|c');
    expect(escapeMd(HOSTILE.newline)).not.toMatch(/\n/);
    expect(escapeMd(HOSTILE.script)).not.toMatch(/(^|[^\\])</);
  });
  it('md: readable in a terminal, no escapes where Markdown means nothing', () => {
    for (const plain of ['demo-sim', '1.3.0', 'app_fails', 'python/3.12.1', 'linux/x64', 'a-b.c_d', 'exit (137)'])
      expect(escapeMd(plain)).toBe(plain);
    expect(escapeMd('__proto__')).toBe('\\_\\_proto\\_\\_');
    expect(escapeMd('1. item')).toBe('1\\. item');
    expect(escapeMd('- item')).toBe('\\- item');
    expect(escapeMd('AT&T &amp;')).toBe('AT&T \\&amp;');
  });
  it('md: hostile strings render as the same plain text (checked with a real CommonMark/GFM parser)', () => {
    const md = new MarkdownIt({ html: true, linkify: true });
    const hostile = [
      ...Object.values(HOSTILE),
      '*bold* _em_ **x**',
      '`code`',
      '![i](x.png)',
      '<https://evil.example>',
      'www.evil.example',
      'mail@evil.example',
      '&lt;b&gt;',
      '~~strike~~',
      '# heading',
      '> quote',
      '1) list',
      '+ list',
      'a\\*b',
      '$x^2$',
      '<b>bold</b>',
    ];
    for (const h of hostile) {
      const text = cleanLabel(h);
      // As a table cell: the row must keep its cells and render to exactly the text, nothing else.
      const html = md.render(`| v | n |\n| --- | --- |\n| ${escapeMd(text)} | 1 |\n`);
      expect(html, h).not.toMatch(/<(a|em|strong|code|img|del|h\d|blockquote|ol|ul|b|script)[\s>]/);
      const cell = /<tbody>\n<tr>\n<td>(.*)<\/td>\n<td>1<\/td>/.exec(html);
      expect(cell, h).not.toBeNull();
      const decoded = cell![1]!
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&quot;/g, '"')
        .replace(/&amp;/g, '&');
      expect(decoded, h).toBe(text.replace(/\s+/g, ' ').trim());
    }
  });
  it('csv: formula injection defused, quoting per RFC 4180', () => {
    expect(escapeCsv(HOSTILE.formula)).toBe('"\'=HYPERLINK(""http://evil.example"",""x"")"');
    for (const s of [HOSTILE.plus, HOSTILE.at, HOSTILE.minus, HOSTILE.tab]) expect(escapeCsv(s).replace(/^"/, '')).toMatch(/^'/);
    expect(escapeCsv('plain')).toBe('plain');
    expect(escapeCsv('a,b')).toBe('"a,b"');
  });
  it('cleanLabel caps length and removes control and bidi characters', () => {
    expect(Array.from(cleanLabel(HOSTILE.long))).toHaveLength(64);
    expect(cleanLabel(HOSTILE.bidi)).not.toContain('\u202e');
    expect(cleanLabel(HOSTILE.newline)).not.toMatch(/[\r\n]/);
  });
});

describe('hostile strings in a real store, every format', () => {
  let dir: string;
  let db: string;
  beforeAll(() => {
    dir = tempDir();
    db = path.join(dir, 'usage.db');
    const s = new TestStore(db);
    // Each hostile value backed by 5 users so it is shown, not folded into "other".
    for (const [i, value] of Object.values(HOSTILE).entries()) {
      for (let k = 0; k < 5; k++) {
        s.insert(
          times(1, {
            user_id: hexId(`u${i}-${k}`),
            month: 202610,
            version: value,
            runtime: value,
            components: JSON.stringify({ [`k${i}`]: value }),
          }),
        );
      }
    }
    s.close();
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('html has no live markup from data and loads nothing', async () => {
    const html = await runReport({ db, month: '2026-10', format: 'html' });
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img');
    expect(html).not.toMatch(/<[^>]*onerror=/i);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    // Self-contained: no URL is loaded (SVG namespace URIs are identifiers, not requests).
    const urls = html.match(/(?:src|href)\s*=\s*["']?[a-z]+:/gi) ?? [];
    expect(urls).toEqual([]);
    expect(html).not.toContain('\u202e');
    expect(html).not.toContain('x'.repeat(65));
  });

  it('md has no raw tags, links or extra table cells from data', async () => {
    const md = await runReport({ db, month: '2026-10', format: 'md' });
    expect(md).not.toContain('<script>');
    expect(md).not.toContain('[click](');
    for (const line of md.split('\n').filter((l) => l.startsWith('| '))) {
      const cells = line.replace(/\\\|/g, '').split('|').length;
      expect([4, 6]).toContain(cells); // 2- or 4-column tables, never more
    }
    expect(md).not.toContain('x'.repeat(65));
  });

  it('csv defuses formulas and keeps one record per line', async () => {
    const csv = await runReport({ db, month: '2026-10', format: 'csv' });
    const fields = csv.split(/\r\n/).flatMap((l) => l.split(','));
    expect(fields.some((f) => /^"?[=+@]/.test(f))).toBe(false);
    expect(csv).toContain("'=HYPERLINK");
    expect(csv).not.toMatch(/[^\r]\n/); // only CRLF record separators, embedded newlines cleaned
  });

  it('component keys like __proto__ stay plain data', async () => {
    const s = new TestStore(db);
    for (let k = 0; k < 5; k++) {
      s.insert([{ user_id: hexId(`proto${k}`), month: 202609, components: '{"__proto__":"polluted","constructor":"x"}' }]);
    }
    s.close();
    const text = await runReport({ db, month: '2026-09', format: 'json' });
    const r = JSON.parse(text);
    expect(Object.keys(r.components).sort()).toEqual(['__proto__', 'constructor']);
    expect(r.components.__proto__).toEqual([{ value: 'polluted', runs: 5, users: 5, share: 1 }]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const md = await runReport({ db, month: '2026-09', format: 'md' });
    expect(md).toContain('## Component: \\_\\_proto\\_\\_');
  });

  it('json holds the cleaned, capped strings', async () => {
    const r = JSON.parse(await runReport({ db, month: '2026-10', format: 'json' }));
    const values = r.breakdowns.versions.map((b: { value: string }) => b.value);
    expect(values).toContain(HOSTILE.script);
    expect(values.every((v: string) => Array.from(v).length <= 64)).toBe(true);
    // Control characters are exactly what must not get through.
    // eslint-disable-next-line no-control-regex
    expect(values.join('')).not.toMatch(/[\u0000-\u001f\u202e]/);
  });
});
