#!/usr/bin/env node
// Physical layouts of run_facts's key, measured on the store's own write path (`node bench/store-key.mjs`,
// after `npm run build`; prints JSON). A measurement of candidates, not of the shipped schema: each
// variant is the built SqliteStore (dist/store/sqlite/store.js) with its SQL and key binding rewritten
// as text, over a run_facts rebuilt to that layout right after the migrations.
//
//   text     run TEXT PRIMARY KEY, rowid table (the shipped layout: table B-tree + autoindex on run)
//   wor      the same TEXT key, WITHOUT ROWID (one B-tree fewer; secondary indexes carry the 36-byte key)
//   blob     rowid table, run BLOB PRIMARY KEY: a canonical UUID bound as its 16 bytes, any other ID as text
//   worblob  blob key, WITHOUT ROWID
//   int      rid INTEGER PRIMARY KEY taken from 52 bits of the UUID, run TEXT beside it and compared on
//            conflict (measurement only: a collision would be counted a duplicate, so it is not exact)
//
// Workload as bench/store-write.mjs (start, end up to 1000 runs later, random v4 IDs, batches of 2000,
// one IMMEDIATE transaction each); subjects alternate batch by batch so load falls on all alike.
// Two regimes, both in one invocation unless BENCH_REGIMES says otherwise:
//   fresh      a new file per subject and rep
//   prefilled  a file per subject already holding BENCH_PREFILL (1,000,000) random-ID runs, both halves,
//              spread over 2025-01..2026-11, inserted in random key order (as Parsl's random IDs arrive);
//              made once in BENCH_PREFILL_DIR (kept between invocations), each rep writes new runs on top.
// Figures: CPU µs per record (process.cpuUsage; one thread), best of BENCH_REPS, and the ratio to `text`.
// Environment: BENCH_VARIANTS (text,wor,blob,worblob,int; `name@N` = that layout with an N MiB page
// cache), BENCH_REGIMES (fresh,prefilled), BENCH_RUNS (40000 fresh / 20000 prefilled), BENCH_BATCH
// (2000), BENCH_REPS (3 fresh / 2 prefilled), BENCH_PREFILL (1000000), BENCH_PREFILL_DIR.
// Result (docs/storage.md, "The key's layout"): blob 0.93-0.98x fresh, 0.86-0.88x pre-filled; wor,
// worblob and int 1.7-1.95x in both. Nothing was built from it.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const here = path.dirname(new URL(import.meta.url).pathname);
const distSqlite = path.join(here, '../dist/store/sqlite');
const variants = (process.env.BENCH_VARIANTS ?? 'text,wor,blob,worblob,int').split(',');
/** A variant `name@N`: layout `name` with an N MiB page cache instead of the store's 32 MiB. */
const layoutOf = (v) => v.split('@')[0];
const regimes = (process.env.BENCH_REGIMES ?? 'fresh,prefilled').split(',');
const batchSize = Number(process.env.BENCH_BATCH ?? 2000);
const prefillRuns = Number(process.env.BENCH_PREFILL ?? 1_000_000);
const prefillDir = process.env.BENCH_PREFILL_DIR ?? path.join(os.tmpdir(), `bench-store-key-${prefillRuns}`);

// --- the key as bound -------------------------------------------------------------------------------
const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) HEX['0123456789abcdef'.charCodeAt(i)] = i;
/** A canonical lowercase UUID's 16 bytes; anything else: undefined (stored as its text). */
function uuidBytes(s) {
  if (s.length !== 36 || s.charCodeAt(8) !== 45 || s.charCodeAt(13) !== 45 || s.charCodeAt(18) !== 45 || s.charCodeAt(23) !== 45)
    return undefined;
  const b = Buffer.allocUnsafe(16);
  let o = 0;
  for (let i = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) continue;
    const hi = HEX[s.charCodeAt(i)] ?? -1;
    const lo = HEX[s.charCodeAt(++i)] ?? -1;
    if (hi < 0 || lo < 0) return undefined;
    b[o++] = (hi << 4) | lo;
  }
  return b;
}
globalThis.__benchKey = {
  text: (s) => s,
  wor: (s) => s,
  blob: (s) => uuidBytes(s) ?? s,
  worblob: (s) => uuidBytes(s) ?? s,
  // 52 bits: the first 13 hex digits (a UUIDv7's clock and more; random for v4).
  int: (s) => parseInt(s.slice(0, 8) + s.slice(9, 13) + s.slice(14, 15), 16),
};

