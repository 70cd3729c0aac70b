// Phase report_time of bench/postgres.mjs: `reports monthly` on PostgreSQL against the same
// synthetic store as the SQLite reports benchmark (bench/synthetic-store.mjs: 12M runs, 1M in the
// reported month, 50k users), each measurement a separate process of the real CLI, SQLite and
// PostgreSQL interleaved in one run so the ratio sees the same machine noise. Target: ≤ 2× SQLite.
//
// The PostgreSQL copy is loaded once from the SQLite file (batched INSERT … SELECT FROM unnest of
// column arrays, month by month, schema v1 first and the later migrations after, as on a real
// upgrade) into schema bench_reports_12m_g<generator version>, which is kept between runs like
// bench/out/ keeps the SQLite file; drop it to reload. Both stores are settled first (their
// settled-run aggregates brought up to date, as running receivers keep them). Situations as in
// bench/reports.mjs:
//   warm       everything cached (report_month_cache) — a re-run, another format
//   new_month  the reported and the previous month computed, the 10 older months cached
//   cold       all 12 months computed (only with BENCH_REPORT_COLD=1: minutes on this machine)
// Environment: BENCH_PG_URL, BENCH_REPORT_REPS (default 3), BENCH_REPORT_COLD.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { migrateSqlite } from '../../dist/store/sqlite/migrate.js';
import { migratePostgres } from '../../dist/store/postgres/migrate.js';
import { settleAll } from '../../dist/store/sqlite/settle.js';
import { settlePostgresAll } from '../../dist/store/postgres/settle.js';
import { withDefaultUser } from '../../dist/store/postgres/connection.js';
import { POSTGRES_MIGRATIONS } from '../../dist/store/postgres/migrations.js';
import { SQLITE_MIGRATIONS } from '../../dist/store/sqlite/migrations.js';
import { ensureSyntheticStore, GENERATOR_VERSION, TARGET_MONTH } from '../synthetic-store.mjs';
import { BASE_URL } from './pg-schema.mjs';
import { median } from './stats.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const dbFile = path.join(here, '../out/reports-12m.db');
const cli = path.join(here, '../../dist/cli/reports.js');
const SCHEMA = `bench_reports_12m_g${GENERATOR_VERSION}`;
const MONTH = `${Math.floor(TARGET_MONTH / 100)}-${String(TARGET_MONTH % 100).padStart(2, '0')}`;
const PREV = TARGET_MONTH % 100 === 1 ? TARGET_MONTH - 89 : TARGET_MONTH - 1;
const BATCH = 20_000;

const COLS = [
  ['run', 'text'],
  ['project', 'text'],
  ['format', 'text'],
  ['user_id', 'text'],
  ['host_id', 'text'],
  ['script_id', 'text'],
  ['weak_ids', 'int'],
  ['eph', 'int'],
  ['version', 'text'],
  ['runtime', 'text'],
  ['os', 'text'],
  ['arch', 'text'],
  ['ci', 'int'],
  ['components', 'jsonb'],
  ['first_seen_ms', 'bigint'],
  ['month', 'int'],
  ['start_seen_ms', 'bigint'],
  ['end_seen_ms', 'bigint'],
  ['client_start_ms', 'bigint'],
  ['client_end_ms', 'bigint'],
  ['exit_code', 'int'],
  ['duration_ms', 'bigint'],
  ['has_start', 'int'],
  ['has_end', 'int'],
];
const INSERT = `INSERT INTO run_facts (${COLS.map(([c]) => c).join(', ')})
SELECT ${COLS.map(([c, t]) => (t === 'jsonb' ? `${c}::jsonb` : c)).join(', ')}
FROM unnest(${COLS.map(([, t], i) => `$${i + 1}::${t === 'jsonb' ? 'text' : t}[]`).join(', ')}) AS u(${COLS.map(([c]) => c).join(', ')})`;

function schemaUrl() {
  const u = new URL(BASE_URL);
  u.searchParams.set('options', `-c search_path=${SCHEMA}`);
  return u.toString();
}

