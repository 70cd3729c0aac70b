/**
 * Column lists and SQL fragments both stores derive from, so the SQLite and the PostgreSQL schema,
 * their settle code and the report SQL can never disagree on them.
 */

/** The `runs` view: what reports read of run_facts (schema v1 on both stores). */
export const RUNS_VIEW_DDL = `CREATE VIEW runs AS
SELECT run, project, user_id, host_id, script_id, version, runtime, os, arch, ci,
       first_seen_ms, exit_code, duration_ms, has_start, has_end, format,
       month, eph, weak_ids, components, start_seen_ms, end_seen_ms
FROM run_facts;`;

/** What a report groups by, minus has_start/has_end (both 1 for a settled run). */
export const SETTLED_GROUP_COLUMNS =
  'project, user_id, host_id, script_id, exit_code, format, eph, version, runtime, os, arch, ci, components';

/**
 * A run length truncated to 3 significant digits (integer ms, portable SQL). Truncating, not
 * rounding, keeps every run in its histogram bin (all bin edges have ≤ 3 significant digits);
 * percentiles taken on it are within 0.1 % of the exact value. Reports use it everywhere, so a
 * figure never depends on whether a month was settled.
 */
export function truncatedDuration(col = 'duration_ms'): string {
  const steps: string[] = [`WHEN ${col} < 1000 THEN ${col}`];
  for (let digits = 4, unit = 10; digits <= 12; digits++, unit *= 10) {
    steps.push(`WHEN ${col} < ${10 ** digits} THEN ${col} / ${unit} * ${unit}`);
  }
  return `CASE ${steps.join(' ')} ELSE ${col} END`;
}
