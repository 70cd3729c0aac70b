import { Writable } from 'node:stream';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { postgresSchemaVersion } from '../../src/store/postgres/migrate.js';
import { withDefaultUser } from '../../src/store/postgres/connection.js';
import { POSTGRES_MIGRATIONS, POSTGRES_SCHEMA_VERSION } from '../../src/store/postgres/migrations.js';
import { pruneCommand, type PruneCommandOptions } from '../../src/commands/prune.js';
import { runReport } from '../reports/run-report.js';
import { createTestSchema, type TestSchema } from '../store/postgres/helpers.js';
import { buildSqliteStore, copyToPostgres, withoutRollupNote } from './prune-fixture.js';

/**
 * `beacon prune --store postgres://…`: the same store content as the SQLite prune tests, copied
 * into a PostgreSQL schema left at version 2 (prune migrates it). Reports before and after
 * pruning are equal, and byte-identical to the SQLite store's reports at every step.
 */
const NOW = Date.UTC(2026, 10, 15);
const AGE = '214d';

let schemas: TestSchema[] = [];
afterEach(async () => {
  for (const s of schemas) await s.drop();
  schemas = [];
});

async function prune(opts: Partial<PruneCommandOptions>): Promise<string> {
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

async function setup(migrations = POSTGRES_MIGRATIONS) {
  const s = await createTestSchema();
  schemas.push(s);
  const lite = buildSqliteStore();
  await copyToPostgres(lite.store, s.admin, migrations);
  lite.store.close();
  return { s, file: lite.file };
}

const n = async (s: TestSchema, sql: string) => (await s.admin.query(sql)).rows[0].n as number;

const CASES: { month: string; format: 'json' | 'md'; project?: string; minUsers?: number; raw?: boolean }[] = [
  { month: '2026-03', format: 'json' },
  { month: '2026-03', format: 'md' },
  { month: '2026-03', format: 'json', raw: true },
  { month: '2026-03', format: 'json', minUsers: 12 },
  { month: '2026-03', format: 'md', project: 'napari' },
  { month: '2026-04', format: 'json' },
];

async function reports(where: { db: string } | { store: string }): Promise<string[]> {
  const out: string[] = [];
  for (const c of CASES) out.push(await runReport({ db: '/nonexistent.db', ...where, ...c }));
  return out;
}

describe('beacon prune (PostgreSQL)', () => {
  it('migrates a v2 store, prunes it, and its reports stay equal — and equal to SQLite’s, byte for byte', async () => {
    const { s, file } = await setup(POSTGRES_MIGRATIONS.slice(0, 2));
    const before = await reports({ store: s.url });
    expect(before).toEqual(await reports({ db: file }));

    const text = await prune({ store: s.url });
    expect(await postgresSchemaVersion(s.admin)).toBe(POSTGRES_SCHEMA_VERSION);
    expect(text).toBe(await prune({ db: file }));
    expect(
      text
        .trim()
        .split('\n')
        .map((l) => l.slice(0, 15)),
    ).toEqual(['2026-01  pruned', '2026-02  pruned', '2026-03  pruned']);
    expect(await n(s, 'SELECT count(*)::int AS n FROM run_facts WHERE month < 202604')).toBe(0);
    expect(await n(s, 'SELECT count(*)::int AS n FROM monthly_rollups')).toBe(12);

    const after = await reports({ store: s.url });
    for (const [i, c] of CASES.entries()) {
      expect(withoutRollupNote(c.format, after[i]!), JSON.stringify(c)).toBe(withoutRollupNote(c.format, before[i]!));
    }
    expect(JSON.parse(after[0]!).source.month).toBe('rollups');
    // The SQLite copy was pruned by the same command: the two stores still report identically.
    expect(after).toEqual(await reports({ db: file }));
    // Idempotent.
    expect(await prune({ store: s.url })).toMatch(/^nothing to prune/);
  }, 180_000);

  it('a failure inside the month’s transaction rolls everything back', async () => {
    const { s } = await setup();
    const jan = await n(s, 'SELECT count(*)::int AS n FROM run_facts WHERE month = 202601');
    await expect(
      prune({
        store: s.url,
        beforeDelete: () => {
          throw new Error('injected failure');
        },
      }),
    ).rejects.toThrow('injected failure');
    expect(await n(s, 'SELECT count(*)::int AS n FROM run_facts WHERE month = 202601')).toBe(jan);
    expect(await n(s, 'SELECT count(*)::int AS n FROM monthly_rollups')).toBe(0);
    expect(await n(s, 'SELECT count(*)::int AS n FROM pruned_months')).toBe(0);
  }, 120_000);

  it('a late end written while the rollups were computed is rolled up too, not lost', async () => {
    const { s } = await setup();
    const before = JSON.parse(await runReport({ db: '/nonexistent.db', store: s.url, month: '2026-02', format: 'json', raw: true }));
    await prune({
      store: s.url,
      afterPlan: async (m) => {
        if (m.label !== '2026-02') return;
        await s.admin.query(
          `UPDATE run_facts SET has_end = 1, end_seen_ms = $1, exit_code = 0, duration_ms = 5000
          WHERE run = (SELECT min(run) FROM run_facts WHERE month = 202602 AND has_end = 0 AND user_id IS NOT NULL)`,
          [Date.UTC(2026, 3, 1)],
        );
      },
    });
    expect(await n(s, 'SELECT count(*)::int AS n FROM run_facts WHERE month = 202602')).toBe(0);
    const after = JSON.parse(await runReport({ db: '/nonexistent.db', store: s.url, month: '2026-02', format: 'json', raw: true }));
    expect(after.source.month).toBe('rollups');
    expect(after.runs_completed).toBe(before.runs_completed + 1);
  }, 120_000);

  it('an empty schema is migrated from nothing and has nothing to prune', async () => {
    const s = await createTestSchema();
    schemas.push(s);
    expect(await prune({ store: s.url })).toBe(
      'nothing to prune: no raw runs in months that ended before the cutoff 2026-04-15T00:00:00.000Z\n',
    );
    const c = new pg.Client({ connectionString: withDefaultUser(s.url) });
    await c.connect();
    try {
      expect(await postgresSchemaVersion(c)).toBe(POSTGRES_SCHEMA_VERSION);
    } finally {
      await c.end();
    }
  }, 60_000);
});
