import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hexId, tempDir, TestStore, times, type RunRow } from './store-fixture.js';
import { jsonReport, runReport } from './run-report.js';

/**
 * A hand-built store whose answers were worked out on paper (see the comments) before the report
 * ever ran. October 2026 is the reported month, September the previous one.
 */
const OCT = 202610;
const u = (n: string) => ({ user_id: hexId(`user-${n}`), host_id: hexId(`host-${n}`), script_id: hexId(`script-${n}`) });
const A_COMP = '{"executors":2,"provider":"slurm"}';

function octoberRows(): RunRow[] {
  return [
    // A: 4 completed runs (10, 20, 30, 40 s), exits 0,0,0,1; two hosts, two scripts; returning (Sep).
    { ...u('A'), month: OCT, duration_ms: 10_000, components: A_COMP },
    { ...u('A'), month: OCT, duration_ms: 20_000, components: A_COMP },
    { ...u('A'), host_id: hexId('host-A2'), script_id: hexId('script-A2'), month: OCT, duration_ms: 30_000, components: A_COMP },
    {
      ...u('A'),
      host_id: hexId('host-A2'),
      script_id: hexId('script-A2'),
      month: OCT,
      duration_ms: 40_000,
      exit_code: 1,
      components: A_COMP,
    },
    // B: 3 × 60 s, exit 0; returning.
    ...times(3, { ...u('B'), month: OCT, duration_ms: 60_000, components: '{"executors":1,"provider":"local"}' }),
    // C: one 120 s run and one start without end; version 1.1.0; returning (Aug).
    { ...u('C'), month: OCT, duration_ms: 120_000, version: '1.1.0' },
    { ...u('C'), month: OCT, has_end: 0, version: '1.1.0' },
    // D: an end without its start (both copies lost), exit 2, 1 h; new.
    { ...u('D'), month: OCT, has_start: 0, exit_code: 2, duration_ms: 3_600_000, version: '1.1.0', os: 'darwin', arch: 'arm64' },
    // E: 2 h, version 2.0.0-rc, in CI; new.
    { ...u('E'), month: OCT, duration_ms: 7_200_000, version: '2.0.0-rc', ci: 1 },
    // F: 2 × 600 s; new.
    ...times(2, { ...u('F'), month: OCT, duration_ms: 600_000 }),
    // Parsl format 1: no IDs, no exit code; 2 completed (300 s), 1 started only.
    ...times(2, { format: 'parsl-1', month: OCT, duration_ms: 300_000, version: '2024.01.01', runtime: 'python/3.11.7', ci: null }),
    { format: 'parsl-1', month: OCT, has_end: 0, version: '2024.01.01', runtime: 'python/3.11.7', ci: null },
    // Another project, another month: must not leak into parsl's October numbers below.
    { ...u('A'), project: 'other-tool', month: 202609, duration_ms: 5_000 },
  ];
}

function earlierRows(): RunRow[] {
  return [
    // September: A 2 runs, B 1 run, G 1 run (exit 1); 100, 100, 100, 50 s.
    ...times(2, { ...u('A'), month: 202609, duration_ms: 100_000 }),
    { ...u('B'), month: 202609, duration_ms: 100_000 },
    { ...u('G'), month: 202609, duration_ms: 50_000, exit_code: 1 },
    // August: C once.
    { ...u('C'), month: 202608, duration_ms: 100_000 },
  ];
}

let dir: string;
let db: string;

