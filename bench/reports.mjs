// `npm run bench:reports`: times `reports monthly` on a synthetic store of 12M runs (1M in the
// reported month, 50k users) and prints JSON. Each measurement is a separate process of the real
// CLI (dist/cli/reports.js), timed by the parent and measured by /usr/bin/time for peak RSS.
//
// Four situations, because the report keeps per-month results in the store (report_month_cache,
// invalidated exactly by per-month change counters), and the receiver keeps settled runs folded
// into per-month aggregates (schema v4, src/store/sqlite/settle.ts; the generator settles, as a running
// receiver does every few minutes):
//   warm       — the month was reported before (another format, a re-run): everything cached.
//   new_month  — the usual monthly run: the 10 older months cached, the reported month and the
//                previous one (which late ends still change) computed from their settled
//                aggregates plus their unsettled runs.
//   cold       — first report ever on this store: all 12 months computed that way.
//   cold_unsettled — as cold on a store without usable aggregates (never settled, or a delete
//                since): all 12 months grouped from every run. The worst case.
// The store is generated once (SQL recursive CTE, ~1-4 min) and cached under bench/out/.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { SQLITE_MIGRATIONS } from '../dist/store/sqlite/migrations.js';
import { migrateSqlite } from '../dist/store/sqlite/migrate.js';
import { SqliteStore } from '../dist/store/sqlite/store.js';
import { settleAll } from '../dist/store/sqlite/settle.js';
import { ensureSyntheticStore, monthOf, MONTHS, RUNS_PER_MONTH, TARGET_MONTH, USERS } from './synthetic-store.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, 'out');
const dbFile = path.join(out, RUNS_PER_MONTH === 1_000_000 ? 'reports-12m.db' : `reports-${MONTHS}x${RUNS_PER_MONTH}.db`);
// BENCH_ONLY=period: only the period report beside the new-month report (skips warm, cold and ingest).
const ONLY_PERIOD = process.env.BENCH_ONLY === 'period';
const cli = path.join(here, '../dist/cli/reports.js');
const month = `${Math.floor(TARGET_MONTH / 100)}-${String(TARGET_MONTH % 100).padStart(2, '0')}`;
const prevMonth = TARGET_MONTH % 100 === 1 ? TARGET_MONTH - 89 : TARGET_MONTH - 1;
const REPEAT = Number(process.env.BENCH_REPEAT ?? 5);
const TARGET = { seconds: 1.5, rss_mb: 200 };

fs.mkdirSync(out, { recursive: true });
const genStart = Date.now();
ensureSyntheticStore(dbFile, migrateSqlite, SQLITE_MIGRATIONS, (m) => process.stderr.write(`${m}\n`), settleAll);
const prepare_s = (Date.now() - genStart) / 1000;

// BENCH_COVERING=1 measures a store that added the optional covering indexes of docs/reports.md
// (faster first reports, slower ingest); by default they are removed: the shipped schema.
const COVERING = process.env.BENCH_COVERING === '1';
const COVERING_SQL = `
CREATE INDEX IF NOT EXISTS run_facts_report ON run_facts (month, project, user_id, host_id, script_id, exit_code,
  format, eph, has_start, has_end, version, runtime, os, arch, ci, components, duration_ms);
CREATE INDEX IF NOT EXISTS run_facts_duration ON run_facts (month, duration_ms, project);`;
{
  const db = new Database(dbFile);
  const t = Date.now();
  db.exec(COVERING ? COVERING_SQL : 'DROP INDEX IF EXISTS run_facts_report; DROP INDEX IF EXISTS run_facts_duration;');
  db.close();
  if (Date.now() - t > 1000) process.stderr.write(`${COVERING ? 'built' : 'dropped'} covering indexes in ${Date.now() - t} ms\n`);
}

const hasTime = fs.existsSync('/usr/bin/time');

function clearCache(which) {
  const db = new Database(dbFile);
  if (which === 'all') db.prepare('DELETE FROM report_month_cache').run();
  else db.prepare('DELETE FROM report_month_cache WHERE month IN (?, ?)').run(TARGET_MONTH, prevMonth);
  db.close();
}

