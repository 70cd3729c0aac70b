import { BeaconError } from '../errors.js';

/**
 * Where a store is, as every command names it: `--db <file>` (SQLite, the default) or
 * `--store <postgres://…>` ($BEACON_STORE). The one place that knows the default file and what a
 * PostgreSQL URL looks like; it loads no database driver, so the CLI can use it for --help.
 */
export interface StoreLocation {
  /** SQLite file path (default store). */
  db?: string;
  /** postgres:// or postgresql:// URL; takes precedence over db. */
  store?: string;
}

export const DEFAULT_DB = './usage.db';

export const POSTGRES_URL = /^postgres(ql)?:\/\//i;

export type StoreTarget = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

/** A --store that is not a PostgreSQL URL, as a one-line usage error. */
export function badStoreUrl(): BeaconError {
  return new BeaconError('BEACON_ERR_USAGE', '--store must be a postgres:// or postgresql:// URL (use --db for a SQLite file)');
}

/** Which store the options name; a --store that is not a PostgreSQL URL is BEACON_ERR_USAGE. */
export function storeTarget(loc: StoreLocation): StoreTarget {
  if (loc.store) {
    if (!POSTGRES_URL.test(loc.store)) throw badStoreUrl();
    return { kind: 'postgres', url: loc.store };
  }
  return { kind: 'sqlite', file: loc.db ?? DEFAULT_DB };
}
