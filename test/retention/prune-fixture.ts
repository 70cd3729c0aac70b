import path from 'node:path';
import type pg from 'pg';
import { migratePostgres } from '../../src/store/postgres/migrate.js';
import { POSTGRES_MIGRATIONS } from '../../src/store/postgres/migrations.js';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { hexId, TestStore, tempDir, type RunRow } from '../reports/store-fixture.js';

/**
 * A store for prune tests: four months (2026-01 … 2026-04) of varied runs over three projects,
 * with values common enough to be listed and rare enough to be suppressed and folded into
 * "other", so a report exercises every breakdown, the trend, the previous month and suppression.
 * Deterministic (a fixed linear congruential sequence), so every run of the test sees the same store.
 */
export const MONTHS = [202601, 202602, 202603, 202604];

function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

export function pruneDataset(): RunRow[] {
  const r = rng(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const rows: RunRow[] = [];
  for (const month of MONTHS) {
    for (let i = 0; i < 260; i++) {
      const project = r() < 0.6 ? 'parsl' : r() < 0.9 ? 'napari' : 'tiny';
      const users = project === 'tiny' ? 3 : 28;
      const format = project === 'parsl' && r() < 0.12 ? 'parsl-1' : project === 'parsl' && r() < 0.08 ? 'parsl-legacy' : 'native';
      const idless = format === 'parsl-1';
      const u = Math.floor(r() ** 2 * users) + (month % 100) * 2;
      const hasEnd = r() < 0.85 ? 1 : 0;
      const hasStart = hasEnd && r() < 0.07 ? 0 : 1;
      rows.push({
        project,
        format,
        month,
        day: 1 + Math.floor(r() * 28),
        user_id: idless ? null : hexId(`${project}-u${u}`),
        host_id: idless ? null : hexId(`h${u % 11}`),
        script_id: idless ? null : hexId(`s${Math.floor(r() * 9)}`),
        eph: r() < 0.03 ? 1 : 0,
        version: r() < 0.1 ? `dev-${Math.floor(r() * 40)}` : pick(['1.0', '1.1', '2.0', '2.1']),
        runtime: pick(['python/3.11', 'python/3.12', 'node/20.20.2']),
        os: pick(['linux', 'linux', 'darwin', 'win32']),
        arch: pick(['x64', 'arm64']),
        ci: r() < 0.2 ? 1 : r() < 0.05 ? null : 0,
        components:
          r() < 0.6
            ? JSON.stringify({ executor: pick(['htex', 'thread', 'wq', `x${Math.floor(r() * 20)}`]), nodes: Math.floor(r() * 4) })
            : null,
        has_start: hasStart,
        has_end: hasEnd,
        exit_code: idless ? null : r() < 0.75 ? 0 : pick([1, 2, 137, 3, 255]),
        duration_ms: Math.floor(r() ** 3 * 50_000_000),
      });
    }
  }
  return rows;
}

export function buildSqliteStore(migrations = SQLITE_MIGRATIONS): { file: string; store: TestStore } {
  const file = path.join(tempDir(), 'usage.db');
  const store = new TestStore(file, migrations);
  store.insert(pruneDataset());
  for (const m of MONTHS) {
    const label = `${Math.floor(m / 100)}-${String(m % 100).padStart(2, '0')}`;
    for (let d = 1; d <= 28; d += 3)
      store.counters(`${label}-${String(d).padStart(2, '0')}`, {
        received: 100 + d,
        stored: 90 + d,
        duplicates: 4,
        'rejected.schema': d % 4,
      });
  }
  return { file, store };
}

/** Copies a SQLite store's runs and counters into a PostgreSQL schema (migrated to `versions`). */
export async function copyToPostgres(store: TestStore, pool: pg.Pool, migrations = POSTGRES_MIGRATIONS): Promise<void> {
  await migratePostgres(pool, migrations);
  const runs = (store.db.prepare('SELECT * FROM run_facts ORDER BY run').all() as Record<string, unknown>[]).map((row) => ({
    ...row,
    components: row.components === null ? null : JSON.parse(String(row.components)),
  }));
  await pool.query('INSERT INTO run_facts SELECT * FROM json_populate_recordset(null::run_facts, $1::json)', [JSON.stringify(runs)]);
  const counters = store.db.prepare('SELECT day, name, value FROM daily_counters').all();
  await pool.query('INSERT INTO daily_counters SELECT * FROM json_populate_recordset(null::daily_counters, $1::json)', [
    JSON.stringify(counters),
  ]);
}

/** Drops what only the rollups note adds: JSON's `source` and the note; md's note line (and its separator). */
export function withoutRollupNote(format: 'json' | 'md', text: string): string {
  if (format === 'json') {
    const r = JSON.parse(text) as Record<string, unknown> & { notes: string[] };
    delete r.source;
    r.notes = r.notes.filter((n) => !/rollups/.test(n));
    return JSON.stringify(r, null, 2);
  }
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.startsWith('> ') && /rollups/.test(l));
  if (i >= 0) lines.splice(i, lines[i + 1] === '>' ? 2 : 1);
  return lines.join('\n');
}
