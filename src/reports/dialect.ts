import type { Dialect } from './query-runner.js';

/**
 * The few places where SQLite and PostgreSQL SQL differ. Query modules call these instead of
 * branching on the dialect themselves, so adding the PostgreSQL runner means filling in this file.
 */

/**
 * SELECT of the (components, key, value) pairs of every distinct components object (a JSON object)
 * in `table`. Parsed once per distinct object, not once per row: a month has a handful of distinct
 * objects among a hundred thousand groups.
 */
export function componentPairsSelect(dialect: Dialect, table: string): string {
  const distinct = `(SELECT DISTINCT components FROM ${table} WHERE components IS NOT NULL) AS d`;
  if (dialect === 'sqlite') {
    return `SELECT d.components AS components, c.key AS k, coalesce(CAST(c.value AS TEXT), 'null') AS v
      FROM ${distinct}, json_each(d.components) AS c WHERE json_valid(d.components)`;
  }
  return `SELECT d.components AS components, c.key AS k, coalesce(c.value, 'null') AS v
    FROM ${distinct} CROSS JOIN LATERAL jsonb_each_text(d.components::jsonb) AS c`;
}

/** Qualified name for dropping a temporary table we created. */
export function tempTable(dialect: Dialect, name: string): string {
  return dialect === 'sqlite' ? `temp.${name}` : `pg_temp.${name}`;
}
