// Builds the synthetic store for bench/reports.mjs: 12 months × 1M runs, 50k users, generated in
// SQL by a recursive CTE (one INSERT per month, one process) so 12M rows take a minute, not an hour.
// Values come from integer hashes of the row number, so the file is the same on every machine.
import Database from 'better-sqlite3';
import fs from 'node:fs';

export const GENERATOR_VERSION = 7;
export const MONTHS = 12;
// BENCH_RUNS_PER_MONTH scales the store down (or up) for a slow machine; users scale with it.
export const RUNS_PER_MONTH = Number(process.env.BENCH_RUNS_PER_MONTH ?? 1_000_000);
export const USERS = Math.max(100, Math.round(RUNS_PER_MONTH / 20));
export const TARGET_MONTH = 202610;

/** YYYYMM of the i-th month (0 = oldest) ending at TARGET_MONTH. */
export function monthOf(i) {
  const t = Math.floor(TARGET_MONTH / 100) * 12 + (TARGET_MONTH % 100) - 1 - (MONTHS - 1 - i);
  return Math.floor(t / 12) * 100 + (t % 12) + 1;
}

function monthStartMs(yyyymm) {
  return Date.UTC(Math.floor(yyyymm / 100), (yyyymm % 100) - 1, 1);
}

// h(n, salt): a cheap deterministic integer hash (Knuth multiplicative, positive, < 2^31).
const h = (expr, salt) => `((((${expr}) + ${salt}) * 2654435761) % 2147483647)`;

function monthInsertSql(i, month) {
  const base = i * RUNS_PER_MONTH;
  const t0 = monthStartMs(month);
  const span = monthStartMs(i === MONTHS - 1 ? month + 1 : monthOf(i + 1)) - t0;
  // Active users grow from 38k to 50k over the year, so the trend rises and new users appear.
  const active = Math.round(USERS * (0.76 + (0.24 * i) / (MONTHS - 1)));
  return `
WITH RECURSIVE c(n) AS (SELECT ${base} UNION ALL SELECT n + 1 FROM c WHERE n < ${base + RUNS_PER_MONTH - 1}),
r0 AS (SELECT n, ${h('n', 1)} % ${active} AS u, ${h('n', 3)} AS y FROM c),
-- x: the client kind, fixed per user (a user's runs all come through the same client)
-- s: the script, skewed (most runs are a user's main script); a script always runs on one host
r AS (SELECT n, u, y, ${h('u', 2)} AS x,
  CASE WHEN y % 10 < 6 THEN 0 WHEN y % 10 < 9 THEN 1 ELSE 2 + (y / 10) % 3 END AS s FROM r0)
INSERT INTO run_facts (run, project, format, user_id, host_id, script_id, weak_ids, eph, version,
  runtime, os, arch, ci, components, first_seen_ms, month, start_seen_ms, end_seen_ms,
  client_start_ms, client_end_ms, exit_code, duration_ms, has_start, has_end)
SELECT printf('%08x-0000-4000-8000-%012x', n, n),
  CASE WHEN u % 10 = 9 THEN 'globus-compute' ELSE 'parsl' END,
  CASE WHEN x % 10 < 7 THEN 'native' WHEN x % 10 < 8 THEN 'parsl-legacy' ELSE 'parsl-1' END,
  CASE WHEN x % 10 < 8 THEN printf('%032x', u * 7919 + 17) END,
  CASE WHEN x % 10 < 8 THEN printf('%032x', u * 2 + (s % 2) + 900000000) END,
  CASE WHEN x % 10 < 7 THEN printf('%032x', u * 5 + s + 1800000000) END,
  CASE WHEN x % 10 = 7 THEN 1 ELSE 0 END,
  CASE WHEN u % 97 = 0 THEN 1 ELSE 0 END,
  printf('2026.%02d.%02d', 1 + (u + ${i}) % 10, 1 + u % 4),
  printf('python/3.%d', 9 + u % 5),
  CASE WHEN u % 20 < 17 THEN 'linux' WHEN u % 20 < 19 THEN 'darwin' ELSE 'win32' END,
  CASE WHEN u % 7 = 0 THEN 'arm64' ELSE 'x64' END,
  CASE WHEN x % 10 >= 8 THEN NULL WHEN s = 4 THEN 1 ELSE 0 END,
  printf('{"executors":%d,"provider":"%s"}', 1 + u % 3, CASE u % 4 WHEN 0 THEN 'slurm' WHEN 1 THEN 'local' WHEN 2 THEN 'pbs' ELSE 'kubernetes' END),
  ${t0} + (n - ${base}) * ${span} / ${RUNS_PER_MONTH},
  ${month},
  CASE WHEN y % 1000 < 995 THEN ${t0} + (n - ${base}) * ${span} / ${RUNS_PER_MONTH} END,
  CASE WHEN y % 100 < 96 THEN ${t0} + (n - ${base}) * ${span} / ${RUNS_PER_MONTH} + (y * 7) % 7200000 END,
  NULL, NULL,
  CASE WHEN y % 100 >= 96 OR x % 10 >= 8 THEN NULL
       WHEN y % 50 < 46 THEN 0 WHEN y % 50 < 48 THEN 1 WHEN y % 50 = 48 THEN 137 ELSE 2 + y % 7 END,
  CASE WHEN y % 100 < 96 THEN (y * 7) % 7200000 END,
  CASE WHEN y % 1000 < 995 THEN 1 ELSE 0 END,
  CASE WHEN y % 100 < 96 THEN 1 ELSE 0 END
FROM r`;
}

