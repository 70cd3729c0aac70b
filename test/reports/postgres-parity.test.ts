import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { openStore } from '../../src/store/open-store.js';
import { withDefaultUser } from '../../src/store/postgres/connection.js';
import { settlePostgresAll, settlePostgresMonth } from '../../src/store/postgres/settle.js';
import type { IngestRecord } from '../../src/store/types.js';
import { hexId, tempDir } from './store-fixture.js';
import { runReport } from './run-report.js';
import { runPeriod } from './run-period.js';
import { pruneCommand } from '../../src/commands/prune.js';
import { buildSite } from '../../src/commands/site.js';
import { Writable } from 'node:stream';

/**
 * The same datagrams stored through the real SQLite and PostgreSQL stores (127.0.0.1:5432, db
 * `test`, in a schema of its own) must give the same report, byte for byte, in every format.
 */
const ADMIN = 'postgres://postgres@127.0.0.1:5432/test';
const schema = `reports_parity_${process.pid}`;
const pgUrl = `postgres://127.0.0.1:5432/test?options=-csearch_path%3D${schema}`;
let dir: string;
let db: string;

function records(): IngestRecord[] {
  const out: IngestRecord[] = [];
  for (let i = 0; i < 60; i++) {
    const month = i < 20 ? 202609 : 202610;
    const idless = i % 10 === 9;
    for (const kind of i % 13 === 0 ? (['end'] as const) : i % 11 === 0 ? (['start'] as const) : (['start', 'end'] as const)) {
      const ms = Date.UTC(2026, (month % 100) - 1, 1 + (i % 28), 12) + (kind === 'end' ? 60_000 : 0);
      out.push({
        run: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        kind,
        project: i % 5 === 4 ? 'other' : 'parsl',
        format: idless ? 'parsl-1' : 'native',
        user_id: idless ? null : hexId(`u${i % 9}`),
        host_id: idless ? null : hexId(`h${i % 4}`),
        script_id: idless ? null : hexId(`s${i % 12}`),
        weak_ids: false,
        eph: i % 17 === 0,
        version: `1.${i % 4}.0`,
        runtime: 'python/3.12.1',
        os: i % 3 ? 'linux' : 'darwin',
        arch: 'x64',
        ci: idless ? null : i % 4 === 0,
        components: JSON.stringify({ executors: 1 + (i % 3), provider: i % 2 ? 'slurm' : 'local' }),
        seen_ms: ms,
        month,
        client_ms: ms,
        exit_code: kind === 'end' && !idless ? (i % 7 === 0 ? 137 : 0) : null,
        duration_ms: kind === 'end' ? 1000 * (5 + i * 37) : null,
      });
    }
  }
  return out;
}

