import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultMonth, parseMonth } from '../../src/reports/month.js';
import { createProgress } from '../../src/reports/progress.js';
import { refreshBookkeeping } from '../../src/store/sqlite/bookkeeping.js';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { hexId, tempDir, TestStore, times, type RunRow } from './store-fixture.js';
import { jsonReport, runReport } from './run-report.js';

/** The columns of a schema v1 run_facts (later versions added bookkeeping columns). */
const V1_COLUMNS = `run, project, format, user_id, host_id, script_id, weak_ids, eph, version, runtime, os, arch, ci,
  components, first_seen_ms, month, start_seen_ms, end_seen_ms, client_start_ms, client_end_ms, exit_code, duration_ms,
  has_start, has_end`;

let dir: string;
let db: string;
beforeEach(() => {
  dir = tempDir();
  db = path.join(dir, 'usage.db');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function users(n: number, month: number, extra: Partial<RunRow> = {}): RunRow[] {
  return Array.from({ length: n }, (_, i) => ({
    user_id: hexId(`user${i}`),
    host_id: hexId(`h${i}`),
    script_id: hexId(`s${i}`),
    month,
    ...extra,
  }));
}

describe('default month', () => {
  it('is the last complete UTC month', () => {
    expect(defaultMonth(Date.UTC(2026, 10, 23, 18)).label).toBe('2026-10');
    expect(defaultMonth(Date.UTC(2026, 0, 1, 0, 0, 0)).label).toBe('2025-12');
    expect(defaultMonth(Date.UTC(2026, 2, 31, 23, 59, 59)).label).toBe('2026-02');
  });
  it('is used when --month is absent', async () => {
    const s = new TestStore(db);
    s.insert([...users(6, 202609), ...users(7, 202610)]);
    s.close();
    const r = await jsonReport({ db, now: () => Date.UTC(2026, 10, 2, 0, 0, 1) });
    expect(r.month).toBe('2026-10');
    expect(r.unique_users).toBe(7);
    expect(r.incomplete_month).toBe(false);
    const current = await jsonReport({ db, month: '2026-11', now: () => Date.UTC(2026, 10, 2) });
    expect(current.incomplete_month).toBe(true);
  });
  it('parseMonth rejects what is not a real YYYY-MM', () => {
    for (const bad of ['2026-13', '2026-00', '26-10', '2026-1', '2026/10', '', '2026-10-01', '1999-12']) {
      expect(() => parseMonth(bad), bad).toThrow(expect.objectContaining({ code: 'BEACON_ERR_BAD_MONTH' }));
    }
  });
});

describe('empty month', () => {
  it('says so clearly in every format, no crash', async () => {
    new TestStore(db).close();
    const r = await jsonReport({ db, month: '2026-10' });
    expect(r.empty).toBe(true);
    expect(r.runs).toBe(0);
    expect(r.duration_s).toEqual({ median: null, mean: null, p90: null });
    expect(r.notes[0]).toMatch(/^No runs were recorded in 2026-10/);
    for (const format of ['md', 'html', 'csv'] as const) {
      expect(await runReport({ db, month: '2026-10', format })).toContain('No runs were recorded in 2026-10');
    }
  });
});

describe('a month with only Parsl-compatible runs', () => {
  it('reports users as unknown, not 0, and says why', async () => {
    const s = new TestStore(db);
    s.insert(times(8, { format: 'parsl-1', month: 202610, duration_ms: 30_000, ci: null }));
    s.close();
    const r = await jsonReport({ db, month: '2026-10' });
    expect(r.runs_started).toBe(8);
    expect(r.runs_completed).toBe(8);
    expect(r.unique_users).toBeNull();
    expect(r.new_users).toBeNull();
    expect(r.success_rate).toBeNull(); // Parsl sends no exit code
    expect(r.exit_codes).toEqual([]);
    expect(r.notes.join(' ')).toMatch(/None of this month's runs carry a user ID/);
    expect(r.trend.at(-2)).toEqual({ month: '2026-09', unique_users: 0, runs_started: 0, compute_hours: 0 }); // no runs: 0, not unknown
    const md = await runReport({ db, month: '2026-10', format: 'md' });
    expect(md).toMatch(/\| Unique users \| unknown \|/);
  });
});

describe('determinism and the month cache', () => {
  function seed(): void {
    const s = new TestStore(db);
    for (const m of [202608, 202609, 202610]) s.insert(users(12, m, { duration_ms: 1000 * (m % 100) }));
    s.insert(users(6, 202610, { exit_code: 3, version: '2.0.0', components: '{"executors":4}' }));
    s.close();
  }

  it('gives byte-identical output, cached or not, in every format', async () => {
    seed();
    for (const format of ['json', 'md', 'html', 'csv'] as const) {
      const first = await runReport({ db, month: '2026-10', format });
      const second = await runReport({ db, month: '2026-10', format });
      expect(second, format).toBe(first);
    }
    const cached = new Database(db).prepare('SELECT count(*) AS n FROM report_month_cache').get() as { n: number };
    expect(cached.n).toBeGreaterThan(0);
    // The same store without the cache table (a schema v1 store) gives the same bytes.
    const v1 = path.join(dir, 'v1.db');
    const s1 = new TestStore(v1, SQLITE_MIGRATIONS.slice(0, 1));
    s1.db.exec(`ATTACH '${db}' AS src; INSERT INTO run_facts SELECT ${V1_COLUMNS} FROM src.run_facts; DETACH src;`);
    s1.close();
    expect(await runReport({ db: v1, month: '2026-10', format: 'json' })).toBe(await runReport({ db, month: '2026-10', format: 'json' }));
  });

  it('a late end for a cached month invalidates exactly that month', async () => {
    seed();
    const before = await jsonReport({ db, month: '2026-10' });
    expect(before.trend.at(-2)).toEqual({ month: '2026-09', unique_users: 12, runs_started: 12, compute_hours: 0.03 });
    // A run of September that only had its start: its end arrives now (the receiver's upsert).
    const s = new TestStore(db);
    s.insert([{ run: 'late-run', user_id: hexId('late'), month: 202609, has_end: 0 }]);
    s.db.prepare('UPDATE run_facts SET has_end = 1, duration_ms = 3600000, exit_code = 0 WHERE run = ?').run('late-run');
    refreshBookkeeping(s.db);
    s.close();
    const after = await jsonReport({ db, month: '2026-10' });
    expect(after.trend.at(-2)).toEqual({ month: '2026-09', unique_users: 13, runs_started: 13, compute_hours: 1.03 });
    expect(after.changes.unique_users.previous).toBe(13);
  });

  it('still reports when the cache cannot be written (a receiver holds the write lock)', async () => {
    seed();
    const other = new Database(db);
    other.exec('BEGIN IMMEDIATE');
    try {
      const r = await jsonReport({ db, month: '2026-10' });
      expect(r.unique_users).toBe(12);
    } finally {
      other.exec('COMMIT');
    }
    expect((other.prepare('SELECT count(*) AS n FROM report_month_cache').get() as { n: number }).n).toBe(0);
    other.close();
  });
});

describe('progress', () => {
  it('writes nothing when stderr is not a TTY or the build is fast', () => {
    const out: string[] = [];
    let t = 0;
    const stream = { isTTY: false, write: (s: string) => out.push(s) };
    const p1 = createProgress(stream, 1000, () => t);
    t = 5000;
    p1.update(1, 2, 'x');
    const tty = { isTTY: true, write: (s: string) => out.push(s) };
    t = 0;
    const p2 = createProgress(tty, 1000, () => t);
    p2.update(1, 4, 'fast');
    expect(out).toEqual([]);
    t = 1500;
    p2.update(2, 4, 'slow');
    p2.finish();
    expect(out.join('')).toContain('50% slow');
    expect(out.at(-1)).toBe('\r\x1b[2K');
  });
});
