import { describe, expect, it } from 'vitest';
import { postgresContractStore, sqliteContractStore } from '../contract-adapters.js';
import { plainRow } from './helpers.js';
import { checkScenario, SCENARIOS, type ContractStore } from '../store-contract.js';

/**
 * The PostgreSQL store against the shared RunStore contract, then scenario by scenario against
 * the SQLite store itself: the same batches must leave the same runs, counters and report
 * bookkeeping (month change counts, users' first months) in both.
 */

describe('PostgreSQL store: the RunStore contract', () => {
  for (const s of SCENARIOS) {
    it(s.name, () => checkScenario(postgresContractStore, s), 30_000);
  }
});

async function play(cs: ContractStore, s: (typeof SCENARIOS)[number]) {
  for (const b of s.batches) await cs.store.writeBatch(b.records, b.counters ?? []);
  return { runs: await cs.runs(), counters: await cs.counters() };
}

describe('PostgreSQL store: same result as the SQLite store', () => {
  for (const s of SCENARIOS) {
    it(
      s.name,
      async () => {
        const pg = await postgresContractStore();
        const lite = await sqliteContractStore();
        try {
          const a = await play(pg, s);
          const b = await play(lite, s);
          // jsonb cannot hold U+0000: the hostile scenario's components legitimately differ.
          const strip = s.check ? (r: { components: unknown }) => ({ ...r, components: null }) : (r: unknown) => r;
          expect(a.runs.map(strip)).toEqual(b.runs.map(strip));
          expect(a.counters).toEqual(b.counters);
          const pgChanges = (await pg.admin.query('SELECT month, changes FROM report_month_changes ORDER BY month')).rows.map((r) =>
            plainRow(r, ['changes']),
          );
          const liteChanges = lite.db.prepare('SELECT month, changes FROM report_month_changes ORDER BY month').all();
          expect(pgChanges).toEqual(liteChanges);
          const firstSql = 'SELECT project, user_id, month FROM user_first_month ORDER BY project, user_id';
          expect((await pg.admin.query(firstSql)).rows).toEqual(lite.db.prepare(firstSql).all());
        } finally {
          await pg.dispose();
          await lite.dispose();
        }
      },
      30_000,
    );
  }
});
