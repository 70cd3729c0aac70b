#!/usr/bin/env node
// PostgreSQL benchmark (`npm run bench:postgres`, prints one JSON object). Phases, chosen with
// BENCH_PG_PHASES (comma list, default write_batch,receivers):
//
//   write_batch   the store alone (below): how fast writeBatch commits, no sockets involved
//   receivers     the figures: real receivers writing PostgreSQL, fed by the paced UDP
//                 sender, one receiver and two (bench/lib/pg-receivers.mjs, which says how)
//   report_time   `reports monthly` time on PostgreSQL vs SQLite, same synthetic 12M-run store
//                 (bench/lib/pg-report-time.mjs); not in the default list: its first run loads 12M rows
//
// ── Phase write_batch ──────────────────────────────────────────────────────────────────────────
// Drives the built store (dist/store/postgres/store.js) through writeBatch exactly as the
// receiver's batcher does: serial batches per receiver, each one transaction. The traffic is what
// beacons send: every run's start and, a few thousand runs later, its end, each datagram twice
// (the beacon's copies), so batches mix new runs (inserts), completions (updates) and duplicates.
// Scenarios, each repeated BENCH_REPS times in fresh schemas, medians reported:
//   one_writer        one receiver
//   two_writers       two receivers (two pools), disjoint traffic (a load balancer splits it)
//   two_writers_same  two receivers fed the same datagrams (dedupe across receivers)
//   sqlite_one_writer the SQLite store on the same traffic, for scale
// Every run is checked afterwards: rows stored / parts expected must be 100% (stored_pct).
//
// Environment: BENCH_PG_URL (default postgres://127.0.0.1:5432/test), BENCH_RECORDS per writer
// (default 200000), BENCH_BATCH (default 6000 = 60k datagrams/s at --flush-ms 100), BENCH_REPS (3).
//
// ── Phase receivers ── environment: BENCH_PG_RATES (default 10000,15000,…,80000),
// BENCH_SECONDS (3), BENCH_RX_REPS (3), BENCH_FLUSH_MS (100); BENCH_PG_URL as above.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openPostgresStore } from '../dist/store/postgres/store.js';
import { openSqliteStore } from '../dist/store/sqlite/store.js';
import { withSchema } from './lib/pg-schema.mjs';
import { receiversPhase } from './lib/pg-receivers.mjs';
import { median } from './lib/stats.mjs';

const PHASES = (process.env.BENCH_PG_PHASES ?? 'write_batch,receivers').split(',').map((p) => p.trim());
const RECORDS = Number(process.env.BENCH_RECORDS ?? 200_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 6000);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const END_LAG = 3000; // runs between a start and its end: ends land in later batches

const round = (x) => Math.round(x);

function identity() {
  return {
    project: 'parsl',
    format: 'native',
    user_id: randomBytes(16).toString('hex'),
    host_id: randomBytes(16).toString('hex'),
    script_id: randomBytes(16).toString('hex'),
    weak_ids: false,
    eph: false,
    version: '2025.01.13',
    runtime: 'python/3.11.7',
    os: 'linux',
    arch: 'x64',
    ci: false,
    components: '{"executors":2,"htex":1,"blocks":4,"provider":"slurm"}',
  };
}

/** `n` datagrams (2 copies of each start and end) as the receiver would hand them over. */
function traffic(n, t0) {
  const runs = Math.ceil(n / 4);
  const ids = Array.from({ length: runs }, () => randomUUID());
  const users = Array.from({ length: 500 }, identity);
  const out = [];
  const month = (ms) => {
    const d = new Date(ms);
    return d.getUTCFullYear() * 100 + d.getUTCMonth() + 1;
  };
  const record = (i, kind) => {
    const seen = t0 + out.length;
    return {
      run: ids[i],
      kind,
      ...users[i % users.length],
      seen_ms: seen,
      month: month(seen),
      client_ms: seen - 30,
      exit_code: kind === 'end' ? (i % 17 === 0 ? 1 : 0) : null,
      duration_ms: kind === 'end' ? 1000 + (i % 5000) * 37 : null,
    };
  };
  for (let i = 0; i < runs + END_LAG && out.length < n; i++) {
    if (i < runs) {
      const s = record(i, 'start');
      out.push(s, { ...s });
    }
    if (i >= END_LAG && out.length < n) {
      const e = record(i - END_LAG, 'end');
      out.push(e, { ...e });
    }
  }
  return out.slice(0, n);
}

/** Distinct (run, kind) pairs: what must end up stored. */
function parts(records) {
  return new Set(records.map((r) => `${r.run}/${r.kind}`)).size;
}

async function writeAll(store, records) {
  for (let i = 0; i < records.length; i += BATCH) {
    await store.writeBatch(records.slice(i, i + BATCH), [
      { day: new Date(records[i].seen_ms).toISOString().slice(0, 10), counts: { received: Math.min(BATCH, records.length - i) } },
    ]);
  }
}