beforeAll(async () => {
  dir = tempDir();
  db = path.join(dir, 'usage.db');
  const admin = new pg.Client({ connectionString: ADMIN });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`);
  await admin.end();
  for (const loc of [{ db }, { db, store: pgUrl }]) {
    const store = await openStore(loc);
    await store.writeBatch(records(), [{ day: '2026-10-03', counts: { received: 200, 'rejected.schema': 3 } }]);
    await store.close();
  }
});

afterAll(async () => {
  const admin = new pg.Client({ connectionString: ADMIN });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('SQLite and PostgreSQL give the same report', () => {
  for (const format of ['json', 'md', 'csv', 'html'] as const) {
    it(format, async () => {
      const opts = { month: '2026-10', format, minUsers: 2 };
      const fromSqlite = await runReport({ db, ...opts });
      const fromPostgres = await runReport({ db, store: pgUrl, ...opts });
      expect(fromPostgres).toBe(fromSqlite);
      if (format === 'json') expect(JSON.parse(fromSqlite).runs_completed).toBeGreaterThan(0);
    });
  }
  it('per project too, and again from the cache', async () => {
    for (let i = 0; i < 2; i++) {
      const opts = { month: '2026-10', project: 'parsl', format: 'json' as const, minUsers: 2 };
      expect(await runReport({ db, store: pgUrl, ...opts })).toBe(await runReport({ db, ...opts }));
    }
  });
});

describe('SQLite and PostgreSQL give the same period report', () => {
  for (const format of ['json', 'md', 'csv', 'html'] as const) {
    it(format, async () => {
      const opts = { from: '2026-09', to: '2026-10', format, minUsers: 2 };
      const fromSqlite = await runPeriod({ db, ...opts });
      expect(await runPeriod({ db, store: pgUrl, ...opts })).toBe(fromSqlite);
      if (format === 'json') expect(JSON.parse(fromSqlite).distinct.method).toBe('exact');
    });
  }
  it('per project, and over a calendar year', async () => {
    for (const opts of [{ from: '2026-09', to: '2026-10', project: 'parsl' }, { year: '2026' }]) {
      expect(await runPeriod({ db, store: pgUrl, ...opts, minUsers: 2 })).toBe(await runPeriod({ db, ...opts, minUsers: 2 }));
    }
  });
  it('after a late write to a cached month, both stores recompute it and still agree', async () => {
    const opts = { from: '2026-09', to: '2026-10', format: 'json' as const, minUsers: 2 };
    const before = JSON.parse(await runPeriod({ db, ...opts }));
    const late = records()[0]!;
    for (const loc of [{ db }, { db, store: pgUrl }]) {
      const store = await openStore(loc);
      await store.writeBatch([{ ...late, run: '00000000-0000-4000-8000-0000000000aa', user_id: hexId('late-user'), exit_code: 3 }], []);
      await store.close();
    }
    const fromSqlite = await runPeriod({ db, ...opts });
    expect(await runPeriod({ db, store: pgUrl, ...opts })).toBe(fromSqlite);
    expect(JSON.parse(fromSqlite).unique_users).toBe(before.unique_users + 1);
  });
});

describe('SQLite and PostgreSQL give the same site (reports site)', () => {
  it('every file byte for byte, and both re-runs write nothing', async () => {
    const now = () => Date.UTC(2026, 10, 15);
    const quiet = new Writable({
      write(_c, _e, cb) {
        cb();
      },
    });
    const outs = [path.join(dir, 'site-sqlite'), path.join(dir, 'site-postgres')];
    const first = [
      await buildSite({ out: outs[0]!, db, minUsers: 2, now, stdout: quiet }),
      await buildSite({ out: outs[1]!, db, store: pgUrl, minUsers: 2, now, stdout: quiet }),
    ];
    expect(first[1]!.written).toEqual(first[0]!.written);
    expect(first[0]!.written.length).toBeGreaterThan(4);
    const files = (d: string) =>
      (fs.readdirSync(d, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(d, f)).isFile()).sort();
    expect(files(outs[1]!)).toEqual(files(outs[0]!));
    for (const f of files(outs[0]!))
      expect(fs.readFileSync(path.join(outs[1]!, f)).equals(fs.readFileSync(path.join(outs[0]!, f))), f).toBe(true);
    const again = [
      await buildSite({ out: outs[0]!, db, minUsers: 2, now, stdout: quiet }),
      await buildSite({ out: outs[1]!, db, store: pgUrl, minUsers: 2, now, stdout: quiet }),
    ];
    expect(again.map((r) => r.written)).toEqual([[], []]);
  });
});

describe('PostgreSQL reports through settled-run aggregates (schema v5)', () => {
  const reportsOf = async (store?: string) => {
    const out: string[] = [];
    for (const format of ['json', 'csv'] as const) {
      out.push(await runReport({ db, store, month: '2026-10', format, minUsers: 2 }));
      out.push(await runReport({ db, store, month: '2026-10', project: 'parsl', format, minUsers: 2 }));
    }
    out.push(await runPeriod({ db, store, from: '2026-09', to: '2026-10', format: 'json', minUsers: 2 }));
    return out;
  };
  /** Both stores, cached summaries dropped, so each report is computed now. */
  const both = async () => {
    const pool = new pg.Pool({ connectionString: withDefaultUser(pgUrl) });
    await pool.query('DELETE FROM report_month_cache');
    await pool.end();
    const lite = new Database(db);
    lite.exec('DELETE FROM report_month_cache');
    lite.close();
    return { fromSqlite: await reportsOf(), fromPostgres: await reportsOf(pgUrl) };
  };
  /** New runs of October: for every third run both halves (it settles), else only its first datagram. */
  const more = (from: number): IngestRecord[] =>
    records()
      .filter((r) => r.month === 202610)
      .filter((r, i, all) => i % 3 === 0 || all.findIndex((x) => x.run === r.run) === i)
      .map((r) => ({ ...r, run: r.run.replace('-8000-', '-9000-').replace(/\d{4}$/, (d) => String(from + Number(d)).padStart(4, '0')) }));

  it('gives the same report as grouping every run, after settling, more writes, a delete and a hand edit', async () => {
    const pool = new pg.Pool({ connectionString: withDefaultUser(pgUrl) });
    try {
      const first = await settlePostgresAll(pool);
      expect(first.get(202610)).toBe('rebuilt');
      expect(Number((await pool.query('SELECT count(*) AS n FROM report_settled_groups WHERE month = 202610')).rows[0].n)).toBeGreaterThan(
        0,
      );
      let r = await both();
      expect(r.fromPostgres).toEqual(r.fromSqlite);

      // The aggregates are really read: doubled, the report changes.
      await pool.query('UPDATE report_settled_groups SET runs = runs * 2 WHERE month = 202610');
      r = await both();
      expect(r.fromPostgres).not.toEqual(r.fromSqlite);
      await pool.query('DELETE FROM report_settled_months');
      expect((await settlePostgresAll(pool)).get(202610)).toBe('rebuilt');
      r = await both();
      expect(r.fromPostgres).toEqual(r.fromSqlite);

      // New runs and ends after the cut are read live; a second settle extends the aggregates.
      for (const loc of [{ db }, { db, store: pgUrl }]) {
        const store = await openStore(loc);
        await store.writeBatch(more(1000), []);
        await store.close();
      }
      r = await both();
      expect(r.fromPostgres).toEqual(r.fromSqlite);
      expect((await settlePostgresAll(pool)).get(202610)).toBe('extended');
      expect((await settlePostgresAll(pool)).get(202610)).toBe('unchanged');
      r = await both();
      expect(r.fromPostgres).toEqual(r.fromSqlite);

      // A delete and a hand edit of settled runs (done to both stores) make the aggregates stale.
      const lite = new Database(db);
      for (const sql of [
        "DELETE FROM run_facts WHERE run = '00000000-0000-4000-8000-000000000030'",
        "UPDATE run_facts SET exit_code = 3 WHERE run = '00000000-0000-4000-8000-000000000031'",
      ]) {
        lite.exec(sql);
        await pool.query(sql);
        r = await both();
        expect(r.fromPostgres).toEqual(r.fromSqlite);
      }
      lite.close();
      expect((await settlePostgresAll(pool)).get(202610)).toBe('rebuilt');
      r = await both();
      expect(r.fromPostgres).toEqual(r.fromSqlite);
    } finally {
      await pool.end();
    }
  }, 180_000);

  it('two settles of one month at once: one waits its turn (advisory lock), the aggregates stay right', async () => {
    const pool = new pg.Pool({ connectionString: withDefaultUser(pgUrl), max: 4 });
    try {
      const outcomes = await Promise.all([settlePostgresMonth(pool, 202610), settlePostgresMonth(pool, 202610)]);
      expect(outcomes.every((o) => ['raced', 'unchanged', 'extended', 'rebuilt'].includes(o))).toBe(true);
      const r = await both();
      expect(r.fromPostgres).toEqual(r.fromSqlite);
    } finally {
      await pool.end();
    }
  });
});

describe('after beacon prune, SQLite and PostgreSQL still agree (sketches with the same key)', () => {
  it('the period report estimates the same distinct counts from the same registers', async () => {
    // Each store makes its own random sketch key; give both the same one, as a copied store would have.
    const key = 'ab'.repeat(32);
    const lite = new Database(db);
    lite.prepare('UPDATE sketch_key SET key = ?').run(key);
    lite.close();
    const pool = new pg.Pool({ connectionString: withDefaultUser(pgUrl) });
    await pool.query('UPDATE sketch_key SET key = $1', [key]);
    await pool.end();
    const now = () => Date.UTC(2026, 10, 15);
    const sink = new Writable({
      write(_c, _e, cb) {
        cb();
      },
    });
    for (const loc of [{ db }, { db, store: pgUrl }]) await pruneCommand({ ...loc, olderThan: '40d', now, stdout: sink });
    for (const format of ['json', 'md'] as const) {
      const opts = { from: '2026-09', to: '2026-10', format, minUsers: 2 };
      const fromSqlite = await runPeriod({ db, ...opts });
      expect(await runPeriod({ db, store: pgUrl, ...opts })).toBe(fromSqlite);
      if (format === 'json') {
        const r = JSON.parse(fromSqlite);
        expect(r.source.months_from_rollups).toEqual(['2026-09']);
        expect(r.distinct.method).toBe('estimate');
      }
    }
  });
});
