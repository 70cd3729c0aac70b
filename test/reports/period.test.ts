import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneCommand } from '../../src/commands/prune.js';
import { hexId, tempDir, TestStore, type RunRow } from './store-fixture.js';
import { jsonPeriod, runPeriod } from './run-period.js';
import { jsonReport, runReport } from './run-report.js';

/**
 * `reports period`: distinct people over a span of months counted once, new and cumulative users,
 * a grant year across a calendar year, suppression, the summary paragraph agreeing with the
 * tables, and argument errors. Every expected number follows from the rows inserted here.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const REPORTS = path.join(root, 'dist/cli/reports.js');

const users = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
function runsOf(month: number, names: string[], extra: Partial<RunRow> = {}): RunRow[] {
  return names.map((u) => ({ month, user_id: hexId(u), host_id: hexId(`h-${u}`), script_id: hexId(`s-${u}`), ...extra }));
}

let dir: string;
let db: string;
beforeAll(() => {
  dir = tempDir();
  db = path.join(dir, 'usage.db');
  const s = new TestStore(db);
  s.insert([
    ...runsOf(202509, users('a', 6)), // 6 new
    ...runsOf(202512, [...users('a', 3), ...users('b', 4)]), // 3 returning, 4 new
    ...runsOf(202602, [...users('b', 4), ...users('c', 5)]), // 4 returning, 5 new
    ...runsOf(202608, users('c', 5), { exit_code: 1, duration_ms: 3_600_000 }), // 5 returning, failed, 1 h each
    ...runsOf(202609, users('d', 10)), // outside the grant year
    ...runsOf(202611, users('d', 6)), // the current month at "now"
  ]);
  s.counters('2025-09-03', { received: 20, stored: 12 });
  s.counters('2026-02-03', { received: 30, stored: 18, 'rejected.schema': 2 });
  s.close();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('reports period over a grant year (2025-09 to 2026-08)', () => {
  it('counts each person once over the period, with new and cumulative users per month', async () => {
    const r = await jsonPeriod({ db, from: '2025-09', to: '2026-08' });
    expect(r.report).toBe('usage-beacon period report');
    expect([r.from, r.to, r.months]).toEqual(['2025-09', '2026-08', 12]);
    expect(r.distinct.method).toBe('exact');
    expect(r.unique_users).toBe(15); // not 6 + 7 + 9 + 5 = 27
    expect(r.unique_hosts).toBe(15);
    expect(r.unique_scripts).toBe(15);
    expect(r.new_users).toBe(15);
    expect(r.runs_started).toBe(27);
    expect(r.runs_completed).toBe(27);
    expect(r.success_rate).toBe(Math.round((22 / 27) * 10000) / 10000);
    expect(r.compute_hours).toBe(Math.round(((22 * 60 + 5 * 3600) / 3600) * 100) / 100);
    const by = Object.fromEntries(r.monthly.map((m: any) => [m.month, m]));
    expect(r.monthly.map((m: any) => m.month)).toEqual([
      '2025-09',
      '2025-10',
      '2025-11',
      '2025-12',
      '2026-01',
      '2026-02',
      '2026-03',
      '2026-04',
      '2026-05',
      '2026-06',
      '2026-07',
      '2026-08',
    ]);
    expect([by['2025-09'].unique_users, by['2025-12'].unique_users, by['2026-02'].unique_users, by['2026-08'].unique_users]).toEqual([
      6, 7, 9, 5,
    ]);
    // "< 5" for 4 new users in 2025-12: a cell backed by fewer than K people.
    expect([by['2025-09'].new_users, by['2025-12'].new_users, by['2026-02'].new_users, by['2026-08'].new_users]).toEqual([6, '< 5', 5, 0]);
    expect(r.monthly.map((m: any) => m.cumulative_users)).toEqual([6, 6, 6, 10, 10, 15, 15, 15, 15, 15, 15, 15]);
    expect(r.monthly.every((m: any) => m.partial === false)).toBe(true);
    expect(r.growth).toMatchObject({ first_month: '2025-09', last_month: '2026-08', first: 6, last: 5, change_pct: -16.7 });
    expect(r.exit_codes).toEqual([
      { code: 0, runs: 22, users: 15, share: Math.round((22 / 27) * 10000) / 10000 },
      { code: 1, runs: 5, users: 5, share: Math.round((5 / 27) * 10000) / 10000 },
    ]);
    expect(r.quality.datagrams_received).toBe(50);
    expect(r.quality.rejected.schema).toBe(2);
  });

  it('--year with --year-start gives the same grant year; --year alone is the calendar year', async () => {
    const a = await runPeriod({ db, from: '2025-09', to: '2026-08', format: 'md' });
    const b = await runPeriod({ db, year: '2025', yearStart: '09', format: 'md' });
    expect(b).toBe(a);
    const cal = await jsonPeriod({ db, year: '2026' });
    expect([cal.from, cal.to]).toEqual(['2026-01', '2026-12']);
    expect(cal.unique_users).toBe(19); // b0-3, c0-4, d0-9
    expect(cal.incomplete_months).toEqual(['2026-11', '2026-12']);
    expect(cal.monthly.find((m: any) => m.month === '2026-11').partial).toBe(true);
  });

  it('a single month as a period has the monthly report’s numbers', async () => {
    const p = await jsonPeriod({ db, from: '2026-02', to: '2026-02' });
    const m = await jsonReport({ db, month: '2026-02' });
    for (const k of [
      'unique_users',
      'unique_hosts',
      'unique_scripts',
      'new_users',
      'runs_started',
      'runs_completed',
      'success_rate',
      'compute_hours',
    ])
      expect(p[k], k).toEqual(m[k]);
    expect(p.duration_s).toEqual(m.duration_s);
  });

  it('--project scopes every number', async () => {
    const p = await jsonPeriod({ db, from: '2025-09', to: '2026-08', project: 'nobody' });
    expect(p.empty).toBe(true);
    expect(p.unique_users).toBe(0);
    expect(p.summary_text).toContain('no runs were recorded');
    const q = await jsonPeriod({ db, from: '2025-09', to: '2026-08', project: 'parsl' });
    expect(q.unique_users).toBe(15);
    expect(q.breakdowns.projects).toBeUndefined();
  });

  it('is deterministic in every format', async () => {
    for (const format of ['json', 'md', 'csv', 'html'] as const) {
      const a = await runPeriod({ db, from: '2025-09', to: '2026-08', format });
      expect(await runPeriod({ db, from: '2025-09', to: '2026-08', format })).toBe(a);
    }
  });
});

describe('per-month period entries cached in the store (report_month_cache)', () => {
  let cdir: string;
  beforeAll(() => {
    cdir = tempDir();
  });
  afterAll(() => fs.rmSync(cdir, { recursive: true, force: true }));
  const copy = (name: string) => {
    const f = path.join(cdir, name);
    fs.copyFileSync(db, f);
    return f;
  };
  const cli = (file: string, format: string) => {
    const r = spawnSync(process.execPath, [REPORTS, 'period', '--db', file, '--from', '2025-09', '--to', '2026-08', '--format', format], {
      encoding: 'utf8',
      env: { ...process.env, BEACON_STORE: '' },
    });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout;
  };

  it('a late write to an old month recomputes that month only, and the result is what a store never reported gives', async () => {
    const warm = copy('warm.db');
    const a = await jsonPeriod({ db: warm, from: '2025-09', to: '2026-08' });
    const Database = (await import('better-sqlite3')).default;
    const d = new Database(warm, { readonly: true });
    const months = d
      .prepare("SELECT month FROM report_month_cache WHERE scope = 'period:all' AND month BETWEEN 202509 AND 202608 ORDER BY month")
      .all();
    d.close();
    // Only the months with runs have an entry.
    expect(months).toEqual([202509, 202512, 202602, 202608].map((month) => ({ month })));
    // A new person in 2025-12, and a returning one with a new exit code in 2026-02.
    const late: RunRow[] = [...runsOf(202512, ['z0']), ...runsOf(202602, ['a0'], { exit_code: 3 })];
    for (const f of [warm, copy('fresh.db')]) {
      const s = new TestStore(f);
      s.insert(late);
      s.close();
    }
    const b = await jsonPeriod({ db: warm, from: '2025-09', to: '2026-08' });
    expect(b.unique_users).toBe(a.unique_users + 1);
    expect(b.monthly.map((m: any) => m.cumulative_users)).toEqual([6, 6, 6, 11, 11, 16, 16, 16, 16, 16, 16, 16]);
    expect(b.exit_codes.find((c: any) => c.code === 3)).toBeUndefined(); // 1 user: folded into "other"
    for (const format of ['json', 'md', 'csv'] as const) {
      const fresh = await runPeriod({ db: path.join(cdir, 'fresh.db'), from: '2025-09', to: '2026-08', format });
      expect(await runPeriod({ db: warm, from: '2025-09', to: '2026-08', format }), format).toBe(fresh);
    }
  });

  it('entries are stored as binary (a BLOB); an older JSON entry or a damaged one is recomputed, with the same output', async () => {
    const f = copy('blob.db');
    const want = await runPeriod({ db: f, from: '2025-09', to: '2026-08', format: 'json' });
    const Database = (await import('better-sqlite3')).default;
    const d = new Database(f);
    try {
      const kinds = d.prepare("SELECT DISTINCT typeof(summary) AS t FROM report_month_cache WHERE scope = 'period:all'").all();
      expect(kinds).toEqual([{ t: 'blob' }]);
      // What the previous version left: JSON text, at the current change count; and a truncated blob.
      d.prepare(`UPDATE report_month_cache SET summary = '{"v":1}' WHERE scope = 'period:all' AND month = 202509`).run();
      d.prepare(`UPDATE report_month_cache SET summary = substr(summary, 1, 100) WHERE scope = 'period:all' AND month = 202512`).run();
    } finally {
      d.close();
    }
    expect(await runPeriod({ db: f, from: '2025-09', to: '2026-08', format: 'json' })).toBe(want);
    const d2 = new Database(f, { readonly: true });
    try {
      const rows = d2
        .prepare(
          "SELECT month, typeof(summary) AS t, length(summary) AS n FROM report_month_cache WHERE scope = 'period:all' AND month IN (202509, 202512)",
        )
        .all() as { t: string; n: number }[];
      expect(rows.every((r) => r.t === 'blob' && r.n > 100)).toBe(true); // both rewritten
    } finally {
      d2.close();
    }
  });

  it('the CLI (uncached months split with the helper thread) gives what the in-process report gives', async () => {
    const cold = copy('cold.db');
    const out = cli(cold, 'md'); // every month uncached: half of them on the helper thread
    expect(cli(cold, 'md')).toBe(out); // every month cached
    const html = cli(copy('cold-html.db'), 'html'); // charts on the helper thread
    expect(cli(cold, 'html')).toBe(html);
    // The in-process run has no helper thread (it runs from the TypeScript sources) and a fixed clock,
    // which marks no month of this period as partial either.
    expect(await runPeriod({ db: copy('in-process.db'), from: '2025-09', to: '2026-08', format: 'md' })).toBe(out);
  });
});

/** Every number (with its grouping and decimals) in the summary paragraph, minus dates and the error bound. */
function numbersIn(text: string): string[] {
  return (text.replace(/\d{4}-\d{2}/g, ' ').match(/\d[\d,]*(\.\d+)?/g) ?? []).filter((n) => n !== '95');
}