// --- run_facts rebuilt to a layout -----------------------------------------------------------------
function layoutSql(variant, sql) {
  let s = sql;
  if (variant === 'blob' || variant === 'worblob') s = s.replace(/run\s+TEXT PRIMARY KEY/, 'run BLOB PRIMARY KEY');
  if (variant === 'int') s = s.replace(/run\s+TEXT PRIMARY KEY/, 'rid INTEGER PRIMARY KEY, run TEXT NOT NULL');
  if (variant === 'wor' || variant === 'worblob') s = s.replace(/\)\s*$/, ') WITHOUT ROWID');
  return s;
}
globalThis.__benchSchema = (variant) => (db) => {
  if (variant === 'text') return;
  const sqlOf = (name) => db.prepare('SELECT sql FROM sqlite_master WHERE name = ?').pluck().get(name);
  const table = sqlOf('run_facts');
  if (layoutSql(variant, table) === table || !/run\s+TEXT PRIMARY KEY/.test(table) || / WITHOUT ROWID$/.test(table)) return; // already rebuilt (a pre-filled file)
  const indexes = db
    .prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'run_facts' AND sql IS NOT NULL")
    .pluck()
    .all();
  const view = sqlOf('runs');
  db.exec('BEGIN');
  db.exec('DROP VIEW runs; DROP TABLE run_facts;');
  db.exec(layoutSql(variant, table));
  for (const i of indexes) db.exec(i);
  db.exec(view);
  db.exec('COMMIT');
};

/** The built store with its key binding and (for int) its conflict target rewritten. */
function variantModule(name) {
  if (name === 'text') return path.join(distSqlite, 'store.js');
  const variant = layoutOf(name);
  let src = readFileSync(path.join(distSqlite, 'store.js'), 'utf8');
  const must = (from, to) => {
    if (!src.includes(from)) throw new Error(`store.js changed: "${from}" not found; update bench/store-key.mjs`);
    src = src.split(from).join(to);
  };
  must('migrateSqlite(db);', `migrateSqlite(db); globalThis.__benchSchema(${JSON.stringify(variant)})(db);`);
  if (name.includes('@')) must("db.pragma('cache_size = -32768');", `db.pragma('cache_size = -${Number(name.split('@')[1]) * 1024}');`);
  const key = `globalThis.__benchKey.${variant}`;
  if (variant === 'int') {
    must('const COLUMNS = `run, ', 'const COLUMNS = `rid, run, ');
    must('\nVALUES (?, ', '\nVALUES (?, ?, ');
    must('ON CONFLICT (run)', 'ON CONFLICT (rid)');
    must('WHERE run_facts.${has} = 0', 'WHERE run_facts.run = excluded.run AND run_facts.${has} = 0');
    must('FROM run_facts WHERE run = ?', 'FROM run_facts WHERE rid = ? AND run = ?');
    src = src.replace(/\ba\[(\d+)\]/g, (_, n) => `a[${Number(n) + 1}]`);
    must('a[1] = r.run;', `a[0] = ${key}(r.run); a[1] = r.run;`);
    must('a.length = 20;', 'a.length = 21;');
    must('a.length = 22;', 'a.length = 23;');
    must('new Array(22)', 'new Array(23)');
    must('this.rowStmt.get(r.run)', `this.rowStmt.get(${key}(r.run), r.run)`);
  } else {
    must('a[0] = r.run;', `a[0] = ${key}(r.run);`);
    must('this.rowStmt.get(r.run)', `this.rowStmt.get(${key}(r.run))`);
  }
  const file = path.join(distSqlite, `.bench-store-key-${name.replace('@', '-')}.js`);
  writeFileSync(file, src);
  return file;
}
const modules = {};
for (const v of variants) modules[v] = await import(pathToFileURL(variantModule(v)).href);

// --- workload (as bench/store-write.mjs) ------------------------------------------------------------
function uuid() {
  const h = randomBytes(16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20)}`;
}
function workload(runs) {
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
    net_tag: 'a1b2c3d4e5f60718',
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

// --- pre-filled files -------------------------------------------------------------------------------
/** A random UUID as text, in SQL (random order, as inserted). */
const SQL_UUID = `substr(h,1,8)||'-'||substr(h,9,4)||'-4'||substr(h,14,3)||'-8'||substr(h,18,3)||'-'||substr(h,21,12)`;
function prefill(name, file) {
  if (existsSync(file)) return;
  const t = Date.now();
  const variant = layoutOf(name);
  const store = modules[name].openSqliteStore(file + '.part');
  const db = store.db;
  const key = variant === 'blob' || variant === 'worblob' ? "unhex(replace(run, '-', ''))" : 'run';
  if (variant === 'int') db.function('hex52', (h) => parseInt(h.slice(0, 13), 16));
  const cols = `${variant === 'int' ? 'rid, ' : ''}run, project, format, user_id, host_id, version, runtime, os, arch, ci, weak_ids, eph,
    components, first_seen_ms, month, start_seen_ms, end_seen_ms, client_start_ms, client_end_ms, exit_code, duration_ms,
    has_start, has_end, settled_seq, net_tag`;
  const chunk = 100_000;
  for (let done = 0; done < prefillRuns; done += chunk) {
    const n = Math.min(chunk, prefillRuns - done);
    db.exec(`BEGIN;
WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i + 1 < ${n}),
u AS (SELECT i, lower(hex(randomblob(16))) AS h FROM g),
r AS (SELECT i, h, ${SQL_UUID} AS run, 1735689600000 + abs(random() % 60000000000) AS t FROM u)
INSERT INTO run_facts (${cols})
SELECT ${variant === 'int' ? 'hex52(h), ' : ''}${key}, 'parsl', 'native', lower(hex(randomblob(16))), lower(hex(randomblob(16))),
  '2025.01.13', 'python 3.12.1', 'linux', 'x86_64', 0, 0, 0, '{"executors":["htex"],"providers":["slurm"],"apps":{"python":12}}',
  t, CAST(strftime('%Y%m', t / 1000, 'unixepoch') AS INTEGER), t, t + 60000, t, t + 60000, 0, 60000, 1, 1, 0, 'a1b2c3d4e5f60718'
FROM r;
COMMIT;`);
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  renameSync(file + '.part', file);
  process.stderr.write(`prefilled ${name}: ${prefillRuns} runs in ${((Date.now() - t) / 1000).toFixed(1)} s\n`);
}

// --- the measurement -----------------------------------------------------------------------------------
const best = (xs) => Math.min(...xs);
const round = (x) => Math.round(x * 100) / 100;
async function measure(regime) {
  const runs = Number(process.env.BENCH_RUNS ?? (regime === 'fresh' ? 40000 : 20000));
  const reps = Number(process.env.BENCH_REPS ?? (regime === 'fresh' ? 3 : 2));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-store-key-'));
  if (regime === 'prefilled') {
    mkdirSync(prefillDir, { recursive: true });
    for (const v of variants) prefill(v, path.join(prefillDir, `${v}.db`));
  }
  const cpu = Object.fromEntries(variants.map((k) => [k, []]));
  try {
    for (let rep = 0; rep < reps; rep++) {
      const records = workload(runs);
      const file = (v) => (regime === 'fresh' ? path.join(dir, `${v}-${rep}.db`) : path.join(prefillDir, `${v}.db`));
      const stores = Object.fromEntries(variants.map((v) => [v, modules[v].openSqliteStore(file(v))]));
      const used = Object.fromEntries(variants.map((k) => [k, 0]));
      const stored = Object.fromEntries(variants.map((k) => [k, 0]));
      for (let i = 0; i < records.length; i += batchSize) {
        const batch = records.slice(i, i + batchSize);
        for (const k of variants) {
          const t = process.cpuUsage();
          const r = await stores[k].writeBatch(batch, []);
          const d = process.cpuUsage(t);
          used[k] += d.user + d.system;
          stored[k] += r.stored;
        }
      }
      for (const k of variants) {
        const n = stores[k].db.prepare('SELECT count(*) FROM run_facts WHERE month = 202612 AND has_start AND has_end').pluck().get();
        await stores[k].close();
        if (stored[k] !== records.length) throw new Error(`${k} stored ${stored[k]} of ${records.length}`);
        if (regime === 'fresh' && n !== runs) throw new Error(`${k}: ${n} complete runs of ${runs}`);
        cpu[k].push(used[k] / records.length);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    runs,
    records: runs * 2,
    reps,
    cpuUsPerRecord: Object.fromEntries(variants.map((k) => [k, { best: round(best(cpu[k])), all: cpu[k].map(round) }])),
    ratioToText: variants.includes('text') ? Object.fromEntries(variants.map((k) => [k, round(best(cpu[k]) / best(cpu.text))])) : undefined,
  };
}

const load = [os.loadavg()];
const out = { machine: { cores: os.cpus().length, node: process.version }, batch: batchSize, prefill: prefillRuns };
try {
  for (const regime of regimes) out[regime] = await measure(regime);
} finally {
  for (const v of variants) if (v !== 'text') rmSync(path.join(distSqlite, `.bench-store-key-${v.replace('@', '-')}.js`), { force: true });
}
load.push(os.loadavg());
out.machine.loadavg = load.map((l) => l.map(round));
console.log(JSON.stringify(out, null, 2));
