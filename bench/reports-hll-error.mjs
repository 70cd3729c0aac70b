// How far the period report's distinct counts are off once months are pruned (HyperLogLog
// sketches, p = 14) — measured, not assumed. Prints JSON.
//  1. sketches alone, at several scales: N distinct random IDs spread over 12 months with overlap
//     (each ID active in 1-4 months); the merged per-month sketches (encoded and decoded, as the
//     store keeps them) against the exact count.
//  2. end to end: a SQLite store of 12 months, `reports period` before pruning (exact) and after
//     `beacon prune` of the oldest 7 months (estimate), through the real commands.
// BENCH_HLL_USERS (default 60000) sets the end-to-end store's users.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { Hll, HLL_RSE } from '../dist/reports/hll.js';
import { migrateSqlite } from '../dist/store/sqlite/migrate.js';
import { refreshBookkeeping } from '../dist/store/sqlite/bookkeeping.js';
import { periodCommand } from '../dist/commands/period.js';
import { pruneCommand } from '../dist/commands/prune.js';

const r5 = (x) => Math.round(x * 100000) / 100000;
const key = crypto.randomBytes(32);

function sketchesOnly(n, trials) {
  const errors = [];
  for (let t = 0; t < trials; t++) {
    const months = Array.from({ length: 12 }, () => new Hll());
    for (let i = 0; i < n; i++) {
      const id = crypto.randomBytes(16).toString('hex');
      const first = crypto.randomInt(12);
      const span = 1 + crypto.randomInt(4);
      for (let m = first; m < Math.min(12, first + span); m++) months[m].add(key, 'user', id);
    }
    const merged = new Hll();
    for (const m of months) merged.merge(Hll.decode(m.encode()));
    errors.push((merged.estimate() - n) / n);
  }
  const abs = errors.map(Math.abs);
  return {
    distinct: n,
    trials,
    mean_abs_error: r5(abs.reduce((a, b) => a + b, 0) / trials),
    max_abs_error: r5(Math.max(...abs)),
    errors: errors.map(r5),
  };
}

async function endToEnd(users) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hll-error-'));
  const file = path.join(dir, 'usage.db');
  try {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    migrateSqlite(db);
    const ins =
      db.prepare(`INSERT INTO run_facts (run, project, format, user_id, host_id, script_id, weak_ids, eph, version, runtime, os, arch, ci,
      components, first_seen_ms, month, start_seen_ms, end_seen_ms, exit_code, duration_ms, has_start, has_end)
      VALUES (?, 'parsl', 'native', ?, ?, ?, 0, 0, '1.0', 'python/3.12', 'linux', 'x64', 0, NULL, ?, ?, ?, ?, 0, 60000, 1, 1)`);
    let runs = 0;
    db.transaction(() => {
      for (let i = 0; i < users; i++) {
        const u = crypto.createHash('sha256').update(`u${i}`).digest('hex').slice(0, 32);
        const first = i % 12;
        const span = 1 + (i % 4);
        for (let k = first; k < Math.min(12, first + span); k++) {
          const y = 2025 + Math.floor((8 + k) / 12);
          const m = ((8 + k) % 12) + 1;
          const t = Date.UTC(y, m - 1, 10);
          ins.run(crypto.randomUUID(), u, `${u.slice(0, 30)}h${i % 3}`, `${u.slice(0, 30)}s${k % 2}`, t, y * 100 + m, t, t + 60000);
          runs++;
        }
      }
    })();
    refreshBookkeeping(db);
    db.close();
    const now = () => Date.UTC(2026, 10, 15);
    const period = async () => {
      const chunks = [];
      const stdout = new Writable({
        write(c, _e, cb) {
          chunks.push(String(c));
          cb();
        },
      });
      await periodCommand({ db: file, from: '2025-09', to: '2026-08', format: 'json', minUsers: 5, now, stdout });
      return JSON.parse(chunks.join(''));
    };
    const exact = await period();
    // 2026-11-15 minus 200 days: 2025-09 to 2026-03 are pruned (7 of the 12 months).
    await pruneCommand({
      db: file,
      olderThan: '200d',
      now,
      stdout: new Writable({
        write(_c, _e, cb) {
          cb();
        },
      }),
    });
    const est = await period();
    const out = {
      runs,
      months_pruned: est.source.months_from_rollups.length,
      method_before: exact.distinct.method,
      method_after: est.distinct.method,
    };
    for (const k of ['unique_users', 'unique_hosts', 'unique_scripts']) {
      out[k] = { exact: exact[k], estimate: est[k], relative_error: r5((est[k] - exact[k]) / exact[k]) };
    }
    out.cumulative_users_max_abs_relative_error = r5(
      Math.max(
        ...est.monthly.map(
          (m, i) => Math.abs(m.cumulative_users - exact.monthly[i].cumulative_users) / Math.max(1, exact.monthly[i].cumulative_users),
        ),
      ),
    );
    out.runs_unchanged =
      est.runs_started === exact.runs_started && est.compute_hours === exact.compute_hours && est.new_users === exact.new_users;
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const scales = [1000, 10000, 50000, 100000, 300000].map((n) => sketchesOnly(n, n >= 100000 ? 3 : 5));
const e2e = await endToEnd(Number(process.env.BENCH_HLL_USERS ?? 60000));
console.log(
  JSON.stringify(
    {
      benchmark: 'period report distinct counts after pruning (HyperLogLog, p = 14)',
      stated_relative_error: { one_sigma: r5(HLL_RSE), ninety_five: r5(HLL_RSE * 1.96) },
      sketches_only: scales,
      end_to_end: e2e,
    },
    null,
    2,
  ),
);
