import { Hll, HLL_P, type IdKind } from '../hll.js';
import type { QueryRunner } from '../../store/query-runner.js';
import { runsWhere, type Scope } from './scope.js';

/**
 * Per-month HyperLogLog sketches of the IDs (schema: SQLite v5, PostgreSQL v6; table
 * monthly_sketches): written by beacon prune for every scope it rolls up, read by the period
 * report for months whose raw runs are gone. Months with raw runs are sketched on the fly from
 * their distinct IDs, with the same key, so sketches of pruned and kept months merge.
 */
export const ID_KINDS: readonly IdKind[] = ['user', 'host', 'script'];
const COLUMN: Record<IdKind, string> = { user: 'user_id', host: 'host_id', script: 'script_id' };

export type Sketches = Record<IdKind, Hll>;

/** The store's hashing key, or null on a store without sketches (before the migration). */
export async function sketchKey(db: QueryRunner): Promise<Buffer | null> {
  if (!(await db.hasTable('sketch_key'))) return null;
  const rows = await db.all('SELECT key FROM sketch_key WHERE id = 1');
  return rows[0] ? Buffer.from(String(rows[0].key), 'hex') : null;
}

export function emptySketches(): Sketches {
  return { user: new Hll(), host: new Hll(), script: new Hll() };
}

/** Sketches of one (month, scope) from its raw runs: one DISTINCT per ID kind, hashed here. */
export async function sketchRuns(db: QueryRunner, scope: Scope, key: Buffer): Promise<Sketches> {
  const out = emptySketches();
  const where = runsWhere(scope);
  for (const kind of ID_KINDS) {
    const col = COLUMN[kind];
    const rows = await db.all(`SELECT DISTINCT ${col} AS id FROM run_facts WHERE ${where.sql} AND ${col} IS NOT NULL`, where.params);
    for (const r of rows) out[kind].add(key, kind, String(r.id));
  }
  return out;
}

/** The stored sketches of a pruned (month, scope); null when the month was pruned before sketches existed. */
export async function loadSketches(db: QueryRunner, month: number, scope: string): Promise<Sketches | null> {
  if (!(await db.hasTable('monthly_sketches'))) return null;
  const rows = await db.all('SELECT kind, p, registers FROM monthly_sketches WHERE month = ? AND scope = ?', [month, scope]);
  if (rows.length === 0) return null;
  const out = emptySketches();
  for (const r of rows) {
    if (Number(r.p) !== HLL_P) return null;
    out[String(r.kind) as IdKind] = Hll.decode(String(r.registers));
  }
  return out;
}

/** Whether any sketch was stored for this month (under any scope): it was pruned with sketches. */
export async function monthHasSketches(db: QueryRunner, month: number): Promise<boolean> {
  if (!(await db.hasTable('monthly_sketches'))) return false;
  return (await db.all('SELECT 1 AS x FROM monthly_sketches WHERE month = ? LIMIT 1', [month])).length > 0;
}

/** Inside prune's write transaction, beside the month's rollups. */
export async function saveSketches(db: QueryRunner, month: number, scope: string, s: Sketches): Promise<void> {
  for (const kind of ID_KINDS) {
    await db.exec(
      `INSERT INTO monthly_sketches (month, scope, kind, p, registers) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (month, scope, kind) DO UPDATE SET p = excluded.p, registers = excluded.registers`,
      [month, scope, kind, HLL_P, s[kind].encode()],
    );
  }
}
