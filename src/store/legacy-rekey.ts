import BetterSqlite3 from 'better-sqlite3';
import type { Pool } from 'pg';
import { BeaconError } from '../errors.js';

/**
 * Binds a store to the collector secret (src/receiver/collector-secret.ts) once per receiver
 * start, before anything is received:
 *  1. the store remembers the secret's fingerprint; a receiver whose secret differs refuses to
 *     start (receivers sharing a PostgreSQL store must share the secret, or one legacy Parsl user
 *     would be counted once per secret);
 *  2. once per store, legacy Parsl IDs stored raw by versions before the secret existed (10 hex
 *     characters of an unsalted SHA-256: the only IDs of that length) are replaced by their keyed
 *     form everywhere an ID is kept, in one transaction. A keyed ID is 32 hex, so the step is
 *     idempotent and the length alone tells the two apart.
 */
export interface SecretBinding {
  fingerprint: string;
  legacyId(kind: 'user' | 'host', raw: string): string;
  /** Where the secret lives, for the error message. */
  path: string;
}

export interface BindResult {
  /** IDs re-keyed by this start (0 once done). */
  rekeyed: number;
  /** true when this start recorded the fingerprint (a new store, or one from before the secret). */
  bound: boolean;
}

/** [table, column, kind] of every place a raw legacy ID can be. */
const ID_COLUMNS = [
  ['user_first_month', 'user_id', 'user'],
  ['run_facts', 'user_id', 'user'],
  ['run_facts', 'host_id', 'host'],
  ['report_settled_groups', 'user_id', 'user'],
  ['report_settled_groups', 'host_id', 'host'],
] as const;

const RAW = 10;

function mismatch(s: SecretBinding, stored: string): BeaconError {
  return new BeaconError(
    'BEACON_ERR_COLLECTOR_SECRET',
    `the store was keyed with another collector secret (fingerprint ${stored}, this receiver's ${s.fingerprint} from ${s.path}); ` +
      'give every receiver of one store the same secret file (--secret-file)',
  );
}

export function bindSecretSqlite(path: string, s: SecretBinding, nowMs = Date.now()): BindResult {
  const db = new BetterSqlite3(path, { fileMustExist: true, timeout: 5000 });
  try {
    db.function('beacon_legacy_id', { deterministic: true }, (kind: unknown, raw: unknown) =>
      s.legacyId(kind as 'user' | 'host', String(raw)),
    );
    return db
      .transaction((): BindResult => {
        const row = db.prepare('SELECT fingerprint, legacy_rekeyed_ms FROM collector_secret WHERE id = 1').get() as
          { fingerprint: string; legacy_rekeyed_ms: number | null } | undefined;
        if (row && row.fingerprint !== s.fingerprint) throw mismatch(s, row.fingerprint);
        if (!row) db.prepare('INSERT INTO collector_secret (id, fingerprint) VALUES (1, ?)').run(s.fingerprint);
        let rekeyed = 0;
        if (row?.legacy_rekeyed_ms == null) {
          for (const [table, col, kind] of ID_COLUMNS) {
            rekeyed += db
              .prepare(`UPDATE ${table} SET ${col} = beacon_legacy_id('${kind}', ${col}) WHERE length(${col}) = ${RAW}`)
              .run().changes;
          }
          db.prepare('UPDATE collector_secret SET legacy_rekeyed_ms = ? WHERE id = 1').run(nowMs);
        }
        return { rekeyed, bound: !row };
      })
      .immediate();
  } finally {
    db.close();
  }
}

export async function bindSecretPostgres(pool: Pool, s: SecretBinding, nowMs = Date.now()): Promise<BindResult> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    // Serializes receivers starting at once on one store: the first binds, the others compare.
    await c.query('LOCK TABLE collector_secret IN EXCLUSIVE MODE');
    const row = (await c.query('SELECT fingerprint, legacy_rekeyed_ms FROM collector_secret WHERE id = 1')).rows[0] as
      { fingerprint: string; legacy_rekeyed_ms: string | null } | undefined;
    if (row && row.fingerprint !== s.fingerprint) throw mismatch(s, row.fingerprint);
    if (!row) await c.query('INSERT INTO collector_secret (id, fingerprint) VALUES (1, $1)', [s.fingerprint]);
    let rekeyed = 0;
    if (row?.legacy_rekeyed_ms == null) {
      // The mapping is computed here (PostgreSQL has no HMAC without pgcrypto) for the distinct raw
      // IDs only: legacy users number in the thousands, not the runs.
      for (const [table, col, kind] of ID_COLUMNS) {
        const raw = (await c.query<{ id: string }>(`SELECT DISTINCT ${col} AS id FROM ${table} WHERE length(${col}) = ${RAW}`)).rows.map(
          (r) => r.id,
        );
        if (raw.length === 0) continue;
        const keyed = raw.map((r) => s.legacyId(kind, r));
        // user_first_month first: the run_facts update trigger then merges into the keyed rows.
        const res = await c.query(
          `UPDATE ${table} AS t SET ${col} = m.keyed FROM unnest($1::text[], $2::text[]) AS m(raw, keyed) WHERE t.${col} = m.raw`,
          [raw, keyed],
        );
        rekeyed += res.rowCount ?? 0;
      }
      await c.query('UPDATE collector_secret SET legacy_rekeyed_ms = $1 WHERE id = 1', [nowMs]);
    }
    await c.query('COMMIT');
    return { rekeyed, bound: !row };
  } catch (e) {
    await c.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    c.release();
  }
}