const firstMonth = `${Math.floor(monthOf(0) / 100)}-${String(monthOf(0) % 100).padStart(2, '0')}`;

function once(format, kind = 'monthly') {
  const file = path.join(out, `${kind}.${format}`);
  const args =
    kind === 'period'
      ? [cli, 'period', '--db', dbFile, '--from', firstMonth, '--to', month, '--format', format, '--out', file]
      : [cli, 'monthly', '--db', dbFile, '--month', month, '--format', format, '--out', file];
  const t = process.hrtime.bigint();
  const r = hasTime
    ? spawnSync('/usr/bin/time', ['-f', 'maxrss_kb=%M cpu_s=%U+%S', process.execPath, ...args], { encoding: 'utf8' })
    : spawnSync(process.execPath, args, { encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`reports ${kind} --format ${format} failed: ${r.stderr}`);
  const kb = /maxrss_kb=(\d+)/.exec(r.stderr ?? '');
  // CPU time of the report process (both threads): unlike wall time, hardly moved by other load.
  const cpu = /cpu_s=([\d.]+)\+([\d.]+)/.exec(r.stderr ?? '');
  return {
    seconds,
    rss_mb: kb ? Number(kb[1]) / 1024 : null,
    cpu_s: cpu ? Number(cpu[1]) + Number(cpu[2]) : null,
    bytes: fs.statSync(file).size,
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const r3 = (x) => (x === null ? null : Math.round(x * 1000) / 1000);

/** Makes the settled aggregates unusable (their delete count no longer matches), or usable again. */
function hideSettled(hide) {
  const db = new Database(dbFile);
  db.prepare('UPDATE report_settled_months SET deletes = deletes + ?').run(hide ? -1_000_000 : 1_000_000);
  db.close();
}

function measure(format, situation, repeat) {
  const runs = [];
  for (let i = 0; i < repeat; i++) {
    if (situation === 'cold' || situation === 'cold_unsettled') clearCache('all');
    // The period report of the same run: the year ending with the new month, the cache in the same state.
    if (situation === 'new_month' || situation === 'period') clearCache('recent');
    if (situation === 'cold_unsettled') hideSettled(true);
    try {
      runs.push(once(format, situation === 'period' ? 'period' : 'monthly'));
    } finally {
      if (situation === 'cold_unsettled') hideSettled(false);
    }
  }
  const rss = runs.map((r) => r.rss_mb).filter((x) => x !== null);
  const result = {
    runs: runs.length,
    median_s: r3(median(runs.map((r) => r.seconds))),
    cpu_s: runs[0].cpu_s === null ? null : r3(median(runs.map((r) => r.cpu_s))),
    all_s: runs.map((r) => r3(r.seconds)),
    peak_rss_mb: rss.length ? r3(Math.max(...rss)) : null,
    output_bytes: runs[0].bytes,
  };
  result.meets_target = result.median_s <= TARGET.seconds && (result.peak_rss_mb ?? 0) <= TARGET.rss_mb;
  process.stderr.write(`${format} ${situation}: median ${result.median_s} s, peak ${result.peak_rss_mb} MB\n`);
  return result;
}

const results = {};
const period = {};
for (const format of ['json', 'html']) {
  once(format); // fill the cache and the page cache: the warm numbers below are steady state
  // The period report's per-month entries too (the first period report on a store computes all 12).
  if (format === 'json') once(format, 'period');
  // Interleaved, so both see the same machine load: new month, period, new month, period, ...
  const n = Math.max(3, Math.ceil(REPEAT / 2));
  const pairs = { new_month: [], period: [] };
  const cpus = { new_month: [], period: [] };
  for (let i = 0; i < n; i++) {
    for (const situation of ['new_month', 'period']) {
      const m = measure(format, situation, 1);
      pairs[situation].push(m.median_s);
      cpus[situation].push(m.cpu_s);
    }
  }
  const nm = median(pairs.new_month);
  const pr = median(pairs.period);
  const cpuRatio = cpus.period[0] === null ? null : r3(median(cpus.period) / median(cpus.new_month));
  period[format] = {
    new_month_median_s: r3(nm),
    period_median_s: r3(pr),
    period_months: MONTHS,
    ratio_period_to_new_month: r3(pr / nm),
    meets_target: pr / nm <= 2,
    all_new_month_s: pairs.new_month,
    all_period_s: pairs.period,
    // Each pair's own ratio (the spread), and the same comparison in CPU seconds (user + sys).
    pair_ratios: pairs.period.map((p, i) => r3(p / pairs.new_month[i])),
    cpu_ratio_period_to_new_month: cpuRatio,
    all_new_month_cpu_s: cpus.new_month,
    all_period_cpu_s: cpus.period,
  };
  process.stderr.write(`${format}: period ${r3(pr)} s vs new month ${r3(nm)} s: ratio ${r3(pr / nm)} (cpu ratio ${cpuRatio})\n`);
  if (ONLY_PERIOD) continue;
  results[format] = {
    warm: measure(format, 'warm', REPEAT),
    new_month: measure(format, 'new_month', Math.max(3, Math.ceil(REPEAT / 2))),
    cold: measure(format, 'cold', Number(process.env.BENCH_COLD_REPEAT ?? 1)),
    cold_unsettled: measure(format, 'cold_unsettled', Number(process.env.BENCH_COLD_REPEAT ?? 1)),
  };
  once(format); // leave the cache filled for the next format
}

// What the report bookkeeping costs the receiver's store: its own write rate
// (SqliteStore.writeBatch, starts then ends, batches of 1000) on a fresh file at the current
// schema, best of several rounds to see past the noise of a shared machine. (Until schema v4 this
// compared v1 with v2, whose per-row triggers cut it from 115k/s to 92k/s.)
async function ingestRate(migrations) {
  const N = 100_000;
  const file = path.join(out, 'ingest.db');
  for (const x of ['', '-wal', '-shm']) fs.rmSync(file + x, { force: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  migrateSqlite(db, migrations);
  const store = new SqliteStore(db);
  const base = Date.UTC(2026, 9, 10);
  const make = (kind) =>
    Array.from({ length: N }, (_, i) => ({
      run: `run-${i}`,
      kind,
      project: 'parsl',
      format: 'native',
      user_id: (i % 5000).toString(16).padStart(32, '0'),
      host_id: (i % 7000).toString(16).padStart(32, '0'),
      script_id: (i % 9000).toString(16).padStart(32, '0'),
      weak_ids: false,
      eph: false,
      version: '1.0.0',
      runtime: 'node/20.20.2',
      os: 'linux',
      arch: 'x64',
      ci: false,
      components: '{"executors":2}',
      seen_ms: base + i,
      month: TARGET_MONTH,
      client_ms: base + i,
      exit_code: kind === 'end' ? 0 : null,
      duration_ms: kind === 'end' ? 1000 : null,
    }));
  const batches = [...make('start'), ...make('end')];
  const t = process.hrtime.bigint();
  for (let i = 0; i < batches.length; i += 1000) await store.writeBatch(batches.slice(i, i + 1000), []);
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  await store.close();
  for (const x of ['', '-wal', '-shm']) fs.rmSync(file + x, { force: true });
  return batches.length / seconds;
}
let ingest = 0;
for (let round = 0; round < (ONLY_PERIOD ? 0 : 4); round++) ingest = Math.max(ingest, await ingestRate(SQLITE_MIGRATIONS));
process.stderr.write(`store ingest: ${Math.round(ingest)}/s\n`);

const cpu = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown';
console.log(
  JSON.stringify(
    {
      benchmark: 'reports monthly',
      schema: `v${SQLITE_MIGRATIONS.at(-1).version}${COVERING ? ' + optional covering indexes' : ''}`,
      store: {
        runs: MONTHS * RUNS_PER_MONTH,
        runs_in_month: RUNS_PER_MONTH,
        users: USERS,
        month,
        file_mb: Math.round(fs.statSync(dbFile).size / 1e6),
        prepare_s: r3(prepare_s),
      },
      target: TARGET,
      results,
      period_vs_new_month: { target_ratio: 2, ...period },
      store_ingest_datagrams_per_s: Math.round(ingest),
      machine: { node: process.version, cpu, cores: Number(execFileSync('nproc', { encoding: 'utf8' }).trim()) },
    },
    null,
    2,
  ),
);