describe('the summary paragraph', () => {
  it('period: first in every format, and every number in it is in the tables below', async () => {
    const r = await jsonPeriod({ db, from: '2025-09', to: '2026-08' });
    expect(r.summary_text).toContain('15 distinct users');
    expect(r.summary_text).toContain('27 runs');
    const md = await runPeriod({ db, from: '2025-09', to: '2026-08', format: 'md' });
    const lines = md.split('\n');
    expect(lines[2]).toBe(r.summary_text);
    const tables = lines
      .slice(3)
      .filter((l) => l.startsWith('|'))
      .join('\n');
    const cells = new Set(tables.split('|').map((c) => c.trim()));
    for (const n of numbersIn(r.summary_text)) {
      const inCell = [...cells].some(
        (c) => c === n || c.startsWith(`${n}%`) || c === `${n} min` || c === `${n} h` || c === `${n} s` || c.includes(n),
      );
      expect(inCell, `${n} of "${r.summary_text}"`).toBe(true);
    }
    const html = await runPeriod({ db, from: '2025-09', to: '2026-08', format: 'html' });
    expect(html).toMatch(/<h1>[^<]*<\/h1>\n?<p class="lead">/);
  });

  it('monthly: the same paragraph, numbers from the summary table', async () => {
    const r = await jsonReport({ db, month: '2026-02' });
    expect(r.summary_text).toMatch(/^Across all projects, in 2026-02, 9 users on 9 hosts started 9 runs/);
    const md = await runReport({ db, month: '2026-02', format: 'md' });
    expect(md.split('\n')[2]).toBe(r.summary_text);
    const tables = md
      .split('\n')
      .slice(3)
      .filter((l) => l.startsWith('|'))
      .join('\n');
    for (const n of numbersIn(r.summary_text)) expect(tables, n).toContain(n);
  });
});

