import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReport } from '../../../src/reports/build-report.js';
import { collectMonth } from '../../../src/reports/collect.js';
import { parseMonth } from '../../../src/reports/month.js';
import type { QueryRunner } from '../../../src/store/query-runner.js';
import { openSqliteRunner } from '../../../src/store/sqlite/query-runner.js';
import { openPostgresRunner, toDollarParams } from '../../../src/store/postgres/query-runner.js';
import type { IngestRecord } from '../../../src/store/types.js';
import { postgresContractStore, sqliteContractStore } from '../contract-adapters.js';
import { rec } from '../store-contract.js';
import type { ContractStore } from '../store-contract.js';

/**
 * The report SQL on both stores: the same datagrams written through each store's writeBatch,
 * then the real report pipeline (collectMonth → buildReport) through each store's QueryRunner.
 * The reports must be identical — first computed, then again from the per-month cache.
 */

function pick<T>(xs: readonly T[], i: number): T {
  return xs[i % xs.length]!;
}

/** Three months of varied runs: users, versions, platforms, CI, exit codes, durations, components, Parsl. */
function dataset(): IngestRecord[] {
  const out: IngestRecord[] = [];
  const users = Array.from({ length: 40 }, (_, i) => i.toString(16).padStart(32, '0'));
  for (let i = 0; i < 900; i++) {
    const run = randomUUID();
    const seen = Date.UTC(2026, 0 + (i % 3), 1 + (i % 27), i % 24, i % 60);
    const base = {
      seen_ms: seen,
      user_id: pick(users, (i * 7) % (10 + (i % 3) * 15)),
      version: pick(['1.0', '1.1', '2.0', 'dev'], i),
      os: pick(['linux', 'darwin', 'win32'], i % 7),
      arch: pick(['x64', 'arm64'], i % 5),
      ci: i % 4 === 0,
      eph: i % 50 === 0,
      components: i % 3 ? JSON.stringify({ executors: i % 4, provider: pick(['slurm', 'local', 'pbs'], i) }) : null,
    };
    if (i % 10 === 9) {
      out.push(rec('start', run, { ...base, format: 'parsl-1', project: 'parsl', user_id: null, host_id: null, script_id: null }));
      continue;
    }
    if (i % 6 !== 5) out.push(rec('start', run, base));
    if (i % 8 !== 7)
      out.push(
        rec('end', run, { ...base, seen_ms: seen + 1000, exit_code: pick([0, 0, 0, 1, 2], i), duration_ms: (i * 7919) % 4_000_000 }),
      );
  }
  return out;
}

async function report(db: QueryRunner): Promise<string> {
  try {
    const month = parseMonth('2026-03');
    const data = await collectMonth(db, { month, project: null, minBacking: 0 });
    const r = buildReport(data, { month, project: null, suppression: { k: 5, raw: true }, nowMs: Date.UTC(2026, 5, 1) });
    return JSON.stringify({ ...r, trend: r.trend });
  } finally {
    await db.close();
  }
}

describe('reports on a PostgreSQL store', () => {
  let pg: Awaited<ReturnType<typeof postgresContractStore>>;
  let lite: Awaited<ReturnType<typeof sqliteContractStore>>;
  const stores: ContractStore[] = [];

  beforeAll(async () => {
    pg = await postgresContractStore();
    lite = await sqliteContractStore();
    stores.push(pg, lite);
    const records = dataset();
    for (const s of stores) {
      for (let i = 0; i < records.length; i += 250) {
        await s.store.writeBatch(records.slice(i, i + 250), [{ day: '2026-03-02', counts: { received: 250, 'rejected.schema': 3 } }]);
      }
    }
  }, 60_000);
  afterAll(async () => {
    for (const s of stores) await s.dispose();
  });

  it('the month report equals the SQLite store’s, computed and then from the cache', async () => {
    const liteFile = lite.db.name;
    const pgUrl = pg.url;
    const first = await report(await openPostgresRunner(pgUrl));
    expect(first).toEqual(await report(openSqliteRunner(liteFile)));
    expect(JSON.parse(first).runs).toBeGreaterThan(0);
    // The report cached its past months in the store; a second report reads them back.
    expect((await pg.admin.query('SELECT count(*)::int AS n FROM report_month_cache')).rows[0].n).toBeGreaterThan(0);
    expect(await report(await openPostgresRunner(pgUrl))).toEqual(first);
  }, 60_000);

  it('placeholders become $n outside quotes and comments', () => {
    expect(toDollarParams(`SELECT '?' AS "a?", x FROM t -- ?\nWHERE a = ? AND b IN (?, ?)`)).toBe(
      `SELECT '?' AS "a?", x FROM t -- ?\nWHERE a = $1 AND b IN ($2, $3)`,
    );
  });
});
