import type { Dialect } from '../store/query-runner.js';

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

/**
 * The cut of a month's settled-run aggregates, if they are usable (no delete since): SQLite's is
 * the last write sequence they include (schema v4, src/store/sqlite/settle.ts), PostgreSQL's the first
 * transaction ID they do not (schema v5, src/store/postgres/settle.ts).
 */
export function settledCutSelect(dialect: Dialect): string {
  const cut = dialect === 'sqlite' ? 's.seq' : 's.cut::text';
  return `SELECT ${cut} AS cut FROM report_settled_months AS s
    JOIN report_month_changes AS c ON c.month = s.month AND c.deletes = s.deletes
    WHERE s.month = ?`;
}

/** The two conditions (each a range of the settled index) that select the runs not in the aggregates at a cut (`?`). */
export function unsettledRuns(dialect: Dialect): [string, string] {
  return dialect === 'sqlite' ? ['settled_seq IS NULL', 'settled_seq > ?'] : ['settled_xid IS NULL', 'settled_xid >= ?::xid8'];
}

/**
 * 1 when a text expression is a 32-hex-digit ID (the store's anonymized form, packed 16 bytes
 * each: id-set.ts), else 0; the test is id-set.ts's HEX32.
 */
export function isHex32(dialect: Dialect, expr: string): string {
  return dialect === 'sqlite'
    ? `(CASE WHEN length(${expr}) = 32 AND ${expr} NOT GLOB '*[^0-9a-f]*' THEN 1 ELSE 0 END)`
    : `(CASE WHEN ${expr} ~ '^[0-9a-f]{32}$' THEN 1 ELSE 0 END)`;
}

/** An integer (0 to 2^32 - 1) as 8 hex digits, so a list of them is bytes once decoded. */
export function hex8(dialect: Dialect, expr: string): string {
  return dialect === 'sqlite' ? `printf('%08x', ${expr})` : `lpad(to_hex(${expr}), 8, '0')`;
}

/** Text values run together with no separator, optionally in an order: one string per group. */
export function concatAgg(dialect: Dialect, expr: string, orderBy?: string): string {
  const order = orderBy ? ` ORDER BY ${orderBy}` : '';
  return dialect === 'sqlite' ? `group_concat(${expr}, ''${order})` : `string_agg(${expr}, ''${order})`;
}

/** Distinct text values run together with no separator (SQLite's DISTINCT aggregate takes no separator). */
export function distinctConcatAgg(dialect: Dialect, expr: string): string {
  return dialect === 'sqlite' ? `replace(group_concat(DISTINCT ${expr}), ',', '')` : `string_agg(DISTINCT ${expr}, '')`;
}