describe('argument errors: one line, stable code, exit 2', () => {
  const cases: [string, string[]][] = [
    ['no period', []],
    ['only --from', ['--from', '2025-09']],
    ['bad --from', ['--from', '2025-9', '--to', '2026-08']],
    ['bad --to', ['--from', '2025-09', '--to', '2026-13']],
    ['reversed', ['--from', '2026-09', '--to', '2025-08']],
    ['too long', ['--from', '2000-01', '--to', '2026-08']],
    ['--year and --from', ['--year', '2025', '--from', '2025-01']],
    ['bad --year', ['--year', '25']],
    ['bad --year-start', ['--year', '2025', '--year-start', '13']],
    ['--year-start alone', ['--from', '2025-09', '--to', '2026-08', '--year-start', '09']],
  ];
  for (const [name, args] of cases) {
    it(name, () => {
      const r = spawnSync(process.execPath, [REPORTS, 'period', '--db', db, ...args], {
        encoding: 'utf8',
        env: { ...process.env, BEACON_STORE: '' },
      });
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^reports: .+ \[BEACON_ERR_BAD_PERIOD\]\n$/);
    });
  }
  it('bad format is the monthly report’s error', () => {
    const r = spawnSync(process.execPath, [REPORTS, 'period', '--db', db, '--year', '2025', '--format', 'pdf'], {
      encoding: 'utf8',
      env: { ...process.env, BEACON_STORE: '' },
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('[BEACON_ERR_BAD_FORMAT]');
  });
});

async function prune(file: string, now: number, olderThan: string): Promise<void> {
  const stdout = new Writable({
    write(_c, _e, cb) {
      cb();
    },
  });
  await pruneCommand({ db: file, olderThan, now: () => now, stdout });
}

describe('after pruning: distinct counts from HyperLogLog sketches', () => {
  let pdir: string;
  let pdb: string;
  const N = 3000;
  beforeAll(() => {
    pdir = tempDir();
    pdb = path.join(pdir, 'usage.db');
    const s = new TestStore(pdb);
    // N users; user i is active in months (i mod 12) and (i * 7 mod 12): overlap across months.
    const rows: RunRow[] = [];
    for (let i = 0; i < N; i++) {
      for (const k of new Set([i % 12, (i * 7) % 12])) {
        const month = 202509 + k + (k >= 4 ? 88 : 0); // 2025-09..2025-12, 2026-01..2026-08
        rows.push({
          month,
          user_id: hexId(`p${i}`).replace(/0+$/, '') + String(i).padStart(6, '0'),
          host_id: hexId(`ph${i % 900}`),
          script_id: hexId(`ps${i % 2000}`),
        });
      }
    }
    s.insert(rows);
    s.close();
  });
  afterAll(() => fs.rmSync(pdir, { recursive: true, force: true }));

  it('estimates within the stated error, says so, and leaves runs exact', async () => {
    const before = await jsonPeriod({ db: pdb, from: '2025-09', to: '2026-08' });
    expect(before.distinct.method).toBe('exact');
    expect(before.unique_users).toBe(N);
    // 2026-11-15 minus 200 days = 2026-04-29: 2025-09 to 2026-03 are pruned.
    await prune(pdb, Date.UTC(2026, 10, 15), '200d');
    const after = await jsonPeriod({ db: pdb, from: '2025-09', to: '2026-08' });
    expect(after.source.months_from_rollups).toEqual(['2025-09', '2025-10', '2025-11', '2025-12', '2026-01', '2026-02', '2026-03']);
    expect(after.distinct.method).toBe('estimate');
    expect(after.distinct.relative_error).toBeCloseTo(0.0081, 4);
    // The sketch's hash key is drawn at random per store, so the error is a random variable: a
    // bound of 95 % fails one run in twenty by design. Four standard errors fail ~1 in 15,000; the
    // stated 95 % bound itself is checked over many keys by bench/reports-hll-error.mjs.
    const bound = 4 * after.distinct.relative_error;
    for (const k of ['unique_users', 'unique_hosts', 'unique_scripts'] as const) {
      const err = Math.abs(after[k] - before[k]) / before[k];
      expect(err, k).toBeLessThan(bound);
    }
    for (const k of ['runs_started', 'runs_completed', 'compute_hours', 'new_users', 'success_rate'])
      expect(after[k], k).toEqual(before[k]);
    expect(after.monthly.map((m: any) => m.runs_started)).toEqual(before.monthly.map((m: any) => m.runs_started));
    // The last cumulative figure is the period's estimate; each is within the error of the exact one.
    expect(after.monthly.at(-1).cumulative_users).toBe(after.unique_users);
    for (const [i, m] of after.monthly.entries()) {
      expect(Math.abs(m.cumulative_users - before.monthly[i].cumulative_users)).toBeLessThanOrEqual(
        Math.max(2, before.monthly[i].cumulative_users * bound),
      );
    }
    expect(after.notes.join(' ')).toMatch(/HyperLogLog estimates, within ±1\.6% \(95%\)/);
    const md = await runPeriod({ db: pdb, from: '2025-09', to: '2026-08', format: 'md' });
    expect(md).toContain(`| Distinct users over the period | ≈ ${after.unique_users.toLocaleString('en-US')} (±1.6%) |`);
    expect(md.split('\n')[2]).toContain('(estimated, ±1.6% at 95%)');
    // A period of kept months only is still exact.
    const kept = await jsonPeriod({ db: pdb, from: '2026-04', to: '2026-08' });
    expect(kept.distinct.method).toBe('exact');
  });

  it('a month pruned before sketches existed: distinct counts unknown, said plainly in every format', async () => {
    const old = path.join(pdir, 'old.db');
    fs.copyFileSync(pdb, old);
    const Database = (await import('better-sqlite3')).default;
    const d = new Database(old);
    d.prepare('DELETE FROM monthly_sketches WHERE month = 202510').run(); // as if pruned by a release before schema v5
    d.close();
    const r = await jsonPeriod({ db: old, from: '2025-09', to: '2026-08' });
    expect(r.distinct.method).toBe('unknown');
    expect([r.unique_users, r.unique_hosts, r.unique_scripts]).toEqual([null, null, null]);
    expect(r.notes.join(' ')).toContain('The raw runs of 2025-10 were pruned before this usage-beacon kept distinct-count sketches');
    expect(r.notes.join(' ')).toContain('they cover the months with raw runs (2026-04 to 2026-08 (5 months))');
    expect(r.summary_text).toContain('an unknown number of');
    const md = await runPeriod({ db: old, from: '2025-09', to: '2026-08', format: 'md' });
    expect(md).toMatch(/\| Distinct users over the period \| unknown[^|]*\|/);
    // A period of months pruned with sketches only is estimated again.
    expect((await jsonPeriod({ db: old, from: '2025-11', to: '2026-08' })).distinct.method).toBe('estimate');
  });

  it('the store keeps registers, never an ID', async () => {
    const Database = (await import('better-sqlite3')).default;
    const d = new Database(pdb, { readonly: true });
    try {
      const rows = d.prepare('SELECT month, scope, kind, p, registers FROM monthly_sketches').all() as { registers: string; p: number }[];
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((r) => r.p === 14 && Buffer.from(r.registers, 'base64').length === 16384)).toBe(true);
      const all = rows.map((r) => r.registers).join('');
      expect(all).not.toContain(Buffer.from(hexId('ph1')).toString('base64').slice(0, 12));
      // The period's per-month entries hold the month's IDs: prune deleted them with the runs.
      const entries = d.prepare("SELECT month, summary FROM report_month_cache WHERE scope = 'period:all'").all() as {
        month: number;
        summary: string;
      }[];
      expect(entries.map((e) => e.month).sort()).toEqual([202604, 202605, 202606, 202607, 202608]);
      const pruned = d.prepare('SELECT count(*) AS n FROM report_month_cache WHERE month IN (SELECT month FROM pruned_months)').get();
      expect(pruned).toEqual({ n: 0 });
      // User 0 was active in 2025-09 only (i mod 12 = i * 7 mod 12 = 0): no kept entry names them.
      const user0 = hexId('p0').replace(/0+$/, '') + '000000';
      expect(entries.some((e) => e.summary.includes(user0))).toBe(false);
      expect(entries.some((e) => e.summary.includes(hexId('p2').replace(/0+$/, '') + '000002'))).toBe(false); // 2025-11 only
      // User 1 (2025-10 and 2026-04) is still in 2026-04's entry, as in its runs.
      expect(entries.some((e) => e.summary.includes(hexId('p1').replace(/0+$/, '') + '000001'))).toBe(true);
    } finally {
      d.close();
    }
  });
});