beforeAll(() => {
  dir = tempDir();
  db = path.join(dir, 'usage.db');
  const s = new TestStore(db);
  s.insert([...earlierRows(), ...octoberRows()]);
  s.counters('2026-10-01', { received: 100, stored: 30, duplicates: 60, 'rejected.schema': 4, 'rejected.not_json': 6 });
  s.counters('2026-10-31', { received: 10, stored: 5, duplicates: 5 });
  s.counters('2026-11-01', { received: 999 });
  s.counters('2026-09-30', { received: 500 });
  s.close();
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('golden numbers (project parsl, --min-users 2)', () => {
  let r: Record<string, any>;
  beforeAll(async () => {
    r = await jsonReport({ db, month: '2026-10', project: 'parsl', minUsers: 2 });
  });

  it('headline metrics', () => {
    expect(r.month).toBe('2026-10');
    expect(r.previous_month).toBe('2026-09');
    expect(r.project).toBe('parsl');
    expect(r.runs).toBe(16);
    expect(r.unique_users).toBe(6);
    expect(r.unique_hosts).toBe(7);
    expect(r.unique_scripts).toBe(7);
    expect(r.new_users).toBe(3);
    expect(r.returning_users).toBe(3);
    expect(r.runs_started).toBe(15);
    expect(r.runs_completed).toBe(14);
    expect(r.success_rate).toBe(0.8333);
    expect(r.compute_hours).toBe(3.61);
    expect(r.duration_s).toEqual({ median: 60, mean: 928.6, p90: 3600 });
    expect(r.runs_without_user_id).toBe(3);
  });

  it('changes against the previous month', () => {
    expect(r.changes.unique_users).toEqual({ previous: 3, change: 3, change_pct: 100 });
    expect(r.changes.runs_started).toEqual({ previous: 4, change: 11, change_pct: 275 });
    expect(r.changes.success_rate.previous).toBe(0.75);
    expect(r.changes.new_users.previous).toBe(3); // A, B, G first seen in September (parsl)
  });

  it('exit codes: top codes plus other, users per code', () => {
    expect(r.exit_codes).toEqual([
      { code: 0, runs: 10, users: 5, share: 0.8333 },
      { code: 'other', runs: 2, users: 2, share: 0.1667 },
    ]);
  });

  it('breakdowns with idless runs and folding', () => {
    expect(r.breakdowns.versions).toEqual([
      { value: '1.0.0', runs: 9, users: 3, share: 0.5625 },
      { value: '1.1.0', runs: 3, users: 2, share: 0.1875 },
      { value: '2024.01.01', runs: 3, users: 0, share: 0.1875 },
      { value: 'other', runs: '< 2', users: '< 2', share: null },
    ]);
    expect(r.breakdowns.projects).toBeUndefined();
    expect(r.breakdowns.ci.find((b: any) => b.value === 'unknown')).toEqual({ value: 'unknown', runs: 3, users: 0, share: 0.1875 });
    expect(r.components.executors).toEqual([{ value: 'other', runs: 7, users: 2, share: 1 }]);
  });

  it('trend: 12 months, suppressed where fewer than K users', () => {
    expect(r.trend).toHaveLength(12);
    expect(r.trend[0].month).toBe('2025-11');
    expect(r.trend.slice(-3)).toEqual([
      { month: '2026-08', unique_users: '< 2', runs_started: '< 2', compute_hours: '< 2' },
      { month: '2026-09', unique_users: 3, runs_started: 4, compute_hours: 0.1 },
      { month: '2026-10', unique_users: 6, runs_started: 15, compute_hours: 3.61 },
    ]);
  });

  it("data quality from the month's daily counters and the runs", () => {
    const q = r.quality;
    expect(q.datagrams_received).toBe(110);
    expect(q.stored).toBe(35);
    expect(q.duplicates).toBe(65);
    expect(q.rejected).toEqual({ oversized: 0, not_json: 6, schema: 4, implausible: 0, unknown_protocol: 0, rate_limited: 0 });
    expect(q.days_with_counters).toBe(2);
    expect(q.unmatched_starts).toBe(2);
    expect(q.unmatched_ends).toBe(1);
    // 1 of 12 completed native runs lost its start: q = 1/12, p = sqrt(q).
    expect(q.loss_rate_basis).toEqual({ native_runs_completed: 12, native_ends_without_start: 1 });
    expect(q.estimated_message_loss_rate).toBeCloseTo(1 / 12, 6);
    expect(q.estimated_loss_rate).toBeCloseTo(Math.sqrt(1 / 12), 6);
    expect(q.message_loss_rate_upper_95).toBeGreaterThan(1 / 12);
    expect(Object.keys(q.uncertainty)).toEqual([
      'runs_started',
      'runs_completed',
      'compute_hours',
      'unique_users',
      'success_rate',
      'run_length',
    ]);
  });

  it('run-length histogram counts every completed run once', () => {
    const total = r.run_length_histogram.reduce((a: number, h: any) => a + h.runs, 0);
    expect(total).toBe(14);
    expect(r.run_length_histogram.find((h: any) => h.from_s === 10).runs).toBe(4); // 10, 20, 30, 40 s
    expect(r.run_length_histogram.find((h: any) => h.from_s === 60).runs).toBe(4); // 60 × 3, 120
  });

  it('notes say what the reader must know', () => {
    expect(r.notes.join('\n')).toMatch(/3 of 16 runs .* send no user ID/);
  });
});

describe('all projects', () => {
  it('includes the other project in September and lists projects', async () => {
    const r = await jsonReport({ db, month: '2026-09', minUsers: 1 });
    expect(r.project).toBeNull();
    expect(r.runs).toBe(5);
    expect(r.unique_users).toBe(3); // A (in two projects) counted once
    expect(r.breakdowns.projects.map((p: any) => [p.value, p.runs])).toEqual([
      ['parsl', 4],
      ['other-tool', 1],
    ]);
  });
});

describe('default suppression (K = 5)', () => {
  it('folds and hides every cell backed by fewer than 5 users, in JSON too', async () => {
    const r = await jsonReport({ db, month: '2026-10', project: 'parsl' });
    expect(r.suppression).toEqual({ min_users: 5, applied: true });
    expect(r.exit_codes[0]).toEqual({ code: 0, runs: 10, users: 5, share: 0.8333 });
    expect(r.exit_codes[1]).toEqual({ code: 'other', runs: '< 5', users: '< 5', share: null });
    // No version has 5 users: everything folds into one suppressed "other".
    expect(r.breakdowns.versions).toEqual([{ value: 'other', runs: 16, users: 6, share: 1 }]);
    expect(r.changes.unique_users.previous).toBeNull(); // September had 3 users: "< 5", so no change shown
    const md = await runReport({ db, month: '2026-10', project: 'parsl', format: 'md' });
    expect(md).toContain('| < 5 |');
    expect(md).not.toMatch(/\| 2\.0\.0/);
  });

  it('--raw shows exact numbers in JSON', async () => {
    const r = await jsonReport({ db, month: '2026-10', project: 'parsl', raw: true });
    expect(r.suppression.applied).toBe(false);
    expect(r.exit_codes.map((e: any) => [e.code, e.runs, e.users])).toEqual([
      [0, 10, 5],
      [1, 1, 1],
      [2, 1, 1],
    ]);
  });
});
