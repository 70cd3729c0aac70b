import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { refreshBookkeeping } from '../../src/store/sqlite/bookkeeping.js';
import { currentSchemaVersion } from '../../src/store/sqlite/migrate.js';
import { pruneCommand, type PruneCommandOptions } from '../../src/commands/prune.js';
import { SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION } from '../../src/store/sqlite/migrations.js';
import { runReport } from '../reports/run-report.js';
import { buildSqliteStore, withoutRollupNote } from './prune-fixture.js';

/**
 * `beacon prune` on SQLite: the report of a month is the same before and after its raw runs are
 * rolled up and deleted (every format's numbers, every K, each project), only whole months older
 * than the cutoff go, a second run prunes nothing, and a failure midway leaves the raw runs intact.
 */
const NOW = Date.UTC(2026, 10, 15);
// 2026-11-15 − 214 days = 2026-04-15: January to March ended before it, April did not.
const AGE = '214d';

let cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup) c();
  cleanup = [];
});

async function prune(opts: Partial<PruneCommandOptions> & { db: string }): Promise<string> {
  const chunks: string[] = [];
  const stdout = new Writable({
    write(c, _e, cb) {
      chunks.push(String(c));
      cb();
    },
  });
  await pruneCommand({ olderThan: AGE, now: () => NOW, stdout, ...opts });
  return chunks.join('');
}

function store() {
  const s = buildSqliteStore();
  cleanup.push(() => s.store.db.open && s.store.close());
  return s;
}

const count = (file: string, sql: string, ...p: unknown[]) => {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare(sql).get(...p) as { n: number }).n;
  } finally {
    db.close();
  }
};

/** The reports compared before and after pruning. */
const CASES: { month: string; format: 'json' | 'md'; project?: string; minUsers?: number; raw?: boolean }[] = [
  { month: '2026-03', format: 'json' },
  { month: '2026-03', format: 'md' },
  { month: '2026-03', format: 'json', raw: true },
  { month: '2026-03', format: 'json', minUsers: 2 },
  { month: '2026-03', format: 'json', minUsers: 12 },
  { month: '2026-03', format: 'json', minUsers: 400 },
  { month: '2026-03', format: 'json', project: 'napari' },
  { month: '2026-03', format: 'md', project: 'tiny', minUsers: 2 },
  { month: '2026-03', format: 'json', project: 'nobody' },
  { month: '2026-02', format: 'md' },
  { month: '2026-04', format: 'json' },
  { month: '2026-04', format: 'md', project: 'parsl' },
];

async function reports(db: string): Promise<string[]> {
  const out: string[] = [];
  for (const c of CASES) out.push(await runReport({ db, ...c }));
  return out;
}

