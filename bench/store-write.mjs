#!/usr/bin/env node
// The SQLite store's write path alone (`npm run bench:store-write`, prints JSON): what the store
// thread spends per datagram, without the socket, the batcher or the thread hop.
//
// Workload as bench/receiver.mjs sends it: every run's start, then its end up to 1000 runs later,
// random-looking run IDs, one receiver-day; written in batches (BENCH_BATCH, 2000 ≈ 100 ms at 20k/s)
// through SqliteStore.writeBatch, each batch one IMMEDIATE transaction as the receiver commits it.
// The yardstick, in the same process and the same minutes: each batch also INSERTed one row per
// record, statement per row, into a table with the same columns and no index, no key (the cheapest
// durable per-row write SQLite offers through better-sqlite3). Subjects alternate batch by batch
// on fresh files, so machine load falls on all alike; figures are CPU µs per record
// (process.cpuUsage: this is one thread) and ratios to the yardstick.
// BENCH_BASE_DIST=/path/to/other/dist adds that build's store as subject `base` (before/after).
// Environment: BENCH_RUNS (40000 runs = 80000 records), BENCH_BATCH (2000), BENCH_REPS (3).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const runs = Number(process.env.BENCH_RUNS ?? 40000);
const batchSize = Number(process.env.BENCH_BATCH ?? 2000);
const reps = Number(process.env.BENCH_REPS ?? 3);
const here = path.dirname(new URL(import.meta.url).pathname);
const ours = await import(pathToFileURL(path.join(here, '../dist/store/sqlite/store.js')).href);
const base = process.env.BENCH_BASE_DIST
  ? await import(pathToFileURL(path.join(process.env.BENCH_BASE_DIST, 'store/sqlite-store.js')).href)
  : undefined;

function uuid() {
  const h = randomBytes(16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20)}`;
}

/** Records in arrival order: start of run i, and the end of run i - lag (lag up to 1000). */
function workload() {
  const user = randomBytes(16).toString('hex');
  const host = randomBytes(16).toString('hex');
  const t0 = Date.UTC(2026, 11, 2, 4, 0, 0);
  const ids = Array.from({ length: runs }, uuid);
  const rec = (i, kind, seen) => ({
    run: ids[i],
    kind,
    project: 'parsl',
    format: 'native',
    user_id: user,
    host_id: host,
    script_id: null,
    weak_ids: false,
    eph: false,
    version: '2025.01.13',
    runtime: 'python 3.12.1',
    os: 'linux',
    arch: 'x86_64',
    ci: false,
    components: kind === 'start' ? '{"executors":["htex"],"providers":["slurm"]}' : '{"apps":{"python":12}}',
    seen_ms: seen,
    month: 202612,
    client_ms: seen - 5,
    exit_code: kind === 'end' ? 0 : null,
    duration_ms: kind === 'end' ? 60000 : null,
  });
  const out = [];
  const pending = [];
  for (let i = 0; i < runs; i++) {
    const seen = t0 + out.length;
    out.push(rec(i, 'start', seen));
    pending.push([i, 1 + ((i * 2654435761) % 1000)]);
    while (pending.length && pending[0][1] <= 0) out.push(rec(pending.shift()[0], 'end', t0 + out.length));
    for (const p of pending) p[1]--;
  }
  for (const [i] of pending) out.push(rec(i, 'end', t0 + out.length));
  return out;
}

const COLS =
  'run, project, format, user_id, host_id, script_id, version, runtime, os, arch, ci, weak_ids, eph, components, seen_ms, month, client_ms, exit_code, duration_ms, kind';
function yardstick(file) {
  const store = ours.openSqliteStore(file);
  const db = store.db;
  db.exec(`CREATE TABLE plain (${COLS})`);
  const ins = db.prepare(
    `INSERT INTO plain (${COLS}) VALUES (${COLS.split(',')
      .map(() => '?')
      .join(', ')})`,
  );
  const write = db.transaction((records) => {
    for (const r of records) {
      ins.run(
        r.run,
        r.project,
        r.format,
        r.user_id,
        r.host_id,
        r.script_id,
        r.version,
        r.runtime,
        r.os,
        r.arch,
        r.ci === null ? null : r.ci ? 1 : 0,
        r.weak_ids ? 1 : 0,
        r.eph ? 1 : 0,
        r.components,
        r.seen_ms,
        r.month,
        r.client_ms,
        r.exit_code,
        r.duration_ms,
        r.kind,
      );
    }
    return { stored: records.length, duplicates: 0 };
  }).immediate;
  return { writeBatch: async (records) => write(records), close: async () => db.close() };
}

const subjects = { plain: yardstick, ours: (f) => ours.openSqliteStore(f) };
if (base) subjects.base = (f) => base.openSqliteStore(f);

const records = workload();
const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-store-write-'));
const cpu = Object.fromEntries(Object.keys(subjects).map((k) => [k, []]));
const load = [os.loadavg()];
try {
  for (let rep = 0; rep < reps; rep++) {
    const stores = Object.fromEntries(Object.entries(subjects).map(([k, open]) => [k, open(path.join(dir, `${k}-${rep}.db`))]));
    const used = Object.fromEntries(Object.keys(subjects).map((k) => [k, 0]));
    const stored = Object.fromEntries(Object.keys(subjects).map((k) => [k, 0]));
    for (let i = 0; i < records.length; i += batchSize) {
      const batch = records.slice(i, i + batchSize);
      for (const k of Object.keys(stores)) {
        const t = process.cpuUsage();
        const r = await stores[k].writeBatch(batch, []);
        const d = process.cpuUsage(t);
        used[k] += d.user + d.system;
        stored[k] += r.stored;
      }
    }
    for (const k of Object.keys(stores)) {
      await stores[k].close();
      if (stored[k] !== records.length) throw new Error(`${k} stored ${stored[k]} of ${records.length}`);
      cpu[k].push(used[k] / records.length);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
load.push(os.loadavg());
const best = (xs) => Math.min(...xs);
const round = (x) => Math.round(x * 100) / 100;
const out = {
  machine: { cores: os.cpus().length, loadavg: load.map((l) => l.map(round)) },
  records: records.length,
  batch: batchSize,
  reps,
  cpuUsPerRecord: Object.fromEntries(Object.entries(cpu).map(([k, xs]) => [k, { best: round(best(xs)), all: xs.map(round) }])),
  ratioToPlainInsert: Object.fromEntries(Object.keys(cpu).map((k) => [k, round(best(cpu[k]) / best(cpu.plain))])),
};
if (base) out.oursToBase = round(best(cpu.ours) / best(cpu.base));
console.log(JSON.stringify(out, null, 2));
