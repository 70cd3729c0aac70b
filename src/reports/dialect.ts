import type { Dialect } from './query-runner.js';

/**
 * The few places where SQLite and PostgreSQL SQL differ. Query modules call these instead of
 * branching on the dialect themselves, so adding the PostgreSQL runner means filling in this file.
 */

/** FROM-clause fragment expanding `table`.components (a JSON object) into rows (key, value). */
export function componentPairs(dialect: Dialect, table: string): { from: string; key: string; value: string; valid: string } {
  if (dialect === 'sqlite') {
    return {
      from: `${table}, json_each(${table}.components) AS c`,
      key: 'c.key',
      value: "coalesce(CAST(c.value AS TEXT), 'null')",
      valid: `json_valid(${table}.components)`,
    };
  }
  return {
    from: `${table} CROSS JOIN LATERAL jsonb_each_text(${table}.components::jsonb) AS c`,
    key: 'c.key',
    value: "coalesce(c.value, 'null')",
    valid: `${table}.components IS NOT NULL`,
  };
}

/** Qualified name for dropping a temporary table we created. */
export function tempTable(dialect: Dialect, name: string): string {
  return dialect === 'sqlite' ? `temp.${name}` : `pg_temp.${name}`;
}