describe('beacon prune (SQLite)', () => {
  it('reports made after pruning equal the reports made before, except the note saying so', async () => {
    const { file, store: s } = store();
    s.close();
    const before = await reports(file);
    expect(JSON.parse(before[0]!).runs).toBeGreaterThan(100);
    expect(JSON.parse(before[0]!).source).toEqual({ month: 'runs', months_from_rollups: [] });

    const text = await prune({ db: file });
    expect(text.trim().split('\n')).toEqual([
      expect.stringMatching(/^2026-01 {2}pruned {2}\d+ raw runs deleted, 4 rollups \(all projects \+ 3 projects\) kept$/),
      expect.stringMatching(/^2026-02 {2}pruned /),
      expect.stringMatching(/^2026-03 {2}pruned /),
    ]);
    expect(count(file, 'SELECT count(*) AS n FROM run_facts WHERE month < 202604')).toBe(0);
    expect(count(file, 'SELECT count(*) AS n FROM run_facts WHERE month = 202604')).toBeGreaterThan(200);

    const after = await reports(file);
    for (const [i, c] of CASES.entries()) {
      const pruned = c.month !== '2026-04';
      // Reports of April also changed source for their trend months (January to March).
      expect(after[i] !== before[i], `${JSON.stringify(c)} says where its numbers come from`).toBe(true);
      expect(withoutRollupNote(c.format, after[i]!), JSON.stringify(c)).toBe(withoutRollupNote(c.format, before[i]!));
      if (c.format === 'json') {
        expect(JSON.parse(after[i]!).source).toEqual({
          month: pruned ? 'rollups' : 'runs',
          months_from_rollups: ['2026-01', '2026-02', '2026-03'].filter((m) => m <= c.month),
        });
      } else {
        expect(after[i]).toMatch(/^> .*rollups/m);
      }
    }
    // The html and csv formats carry the note too.
    expect(await runReport({ db: file, month: '2026-03', format: 'html' })).toMatch(/<p>[^<]*rollups/);
    expect(await runReport({ db: file, month: '2026-03', format: 'csv' })).toMatch(/rollups/);
  }, 120_000);

  it('prunes only whole months older than the cutoff, and a month with a late datagram waits', async () => {
    const { file, store: s } = store();
    // A March run whose end arrived on 2026-04-20, after the cutoff: March is not done yet.
    s.db
      .prepare('UPDATE run_facts SET end_seen_ms = ? WHERE run = (SELECT min(run) FROM run_facts WHERE month = 202603)')
      .run(Date.UTC(2026, 3, 20));
    s.close();
    const first = JSON.parse(await prune({ db: file, json: true }));
    expect(first.cutoff).toBe('2026-04-15T00:00:00.000Z');
    expect(first.months.map((m: { month: string; action: string }) => `${m.month} ${m.action}`)).toEqual([
      '2026-01 pruned',
      '2026-02 pruned',
      '2026-03 kept',
    ]);
    expect(first.months[2].reason).toContain('2026-04-20');
    expect(count(file, 'SELECT count(*) AS n FROM run_facts WHERE month = 202603')).toBe(first.months[2].runs);
    // Older than 100 days at 2026-11-15: cutoff 2026-08-07, so March and April go; no month after.
    const later = JSON.parse(await prune({ db: file, json: true, olderThan: '100d' }));
    expect(later.months.map((m: { month: string; action: string }) => `${m.month} ${m.action}`)).toEqual([
      '2026-03 pruned',
      '2026-04 pruned',
    ]);
    expect(count(file, 'SELECT count(*) AS n FROM pruned_months')).toBe(4);
    // A month that has not ended is never pruned, however short the age.
    const hours = await prune({ db: file, olderThan: '1h', now: () => Date.UTC(2026, 4, 20) });
    expect(hours).toMatch(/^nothing to prune/);
  }, 120_000);

  it('is idempotent: a second run prunes nothing and changes no rollup', async () => {
    const { file, store: s } = store();
    s.close();
    await prune({ db: file });
    const snapshot = () => {
      const db = new Database(file, { readonly: true });
      try {
        return db.prepare('SELECT month, scope, runs, data, created_ms FROM monthly_rollups ORDER BY month, scope').all();
      } finally {
        db.close();
      }
    };
    const rollups = snapshot();
    expect(rollups.length).toBe(12);
    expect(await prune({ db: file, now: () => NOW + 60_000 })).toBe(
      'nothing to prune: no raw runs in months that ended before the cutoff 2026-04-15T00:01:00.000Z\n',
    );
    expect(snapshot()).toEqual(rollups);
  }, 120_000);

  it('one transaction per month: a failure before the DELETE leaves that month’s raw runs and no rollup', async () => {
    const { file, store: s } = store();
    s.close();
    const before = await runReport({ db: file, month: '2026-03', format: 'json' });
    const feb = count(file, 'SELECT count(*) AS n FROM run_facts WHERE month = 202602');
    const failing = prune({
      db: file,
      beforeDelete: (m) => {
        if (m.label === '2026-02') throw new Error('injected failure');
      },
    });
    await expect(failing).rejects.toThrow('injected failure');
    expect(count(file, 'SELECT count(*) AS n FROM run_facts WHERE month = 202602')).toBe(feb);
    expect(count(file, 'SELECT count(*) AS n FROM monthly_rollups WHERE month = 202602')).toBe(0);
    expect(count(file, 'SELECT count(*) AS n FROM pruned_months WHERE month = 202602')).toBe(0);
    // January, before the failure, was committed on its own.
    expect(count(file, 'SELECT count(*) AS n FROM pruned_months')).toBe(1);
    expect(count(file, 'SELECT count(*) AS n FROM run_facts WHERE month = 202601')).toBe(0);
    const again = await prune({ db: file });
    expect(
      again
        .trim()
        .split('\n')
        .map((l) => l.slice(0, 15)),
    ).toEqual(['2026-02  pruned', '2026-03  pruned']);
    expect(withoutRollupNote('json', await runReport({ db: file, month: '2026-03', format: 'json' }))).toBe(
      withoutRollupNote('json', before),
    );
  }, 120_000);

  it('a run written between computing the rollups and deleting is rolled up too, not lost', async () => {
    const { file, store: s } = store();
    s.close();
    const before = JSON.parse(await runReport({ db: file, month: '2026-02', format: 'json', raw: true }));
    let wrote = false;
    await prune({
      db: file,
      afterPlan: (m) => {
        if (m.label !== '2026-02') return;
        // Another connection, as a receiver would be: a late end of a February run.
        const w = new Database(file);
        w.prepare(
          'UPDATE run_facts SET has_end = 1, end_seen_ms = ?, exit_code = 0, duration_ms = 5000 WHERE run = (SELECT min(run) FROM run_facts WHERE month = 202602 AND has_end = 0 AND user_id IS NOT NULL)',
        ).run(Date.UTC(2026, 3, 1));
        refreshBookkeeping(w);
        w.close();
        wrote = true;
      },
    });
    expect(wrote).toBe(true);
    expect(count(file, 'SELECT count(*) AS n FROM run_facts WHERE month = 202602')).toBe(0);
    const after = JSON.parse(await runReport({ db: file, month: '2026-02', format: 'json', raw: true }));
    expect(after.source.month).toBe('rollups');
    expect(after.runs_completed).toBe(before.runs_completed + 1);
    expect(after.runs).toBe(before.runs);
  }, 120_000);

  it('migrates a version-2 store with data to version 3 and prunes it', async () => {
    const { file, store: s } = buildSqliteStore(SQLITE_MIGRATIONS.slice(0, 2));
    expect(currentSchemaVersion(s.db)).toBe(2);
    s.close();
    const before = await runReport({ db: file, month: '2026-02', format: 'md' });
    await prune({ db: file });
    const db = new Database(file, { readonly: true });
    expect(currentSchemaVersion(db)).toBe(SQLITE_SCHEMA_VERSION);
    db.close();
    expect(withoutRollupNote('md', await runReport({ db: file, month: '2026-02', format: 'md' }))).toBe(withoutRollupNote('md', before));
  }, 120_000);
});
