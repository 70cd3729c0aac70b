import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hexId, tempDir, TestStore } from '../reports/store-fixture.js';

/** The real CLIs from dist/ (built by `npm test` / the build step) as child processes. */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const REPORTS = path.join(root, 'dist/cli/reports.js');
const BEACON = path.join(root, 'dist/cli/beacon.js');

function run(bin: string, args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, BEACON_STORE: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let dir: string;
let db: string;
beforeAll(() => {
  dir = tempDir();
  db = path.join(dir, 'usage.db');
  const s = new TestStore(db);
  s.insert(Array.from({ length: 6 }, (_, i) => ({ user_id: hexId(`u${i}`), month: 202610 })));
  s.close();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('CLI argument errors: one line, stable code, non-zero exit', () => {
  const cases: [string, string[], string, number][] = [
    ['bad month', ['--month', '2026-13'], 'BEACON_ERR_BAD_MONTH', 2],
    ['bad format', ['--format', 'pdf'], 'BEACON_ERR_BAD_FORMAT', 2],
    ['missing db', ['--db', '/nonexistent/usage.db'], 'BEACON_ERR_DB_MISSING', 1],
    ['--raw outside json', ['--raw', '--format', 'md'], 'BEACON_ERR_USAGE', 2],
  ];
  for (const [name, args, code, exit] of cases) {
    it(name, () => {
      const r = run(REPORTS, ['monthly', '--db', db, '--month', '2026-10', ...args]);
      expect(r.code).toBe(exit);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`^reports: .*\\[${code}\\]\\n$`));
    });
  }

  it('a file that is not a store', () => {
    const junk = path.join(dir, 'junk.db');
    fs.writeFileSync(junk, 'this is not sqlite at all, just text '.repeat(100));
    const r = run(REPORTS, ['monthly', '--db', junk, '--month', '2026-10']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[BEACON_ERR_DB_OPEN\]\n$/);
  });

  it('--min-users must be a positive integer (commander)', () => {
    const r = run(REPORTS, ['monthly', '--db', db, '--min-users', '0']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--min-users must be a positive integer/);
  });

  it('an unwritable --out is BEACON_ERR_OUTPUT and leaves no partial file', () => {
    const out = path.join(dir, 'no-such-dir', 'report.html');
    const r = run(REPORTS, ['monthly', '--db', db, '--month', '2026-10', '--format', 'md', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[BEACON_ERR_OUTPUT\]\n$/);
    expect(fs.existsSync(path.dirname(out))).toBe(false);
  });
});

describe('--out on a path that cannot hold a directory: one line, fast', () => {
  // Node's recursive mkdir looped forever on /proc (mkdir /proc/x is ENOENT while /proc exists).
  const quick = (args: string[]) => {
    const t = Date.now();
    const r = spawnSync(process.execPath, [REPORTS, ...args], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, BEACON_STORE: '' },
    });
    return { code: r.status, signal: r.signal, stderr: r.stderr, ms: Date.now() - t };
  };
  const cases: [string, (out: string) => string[]][] = [
    ['reports site', (out) => ['site', '--db', db, '--out', out]],
    ['reports monthly --format csv', (out) => ['monthly', '--db', db, '--month', '2026-10', '--format', 'csv', '--out', out]],
    [
      'reports period --format csv',
      (out) => ['period', '--db', db, '--from', '2026-01', '--to', '2026-10', '--format', 'csv', '--out', out],
    ],
  ];
  for (const [name, args] of cases) {
    for (const out of ['/proc/x', '/proc/x/y/z', '/sys/beacon-site']) {
      it(`${name} --out ${out}`, () => {
        const r = quick(args(out));
        expect(r.signal).toBeNull(); // not killed by the timeout
        expect(r.code).toBe(1);
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(r.stderr).toMatch(/^reports: cannot create .*\[BEACON_ERR_OUTPUT\]\n$/);
        expect(r.ms).toBeLessThan(15_000);
      });
    }
  }

  it('a file in the way of the directory, and missing parents that can be made', () => {
    const file = path.join(dir, 'plain-file');
    fs.writeFileSync(file, 'x');
    const r = quick(['site', '--db', db, '--out', path.join(file, 'site')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/plain-file.*not a directory.*\[BEACON_ERR_OUTPUT\]\n$/);
    const deep = path.join(dir, 'a', 'b', 'c');
    const ok = quick(['monthly', '--db', db, '--month', '2026-10', '--format', 'csv', '--out', deep]);
    expect(ok.code).toBe(0);
    expect(fs.readdirSync(deep).length).toBeGreaterThan(0);
  });
});

describe('CLI output', () => {
  it('`beacon reports monthly` and `reports monthly` are the same command', () => {
    const a = run(BEACON, ['reports', 'monthly', '--db', db, '--month', '2026-10', '--format', 'json']);
    const b = run(REPORTS, ['monthly', '--db', db, '--month', '2026-10', '--format', 'json']);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(JSON.parse(a.stdout).unique_users).toBe(6);
    expect(a.stderr).toBe(''); // no progress on a pipe
  });

  it('--out writes html to a file and csv to a directory of tidy tables', () => {
    const html = path.join(dir, 'r.html');
    expect(run(REPORTS, ['monthly', '--db', db, '--month', '2026-10', '--format', 'html', '--out', html]).code).toBe(0);
    expect(fs.readFileSync(html, 'utf8')).toMatch(/^<!DOCTYPE html>/);
    const csvDir = path.join(dir, 'csv');
    expect(run(REPORTS, ['monthly', '--db', db, '--month', '2026-10', '--format', 'csv', '--out', csvDir]).code).toBe(0);
    expect(fs.readdirSync(csvDir).sort()).toEqual(
      ['breakdowns', 'exit_codes', 'notes', 'quality', 'run_length', 'summary', 'trend', 'uncertainty'].map((n) => `${n}.csv`),
    );
    expect(fs.readFileSync(path.join(csvDir, 'trend.csv'), 'utf8').split('\r\n')[0]).toBe('month,unique_users,runs_started,compute_hours');
  });
});

describe('past months on a second thread (the CLI from dist/)', () => {
  it('gives the same report as computing every month on the main thread', async () => {
    const store = path.join(dir, 'months.db');
    const s = new TestStore(store);
    const rows = [];
    for (const month of [202607, 202608, 202609, 202610]) {
      for (let i = 0; i < 40; i++) {
        rows.push({
          user_id: hexId(`m${(i * month) % 23}`),
          month,
          exit_code: i % 7 === 0 ? 1 : 0,
          duration_ms: 1000 + ((i * 7919) % 100_000),
          has_end: i % 9 === 0 ? 0 : 1,
        });
      }
    }
    s.insert(rows);
    s.close();
    const copy = path.join(dir, 'months-copy.db');
    fs.copyFileSync(store, copy);
    // The CLI (dist/) starts the worker thread for the three uncached past months; in-process under
    // vitest the worker's module is TypeScript source, so the same months are computed inline.
    const cli = run(REPORTS, ['monthly', '--db', store, '--month', '2026-10', '--format', 'json', '--min-users', '2']);
    expect(cli.code).toBe(0);
    const { runReport } = await import('../reports/run-report.js');
    const inline = await runReport({ db: copy, month: '2026-10', format: 'json', minUsers: 2 });
    const strip = (j: string) => ({ ...JSON.parse(j), generated: undefined });
    expect(strip(cli.stdout)).toEqual(strip(inline));
    // html: the CLI renders the charts on its helper thread, in-process they are rendered inline.
    const html = run(REPORTS, ['monthly', '--db', store, '--month', '2026-10', '--format', 'html', '--min-users', '2']);
    expect(html.code).toBe(0);
    expect(html.stdout).toContain('<svg');
    expect(html.stdout).toBe(await runReport({ db: copy, month: '2026-10', format: 'html', minUsers: 2, now: Date.now }));
    const cached = new Database(store, { readonly: true });
    expect((cached.prepare('SELECT count(*) AS n FROM report_month_cache').get() as { n: number }).n).toBeGreaterThanOrEqual(4);
    cached.close();
  }, 30_000);
});

describe('beacon refresh', () => {
  it('after a hand edit of run_facts, reports see it (cached months are recomputed)', () => {
    const store = path.join(dir, 'refresh.db');
    const s = new TestStore(store);
    s.insert(Array.from({ length: 6 }, (_, i) => ({ user_id: hexId(`r${i}`), month: 202610 })));
    s.close();
    const report = () => JSON.parse(run(REPORTS, ['monthly', '--db', store, '--month', '2026-10', '--format', 'json', '--raw']).stdout);
    expect(report().runs_completed).toBe(6);
    // An import that writes run_facts directly: the cached month does not know.
    const db = new Database(store);
    db.prepare('UPDATE run_facts SET exit_code = 3 WHERE user_id = ?').run(hexId('r0'));
    db.close();
    expect(report().exit_codes.find((e: { code: number }) => e.code === 3)).toBeUndefined();
    const r = run(BEACON, ['refresh', '--db', store]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^refreshed the report bookkeeping of .*: 1 months marked changed\n$/);
    expect(report().exit_codes.find((e: { code: number }) => e.code === 3)).toMatchObject({ runs: 1 });
  });

  it('a missing store is a one-line error', () => {
    const r = run(BEACON, ['refresh', '--db', path.join(dir, 'nope.db')]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('BEACON_ERR_DB_MISSING');
  });
});