/** One repetition of a PostgreSQL scenario: per-writer traffic in, rate and completeness out. */
async function pgScenario(writerTraffic) {
  return withSchema(async (url, admin) => {
    const stores = await Promise.all(writerTraffic.map(() => openPostgresStore(url)));
    try {
      const t = performance.now();
      await Promise.all(stores.map((s, i) => writeAll(s, writerTraffic[i])));
      const seconds = (performance.now() - t) / 1000;
      const datagrams = writerTraffic.reduce((a, r) => a + r.length, 0);
      const expected = parts(writerTraffic.flat());
      const { rows } = await admin.query('SELECT (sum(has_start) + sum(has_end))::int AS stored FROM run_facts');
      return {
        datagrams_per_s: datagrams / seconds,
        stored_pct: (100 * rows[0].stored) / expected,
        retries: stores.reduce((a, s) => a + s.retries, 0),
      };
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });
}

async function sqliteScenario(records) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-pg-sqlite-'));
  const store = openSqliteStore(path.join(dir, 'usage.db'));
  try {
    const t = performance.now();
    await writeAll(store, records);
    const seconds = (performance.now() - t) / 1000;
    const stored = store.db.prepare('SELECT sum(has_start) + sum(has_end) AS n FROM run_facts').get().n;
    return { datagrams_per_s: records.length / seconds, stored_pct: (100 * stored) / parts(records), retries: 0 };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const scenarios = {
  one_writer: () => pgScenario([traffic(RECORDS, Date.now())]),
  two_writers: () => pgScenario([traffic(RECORDS, Date.now()), traffic(RECORDS, Date.now())]),
  two_writers_same: () => {
    const t = traffic(RECORDS, Date.now());
    return pgScenario([t, t.map((r) => ({ ...r }))]);
  },
  sqlite_one_writer: () => sqliteScenario(traffic(RECORDS, Date.now())),
};

async function writeBatchPhase() {
  const results = {};
  const samples = Object.fromEntries(Object.keys(scenarios).map((k) => [k, []]));
  // Interleaved repetitions: background noise on a shared machine hits every scenario alike.
  for (let rep = 0; rep < REPS; rep++) {
    for (const [name, run] of Object.entries(scenarios)) samples[name].push(await run());
  }
  for (const [name, xs] of Object.entries(samples)) {
    results[name] = {
      datagrams_per_s: round(median(xs.map((x) => x.datagrams_per_s))),
      stored_pct: Math.min(...xs.map((x) => x.stored_pct)),
      retries: xs.reduce((a, x) => a + x.retries, 0),
      samples: xs.map((x) => round(x.datagrams_per_s)),
    };
  }
  return {
    what: 'store.writeBatch alone (no sockets), as the batcher calls it',
    records_per_writer: RECORDS,
    batch: BATCH,
    reps: REPS,
    results,
    ratios: {
      two_writers_vs_one: +(results.two_writers.datagrams_per_s / results.one_writer.datagrams_per_s).toFixed(2),
      two_writers_same_vs_one: +(results.two_writers_same.datagrams_per_s / results.one_writer.datagrams_per_s).toFixed(2),
      one_writer_vs_sqlite: +(results.one_writer.datagrams_per_s / results.sqlite_one_writer.datagrams_per_s).toFixed(2),
    },
  };
}

// ── Hook: phase report_time ─────────────────────────────────────────────────────────────────────
// The issue also asks for `reports monthly` time on PostgreSQL for the same synthetic store as the
// SQLite reports benchmark (bench/reports.mjs, bench/synthetic-store.mjs), target within 2× SQLite.
// Measured by bench/lib/pg-report-time.mjs (which says how); run when BENCH_PG_PHASES includes
// report_time. The first run loads the 12M runs into PostgreSQL (minutes), later runs reuse them.
const reportTimePhase = PHASES.includes('report_time')
  ? async () => (await import('./lib/pg-report-time.mjs')).reportTimePhase()
  : undefined;

const loadBefore = os.loadavg()[0];
const out = {
  benchmark: 'postgres',
  postgres: await withSchema(async (_url, admin) => (await admin.query('SHOW server_version')).rows[0].server_version),
  node: process.version,
  cpus: os.cpus().length,
  phases: PHASES,
};
if (PHASES.includes('write_batch')) out.write_batch = await writeBatchPhase();
if (PHASES.includes('receivers')) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-pg-receivers-'));
  try {
    out.receivers = await receiversPhase({
      dir,
      rates: (process.env.BENCH_PG_RATES ?? '10000,15000,20000,25000,30000,40000,60000,80000').split(',').map(Number),
      seconds: Number(process.env.BENCH_SECONDS ?? 3),
      reps: Number(process.env.BENCH_RX_REPS ?? 3),
      flushMs: Number(process.env.BENCH_FLUSH_MS ?? 100),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
out.report_time = reportTimePhase
  ? await reportTimePhase()
  : { measured: false, note: 'not run: BENCH_PG_PHASES=report_time (or add it to the list) measures it' };
// Other processes compete for the cores: the 1-minute load average says how noisy this run was.
out.loadAverage = { before: Number(loadBefore.toFixed(2)), after: Number(os.loadavg()[0].toFixed(2)) };
console.log(JSON.stringify(out, null, 2));
