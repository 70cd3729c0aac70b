import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSite } from '../../src/commands/site.js';
import { hexId, tempDir, TestStore, type RunRow } from '../reports/store-fixture.js';
import { jsonPeriod } from '../reports/run-period.js';
import { jsonReport } from '../reports/run-report.js';

/**
 * `reports site`: every page self-contained, JSON with the same suppressed numbers as the reports,
 * and a re-run that rewrites only what changed (checked by modification times).
 */
const NOW = Date.UTC(2026, 10, 15);
let dir: string;
let db: string;
let out: string;

const rows = (month: number, n: number, prefix = 'u'): RunRow[] =>
  Array.from({ length: n }, (_, i) => ({ month, user_id: hexId(`${prefix}${i}`), version: 'demo-sim 1.3.0' }));

beforeAll(() => {
  dir = tempDir();
  db = path.join(dir, 'usage.db');
  out = path.join(dir, 'site');
  const s = new TestStore(db);
  s.insert([...rows(202608, 6), ...rows(202609, 7), ...rows(202610, 3), ...rows(202611, 8)]);
  s.close();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const files = (root: string): string[] =>
  fs
    .readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
    .sort();

describe('reports site', () => {
  it('writes an index, every complete month and the periods, each html with its JSON', async () => {
    const r = await buildSite({ out, db, minUsers: 5, yearStart: '09', now: () => NOW });
    expect(files(out)).toEqual([
      'index.html',
      'index.json',
      'months/2026-08.html',
      'months/2026-08.json',
      'months/2026-09.html',
      'months/2026-09.json',
      'months/2026-10.html',
      'months/2026-10.json',
      'periods/2025-09_2026-08.html',
      'periods/2025-09_2026-08.json',
      'periods/2025-11_2026-10.html',
      'periods/2025-11_2026-10.json',
      'periods/2026-09_2026-10.html',
      'periods/2026-09_2026-10.json',
    ]);
    expect(r.written).toHaveLength(14);
    const index = JSON.parse(fs.readFileSync(path.join(out, 'index.json'), 'utf8'));
    expect(index.latest_month.month).toBe('2026-10');
    expect(index.latest_period).toMatchObject({ from: '2025-11', to: '2026-10' });
    for (const f of [...index.months.map((m: any) => m.json), ...index.periods.map((p: any) => p.html)])
      expect(fs.existsSync(path.join(out, f)), f).toBe(true);
    // The JSON is the report's own, suppressed: 3 users in 2026-10 show as "< 5".
    const month = JSON.parse(fs.readFileSync(path.join(out, 'months/2026-10.json'), 'utf8'));
    expect(month).toEqual(await jsonReport({ db, month: '2026-10', now: () => NOW }));
    expect(month.unique_users).toBe('< 5');
    const period = JSON.parse(fs.readFileSync(path.join(out, 'periods/2025-09_2026-08.json'), 'utf8'));
    expect(period).toEqual(await jsonPeriod({ db, from: '2025-09', to: '2026-08', now: () => NOW }));
    // Self-contained: no script, no external URL in any page.
    for (const f of files(out).filter((x) => x.endsWith('.html'))) {
      const html = fs.readFileSync(path.join(out, f), 'utf8');
      expect(html, f).not.toMatch(/<script|<link|@import|url\(/i);
      expect(html.match(/(?:src|href)\s*=\s*["'][a-z]+:/gi) ?? [], f).toEqual([]);
    }
    const indexHtml = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
    const latest = JSON.parse(fs.readFileSync(path.join(out, 'periods/2025-11_2026-10.json'), 'utf8'));
    expect(indexHtml).toContain(latest.summary_text.replace(/</g, '&lt;'));
    expect(indexHtml).toContain(month.summary_text.replace(/</g, '&lt;'));
  });

  it('a re-run rewrites nothing; new data rewrites only what it changes', async () => {
    const mtimes = () => Object.fromEntries(files(out).map((f) => [f, fs.statSync(path.join(out, f)).mtimeMs]));
    const before = mtimes();
    await new Promise((r) => setTimeout(r, 30));
    const again = await buildSite({ out, db, minUsers: 5, yearStart: '09', now: () => NOW });
    expect(again.written).toEqual([]);
    expect(mtimes()).toEqual(before);
    // A late run in 2026-09 changes that month, the periods containing it and the index; not 2026-08.
    const s = new TestStore(db);
    s.insert(rows(202609, 1, 'late'));
    s.close();
    const third = await buildSite({ out, db, minUsers: 5, yearStart: '09', now: () => NOW });
    expect(third.written.sort()).toEqual([
      'index.html',
      'index.json',
      'months/2026-09.html',
      'months/2026-09.json',
      'months/2026-10.html',
      'months/2026-10.json',
      'periods/2025-11_2026-10.html',
      'periods/2025-11_2026-10.json',
      'periods/2026-09_2026-10.html',
      'periods/2026-09_2026-10.json',
    ]);
    const after = mtimes();
    expect(after['months/2026-08.html']).toBe(before['months/2026-08.html']);
    expect(after['periods/2025-09_2026-08.json']).toBe(before['periods/2025-09_2026-08.json']);
    expect(after['months/2026-09.json']).toBeGreaterThan(before['months/2026-09.json']!);
  });
});
