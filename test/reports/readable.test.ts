import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitCodeSpec } from '../../src/reports/charts.js';
import { hexId, tempDir, TestStore, times, type RunRow } from './store-fixture.js';
import { jsonPeriod, runPeriod } from './run-period.js';
import { jsonReport, runReport } from './run-report.js';

/**
 * What a funder reads must not mislead: linear bars for shares, the unfinished month marked in
 * every table and chart, no user count below K under the banner that hides them, a section with
 * nothing above the threshold in one line, one precision per unit, and Markdown readable raw.
 */
let dir: string;
let db: string;
const NOW = Date.UTC(2026, 10, 15); // mid 2026-11

beforeAll(() => {
  dir = tempDir();
  db = path.join(dir, 'usage.db');
  const s = new TestStore(db);
  const rows: RunRow[] = [];
  // 2026-10: version demo-sim 1.3.0 with 8 users; app_fails with 5 users; a tail of 4 users on
  // other versions plus 6 runs without user IDs (so "other" is shown, backed by 4 + 6).
  for (let i = 0; i < 8; i++)
    rows.push({ month: 202610, user_id: hexId(`a${i}`), version: 'demo-sim 1.3.0', exit_code: i < 7 ? 0 : 137, duration_ms: 7_000_000 });
  for (let i = 0; i < 5; i++) rows.push({ month: 202610, user_id: hexId(`b${i}`), version: 'app_fails', duration_ms: 7_200_000 });
  for (let i = 0; i < 4; i++)
    rows.push({ month: 202610, user_id: hexId(`c${i}`), version: `rare-${i}`, components: JSON.stringify({ lonely: `v${i}` }) });
  for (let i = 0; i < 6; i++) rows.push({ month: 202610, format: 'parsl-1', version: `rare-x${i}` });
  rows.push(...times(9, { month: 202611, user_id: hexId('now') }));
  for (let i = 0; i < 6; i++) rows.push({ month: 202611, user_id: hexId(`n${i}`) });
  s.insert(rows);
  s.close();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('charts and tables that do not mislead', () => {
  it('exit-code bars are on a linear scale from 0', () => {
    const spec = exitCodeSpec({
      exit_codes: [
        { code: 0, runs: 860, users: 9, share: 0.86 },
        { code: 137, runs: 17, users: 5, share: 0.017 },
      ],
    }) as any;
    expect(spec.encoding.x.scale.type).toBeUndefined(); // vega-lite's default: linear
    expect(spec.encoding.x.scale.zero).toBe(true);
    expect(spec.encoding.x.title).not.toMatch(/log/i);
  });

  it('the unfinished month is marked partial in every table and chart', async () => {
    const md = await runReport({ db, month: '2026-11', format: 'md', now: () => NOW });
    expect(md).toContain('| Metric | 2026-11 (partial) | 2026-10 | Change |');
    expect(md).toMatch(/\| 2026-11 \(partial\) \| 7 \|/);
    const html = await runReport({ db, month: '2026-11', format: 'html', now: () => NOW });
    expect(html).toMatch(/<text[^>]*>2026-11 \(partial\)<\/text>/); // the chart's axis label
    const p = await runPeriod({ db, from: '2026-10', to: '2026-11', format: 'md', now: () => NOW });
    expect(p).toMatch(/\| 2026-11 \(partial\) \| 7 \|/);
    const ph = await runPeriod({ db, from: '2026-10', to: '2026-11', format: 'html', now: () => NOW });
    expect(ph).toMatch(/<text[^>]*>2026-11 \(partial\)<\/text>/);
    const complete = await runReport({ db, month: '2026-10', format: 'md', now: () => NOW });
    expect(complete).not.toContain('2026-10 (partial)');
  });

  it('no user count below K under the suppression banner: "other" shows "< 5"', async () => {
    const r = await jsonReport({ db, month: '2026-10' });
    const other = r.breakdowns.versions.find((b: any) => b.value === 'other');
    expect(other.runs).toBe(10); // shown: 4 users + 6 runs without IDs back it
    expect(other.users).toBe('< 5');
    for (const rows of [...Object.values(r.breakdowns), ...Object.values(r.components)] as any[]) {
      for (const b of rows) if (typeof b.users === 'number') expect(b.users === 0 || b.users >= 5, JSON.stringify(b)).toBe(true);
    }
    const md = await runReport({ db, month: '2026-10', format: 'md' });
    expect(md).toContain('| other | 10 |');
    expect(md).not.toMatch(/\| [1-4] \|\n/);
  });

  it('a section with nothing above the threshold is one line, not a table of "< 5"', async () => {
    const r = await jsonReport({ db, month: '2026-10' });
    expect(r.components.lonely).toEqual([{ value: 'other', runs: '< 5', users: '< 5', share: null }]);
    const md = await runReport({ db, month: '2026-10', format: 'md' });
    const section = md.split('## Component: lonely')[1]!.split('\n## ')[0]!;
    expect(section.trim()).toBe('_Nothing to show: no value is backed by 5 or more users._');
    const html = await runReport({ db, month: '2026-10', format: 'html' });
    expect(html).toMatch(/<h2>Component: lonely<\/h2>\n<p><em>Nothing to show: no value is backed by 5 or more users.<\/em><\/p>/);
  });

  it('one precision per unit: hours with one decimal, durations with one decimal in every unit', async () => {
    const md = await runReport({ db, month: '2026-10', format: 'md' });
    const r = await jsonReport({ db, month: '2026-10' });
    const hours = /\| Compute hours \| ([^|]+) \| ([^|]+) \|/.exec(md)!;
    expect(hours[1]!.trim()).toMatch(/^\d[\d,]*\.\d$/);
    expect(hours[1]!.trim()).toBe(r.compute_hours.toFixed(1));
    for (const line of md.split('\n').filter((l) => l.startsWith('| Run length,'))) {
      for (const cell of line.split('|').slice(2, 4)) if (cell.trim() !== 'n/a') expect(cell.trim(), line).toMatch(/^\d+\.\d (s|min|h|d)$/);
    }
    for (const line of md.split('\n').filter((l) => /^\| 20\d\d-\d\d/.test(l)))
      expect(line.split('|')[4]!.trim(), line).toMatch(/^(\d[\d,]*\.\d|< 5|unknown)$/);
  });

  it('Markdown reads in a terminal: no escapes where Markdown means nothing', async () => {
    const md = await runReport({ db, month: '2026-10', format: 'md' });
    expect(md).toContain('| demo-sim 1.3.0 | 8 |');
    expect(md).toContain('| app_fails | 5 |');
    expect(md).not.toMatch(/demo\\-sim|1\\\.3|app\\_fails/);
    const p = await jsonPeriod({ db, from: '2026-10', to: '2026-11', now: () => NOW });
    expect(p.incomplete_months).toEqual(['2026-11']);
  });
});
