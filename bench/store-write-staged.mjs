#!/usr/bin/env node
// The LSM-style write path issue 12 suggests, measured before building it (prints JSON): is an
// append-only staging table plus one set-based merge per commit cheaper per record, merge
// included, than the store's statement-per-record upserts? Three subjects alternate rep by rep,
// each on a fresh file with the store's schema, 2000 records per IMMEDIATE transaction (starts,
// then ends, random-looking run IDs), CPU µs per record:
//   perRowUpsert      the store's own UPSERT_START / UPSERT_END, one statement per record
//   stagedMerge       multi-row INSERTs (64 rows) into an index-free `stage` table, then per commit
//                     one INSERT INTO run_facts SELECT … FROM stage ORDER BY run ON CONFLICT DO
//                     UPDATE (the same SET clauses), then DELETE FROM stage
//   stagedAppendOnly  only the appends: what a merely deferred merge would show (not a result)
// Bookkeeping (month changes, first months, counters) is left out of all three alike.
// Environment: BENCH_RUNS (40000), BENCH_REPS (3).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
const here = path.dirname(new URL(import.meta.url).pathname);
const { openSqliteStore, UPSERT_START, UPSERT_END } = await import(pathToFileURL(path.join(here, '../dist/store/sqlite/store.js')).href);
const N = Number(process.env.BENCH_RUNS ?? 40000),
  B = 2000;
const REPS = Number(process.env.BENCH_REPS ?? 3);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-store-staged-'));
const load = [os.loadavg()];
const user = randomBytes(16).toString('hex');
const vals = (r) => [
  r.run,
  'parsl',
  'native',
  user,
  user,
  null,
  '2025.01.13',
  'python 3.12.1',
  'linux',
  'x86_64',
  0,
  0,
  0,
  r.kind === 'start' ? '{"executors":["htex"]}' : '{"apps":{"python":12}}',
  r.seen,
  202612,
  r.seen,
  r.seen - 5,
];
const COLS =
  'run, project, format, user_id, host_id, script_id, version, runtime, os, arch, ci, weak_ids, eph, components, first_seen_ms, month, seen_ms, client_ms';
const res = { perRowUpsert: [], stagedMerge: [], stagedAppendOnly: [] };
for (let rep = 0; rep < REPS; rep++)
  for (const mode of Object.keys(res)) {
    const f = path.join(dir, `${mode}-${rep}.db`);
    const st = openSqliteStore(f);
    const db = st.db;
    db.exec(`CREATE TABLE stage (${COLS}, exit_code, duration_ms)`);
    const up = { start: db.prepare(UPSERT_START), end: db.prepare(UPSERT_END) };
    const row64 = `(${Array(20).fill('?').join(',')})`;
    const ins64 = db.prepare(`INSERT INTO stage VALUES ${Array(64).fill(row64).join(',')}`);
    const ins1 = db.prepare(`INSERT INTO stage VALUES ${row64}`);
    const sel = (kind) =>
      `SELECT ${COLS.replace('seen_ms,', 'seen_ms AS s1,')}${kind === 'end' ? ', exit_code, duration_ms' : ''}, 1, NULL FROM stage WHERE true ORDER BY run`;
    const mergeSql = (sql, kind) => sql.replace(/VALUES \([^)]*\)/, sel(kind));
    const merge = { start: db.prepare(mergeSql(UPSERT_START, 'start')), end: db.prepare(mergeSql(UPSERT_END, 'end')) };
    const clear = db.prepare('DELETE FROM stage');
    const ids = Array.from({ length: N }, () => randomBytes(16).toString('hex'));
    const t0 = Date.UTC(2026, 11, 2);
    let used = 0;
    for (const kind of ['start', 'end'])
      for (let i = 0; i < N; i += B) {
        const recs = ids
          .slice(i, i + B)
          .map((run, j) => ({ run, kind, seen: t0 + i + j + (kind === 'end' ? N : 0) }))
          .sort((a, b) => (a.run < b.run ? -1 : 1));
        const t = process.cpuUsage();
        db.transaction(() => {
          if (mode === 'perRowUpsert') {
            for (const r of recs) kind === 'start' ? up.start.run(...vals(r), null, 1) : up.end.run(...vals(r), 0, 60000, null, 2);
            return;
          }
          for (let k = 0; k + 64 <= recs.length; k += 64)
            ins64.run(...recs.slice(k, k + 64).flatMap((r) => [...vals(r), kind === 'end' ? 0 : null, kind === 'end' ? 60000 : null]));
          for (let k = recs.length - (recs.length % 64); k < recs.length; k++) ins1.run(...vals(recs[k]), null, null);
          if (mode === 'stagedMerge') {
            merge[kind].run(kind === 'start' ? 1 : 2);
            clear.run();
          }
        }).immediate();
        const d = process.cpuUsage(t);
        used += d.user + d.system;
      }
    res[mode].push(Math.round((used / (2 * N)) * 100) / 100);
    db.close();
  }

fs.rmSync(dir, { recursive: true, force: true });
load.push(os.loadavg());
const best = (xs) => Math.min(...xs);
const round = (x) => Math.round(x * 100) / 100;
console.log(
  JSON.stringify(
    {
      machine: { cores: os.cpus().length, loadavg: load.map((l) => l.map(round)) },
      cpuUsPerRecord: res,
      stagedMergeToPerRowUpsert: round(best(res.stagedMerge) / best(res.perRowUpsert)),
      appendOnlyToPerRowUpsert: round(best(res.stagedAppendOnly) / best(res.perRowUpsert)),
    },
    null,
    2,
  ),
);
