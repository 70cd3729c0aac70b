import { BeaconError } from '../errors.js';
import { openSqliteStore } from './sqlite/store.js';
import type { RunStore } from './types.js';

export interface StoreLocation {
  /** SQLite file path (default store). */
  db?: string;
  /** postgres:// or postgresql:// URL; takes precedence over db. */
  store?: string;
}

const POSTGRES_URL = /^postgres(ql)?:\/\//i;

/** Opens the store the options name; callers never see which kind it is beyond `store.kind`. */
export async function openStore(loc: StoreLocation): Promise<RunStore> {
  if (loc.store) {
    if (!POSTGRES_URL.test(loc.store)) {
      throw new BeaconError('BEACON_ERR_USAGE', '--store must be a postgres:// or postgresql:// URL (use --db for a SQLite file)');
    }
    // Loaded only when asked for: SQLite users never load pg.
    const { openPostgresStore } = await import('./postgres/store.js');
    return openPostgresStore(loc.store);
  }
  return openSqliteStore(loc.db ?? './usage.db');
}
