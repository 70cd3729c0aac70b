/**
 * The only thing report queries (and retention) know about a database: run a statement with `?`
 * placeholders and get plain rows back. Both backends implement it (store/sqlite/query-runner.ts,
 * store/postgres/query-runner.ts, which rewrites `?` to `$n`); store/open-store.ts opens the one
 * the options name. Everything else that differs between the two dialects lives in
 * src/reports/dialect.ts, so the query modules stay portable SQL.
 */
export type Row = Record<string, unknown>;
export type Dialect = 'sqlite' | 'postgres';

export interface QueryRunner {
  readonly dialect: Dialect;
  /** False when the store is read-only for us: the report then skips its cache writes. */
  readonly writable: boolean;
  /** SQLite: the store's file, so a worker thread can open a second connection. */
  readonly file?: string;
  all<T extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** Statements without rows (temp tables, cache writes). */
  exec(sql: string, params?: readonly unknown[]): Promise<void>;
  hasTable(name: string): Promise<boolean>;
  close(): Promise<void>;
}

/** Numbers from either driver (bigint, numeric strings from pg) as JS numbers; null stays null. */
export function num(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : null;
}

/** `num` for aggregates where "no rows" means 0 (SUM over nothing is NULL in SQL). */
export function count(v: unknown): number {
  return num(v) ?? 0;
}
