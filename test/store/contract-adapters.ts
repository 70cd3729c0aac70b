import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite/store.js';
import { openPostgresStore } from '../../src/store/postgres/store.js';
import type { ContractRun, ContractStore } from './store-contract.js';
import { createTestSchema, plainRow } from './postgres/helpers.js';

/** ContractStore adapters: each store's rows read back as the same plain values. */

const BIGINTS = ['first_seen_ms', 'start_seen_ms', 'end_seen_ms', 'duration_ms', 'value', 'changes'];

export async function postgresContractStore(): Promise<ContractStore & { admin: import('pg').Pool; url: string }> {
  const s = await createTestSchema();
  const store = await openPostgresStore(s.url);
  return {
    store,
    admin: s.admin,
    url: s.url,
    async runs() {
      const r = await s.admin.query('SELECT * FROM runs ORDER BY run COLLATE "C"');
      return r.rows.map((row) => plainRow(row, BIGINTS) as unknown as ContractRun);
    },
    async counters() {
      const r = await s.admin.query<{ day: string; name: string; value: string }>('SELECT day, name, value FROM daily_counters');
      return Object.fromEntries(r.rows.map((c) => [`${c.day}/${c.name}`, Number(c.value)]));
    },
    async dispose() {
      await store.close();
      await s.drop();
    },
  };
}

export async function sqliteContractStore(): Promise<ContractStore & { db: import('better-sqlite3').Database }> {
  const dir = mkdtempSync(join(tmpdir(), 'store-contract-'));
  const store = openSqliteStore(join(dir, 'usage.db'));
  return {
    store,
    db: store.db,
    async runs() {
      const rows = store.db.prepare('SELECT * FROM runs ORDER BY run').all() as Array<Record<string, unknown>>;
      return rows.map((r) => ({ ...r, components: r.components === null ? null : JSON.parse(String(r.components)) }) as ContractRun);
    },
    async counters() {
      const rows = store.db.prepare('SELECT day, name, value FROM daily_counters').all() as Array<{
        day: string;
        name: string;
        value: number;
      }>;
      return Object.fromEntries(rows.map((c) => [`${c.day}/${c.name}`, c.value]));
    },
    async dispose() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