/**
 * Create (or reuse) the cached store with the receiver's migrator: schema v1 first, the bulk load,
 * then the later migrations (indexes are built once over the loaded rows, as on a real upgrade).
 * Then `settleAll` (src/store/sqlite/settle.ts), which a running receiver does every few minutes from its
 * store thread: every month's settled runs are folded into their aggregates.
 */
export function ensureSyntheticStore(file, migrateSqlite, migrations, log = () => {}, settleAll = null) {
  const stamp = `${file}.generator-v${GENERATOR_VERSION}`;
  if (!fs.existsSync(stamp) || !fs.existsSync(file)) {
    for (const f of [file, `${file}-wal`, `${file}-shm`, stamp]) fs.rmSync(f, { force: true });
    const db = new Database(file);
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.pragma('cache_size = -400000');
    migrateSqlite(db, migrations.slice(0, 1));
    const counters = db.prepare('INSERT INTO daily_counters (day, name, value) VALUES (?, ?, ?)');
    for (let i = 0; i < MONTHS; i++) {
      const month = monthOf(i);
      const t = Date.now();
      db.exec('BEGIN');
      db.exec(monthInsertSql(i, month));
      const days = new Date(Date.UTC(Math.floor(month / 100), month % 100, 0)).getUTCDate();
      for (let d = 1; d <= days; d++) {
        const day = `${Math.floor(month / 100)}-${String(month % 100).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
        const stored = Math.round((RUNS_PER_MONTH * 1.955) / days);
        counters.run(day, 'received', stored * 2 + 40);
        counters.run(day, 'stored', stored);
        counters.run(day, 'duplicates', stored - 3);
        counters.run(day, 'rejected.schema', 12 + (d % 5));
        counters.run(day, 'rejected.not_json', 30);
      }
      db.exec('COMMIT');
      log(`generated month ${month} in ${Date.now() - t} ms`);
    }
    db.pragma('journal_mode = WAL');
    db.close();
    fs.writeFileSync(stamp, new Date(0).toISOString());
  }
  const db = new Database(file);
  db.pragma('cache_size = -400000');
  const t = Date.now();
  const applied = migrateSqlite(db, migrations);
  if (applied.length) {
    log(`applied migrations ${applied.join(', ')} in ${Date.now() - t} ms`);
    db.exec('ANALYZE');
  }
  if (settleAll) {
    const s = Date.now();
    const done = [...settleAll(db)].filter(([, o]) => o !== 'unchanged');
    if (done.length) log(`settled ${done.length} months in ${Date.now() - s} ms`);
  }
  db.close();
}
