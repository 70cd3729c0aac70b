import type { Month } from '../month.js';

/** What a report covers: one month, all projects or one. Builds the shared WHERE clause. */
export interface Scope {
  month: Month;
  project: string | null;
}

/** `month = ? [AND project = ?]` on run_facts (optionally qualified), with its parameters. */
export function runsWhere(scope: Scope, table = 'run_facts'): { sql: string; params: unknown[] } {
  const p = table ? `${table}.` : '';
  return scope.project === null
    ? { sql: `${p}month = ?`, params: [scope.month.key] }
    : { sql: `${p}month = ? AND ${p}project = ?`, params: [scope.month.key, scope.project] };
}

/** Cache key of a scope (month is a separate column). */
export function scopeKey(project: string | null): string {
  return project === null ? 'all' : `project:${project}`;
}