async function ensurePostgresCopy(log) {
  const url = schemaUrl();
  const pool = new pg.Pool({ connectionString: withDefaultUser(url), max: 1 });
  try {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`);
    const done = await pool.query(`SELECT to_regclass('bench_loaded')::text AS t`);
    if (done.rows[0].t) return { url, load_s: 0 };
    const t0 = Date.now();
    await pool.query(`DROP SCHEMA ${SCHEMA} CASCADE; CREATE SCHEMA ${SCHEMA}`);
    await migratePostgres(pool, POSTGRES_MIGRATIONS.slice(0, 1));
    const lite = new Database(dbFile, { readonly: true });
    try {
      const months = lite
        .prepare('SELECT DISTINCT month FROM run_facts ORDER BY month')
        .all()
        .map((r) => r.month);
      const stmt = lite.prepare(`SELECT ${COLS.map(([c]) => c).join(', ')} FROM run_facts WHERE month = ?`).raw(true);
      for (const m of months) {
        const t = Date.now();
        let cols = COLS.map(() => []);
        const flush = async () => {
          if (cols[0].length) await pool.query(INSERT, cols);
          cols = COLS.map(() => []);
        };
        for (const row of stmt.iterate(m)) {
          for (let i = 0; i < row.length; i++) cols[i].push(typeof row[i] === 'bigint' ? String(row[i]) : row[i]);
          if (cols[0].length >= BATCH) await flush();
        }
        await flush();
        log(`loaded month ${m} into PostgreSQL in ${Date.now() - t} ms`);
      }
      const counters = lite.prepare('SELECT day, name, value FROM daily_counters').all();
      await pool.query('INSERT INTO daily_counters SELECT * FROM json_populate_recordset(null::daily_counters, $1::json)', [
        JSON.stringify(counters),
      ]);
    } finally {
      lite.close();
    }
    await migratePostgres(pool);
    await pool.query('ANALYZE');
    await pool.query('CREATE TABLE bench_loaded (loaded_ms bigint)');
    await pool.query('INSERT INTO bench_loaded VALUES ($1)', [Date.now()]);
    return { url, load_s: (Date.now() - t0) / 1000 };
  } finally {
    await pool.end();
  }
}

function runCli(args) {
  const file = path.join(os.tmpdir(), `bench-report-${process.pid}.json`);
  const t = process.hrtime.bigint();
  const r = spawnSync(
    '/usr/bin/time',
    ['-f', 'maxrss_kb=%M', process.execPath, cli, 'monthly', '--month', MONTH, '--format', 'json', '--out', file, ...args],
    { encoding: 'utf8' },
  );
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`reports monthly ${args.join(' ')} failed: ${r.stderr}`);
  const text = fs.readFileSync(file, 'utf8');
  fs.rmSync(file, { force: true });
  return { seconds, rss_mb: Number(/maxrss_kb=(\d+)/.exec(r.stderr)?.[1] ?? 0) / 1024, text };
}

export async function reportTimePhase(log = (m) => process.stderr.write(`${m}\n`)) {
  // Both stores with their settled-run aggregates current, as running receivers keep them.
  fs.mkdirSync(path.dirname(dbFile), { recursive: true });
  ensureSyntheticStore(dbFile, migrateSqlite, SQLITE_MIGRATIONS, log, settleAll);
  const { url, load_s } = await ensurePostgresCopy(log);
  const pool = new pg.Pool({ connectionString: withDefaultUser(url), max: 1 });
  const settleStart = Date.now();
  const settled = [...(await settlePostgresAll(pool))].filter(([, o]) => o !== 'unchanged');
  const settle_s = (Date.now() - settleStart) / 1000;
  if (settled.length) log(`settled ${settled.length} PostgreSQL months in ${settle_s} s`);
  const reps = Number(process.env.BENCH_REPORT_REPS ?? 3);
  const args = { sqlite: ['--db', dbFile], postgres: ['--store', url] };
  const clearSqlite = (sql, p) => {
    const db = new Database(dbFile);
    db.prepare(sql).run(...p);
    db.close();
  };
  const clears = {
    warm: null,
    new_month: {
      sqlite: ['DELETE FROM report_month_cache WHERE month IN (?, ?)', [TARGET_MONTH, PREV]],
      postgres: ['DELETE FROM report_month_cache WHERE month IN ($1, $2)', [TARGET_MONTH, PREV]],
    },
    cold: { sqlite: ['DELETE FROM report_month_cache', []], postgres: ['DELETE FROM report_month_cache', []] },
  };
  const situations = ['warm', 'new_month', ...(process.env.BENCH_REPORT_COLD === '1' ? ['cold'] : [])];
  const results = {};
  let identical = true;
  try {
    // Fill both caches first: the warm figures are steady state, as in bench/reports.mjs.
    const first = { sqlite: runCli(args.sqlite).text, postgres: runCli(args.postgres).text };
    identical = first.sqlite === first.postgres;
    for (const s of situations) {
      const samples = { sqlite: [], postgres: [] };
      for (let i = 0; i < (s === 'cold' ? 1 : reps); i++) {
        for (const kind of ['sqlite', 'postgres']) {
          const c = clears[s]?.[kind];
          if (c && kind === 'sqlite') clearSqlite(c[0], c[1]);
          if (c && kind === 'postgres') await pool.query(c[0], c[1]);
          const r = runCli(args[kind]);
          identical &&= r.text === first[kind];
          samples[kind].push(r);
        }
      }
      const sum = (xs) => ({
        median_s: +median(xs.map((x) => x.seconds)).toFixed(3),
        all_s: xs.map((x) => +x.seconds.toFixed(3)),
        peak_rss_mb: Math.round(Math.max(...xs.map((x) => x.rss_mb))),
      });
      results[s] = { sqlite: sum(samples.sqlite), postgres: sum(samples.postgres) };
      results[s].postgres_vs_sqlite = +(results[s].postgres.median_s / results[s].sqlite.median_s).toFixed(2);
      results[s].meets_target = results[s].postgres_vs_sqlite <= 2;
      log(`report ${s}: sqlite ${results[s].sqlite.median_s} s, postgres ${results[s].postgres.median_s} s`);
    }
  } finally {
    await pool.end();
  }
  return {
    what: '`reports monthly --format json` on the synthetic 12M-run store, SQLite (--db) vs PostgreSQL (--store), real CLI processes',
    month: MONTH,
    postgres_schema: SCHEMA,
    load_s,
    // Settling the PostgreSQL copy before measuring (0 months when a previous run left it settled).
    settle: { months: settled.length, seconds: settle_s },
    reps,
    target: 'postgres ≤ 2× sqlite',
    same_report_bytes: identical,
    results,
  };
}
