import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPostgresStore, type PostgresStore } from '../../../src/store/postgres/store.js';
import type { IngestRecord, WriteResult } from '../../../src/store/types.js';
import { createTestSchema, type TestSchema } from './helpers.js';
import { rec } from '../store-contract.js';

/**
 * Two receivers = two stores with their own pools on one database, fed the same datagrams (as a
 * load balancer that duplicates, or a beacon sending copies to two collectors would): the unique
 * key in the database dedupes across them, every run is stored once, and every other copy is
 * counted as a duplicate, whatever order the batches interleave in.
 */

function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

async function writeAll(store: PostgresStore, records: readonly IngestRecord[], batch: number): Promise<WriteResult> {
  const total = { stored: 0, duplicates: 0 };
  for (let i = 0; i < records.length; i += batch) {
    const r = await store.writeBatch(records.slice(i, i + batch), []);
    total.stored += r.stored;
    total.duplicates += r.duplicates;
  }
  return total;
}

/** Until some session of this test's schema waits for a row lock. */
async function waitForLockWait(s: TestSchema): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await s.admin.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO run_facts%'`,
    );
    if (r.rows[0].n > 0) return;
    if (Date.now() > deadline) throw new Error('the store never waited for the lock');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('two PostgreSQL stores writing the same records at once', () => {
  let s: TestSchema;
  const stores: PostgresStore[] = [];
  beforeEach(async () => {
    s = await createTestSchema();
  });
  afterEach(async () => {
    for (const st of stores.splice(0)) await st.close();
    await s.drop();
  });

  it('stores each run once and counts every other copy as a duplicate', async () => {
    const t0 = Date.UTC(2026, 4, 2, 8);
    const runs = Array.from({ length: 2500 }, () => randomUUID());
    // Each datagram twice (the beacon's copies); both receivers get all of them.
    const datagrams = runs.flatMap((run, i) => {
      const start = rec('start', run, { seen_ms: t0 + i });
      const end = rec('end', run, { seen_ms: t0 + i + 50, duration_ms: i });
      return [start, start, end, end];
    });
    stores.push(await openPostgresStore(s.url), await openPostgresStore(s.url));
    // Different arrival orders, so one batch holds a run's start and another batch its end, and
    // the two receivers meet the same rows in opposite orders.
    const [a, b] = await Promise.all([
      writeAll(stores[0]!, shuffled(datagrams, 1), 400),
      writeAll(stores[1]!, shuffled(datagrams, 2).reverse(), 700),
    ]);
    const parts = runs.length * 2;
    expect(a.stored + b.stored).toBe(parts);
    expect(a.duplicates + b.duplicates).toBe(datagrams.length * 2 - parts);
    // Both did real work: neither simply waited for the other to finish.
    expect(a.stored).toBeGreaterThan(0);
    expect(b.stored).toBeGreaterThan(0);

    const rows = await s.admin.query(
      'SELECT count(*)::int AS n, sum(has_start)::int AS starts, sum(has_end)::int AS ends, count(DISTINCT duration_ms)::int AS d FROM runs',
    );
    expect(rows.rows[0]).toEqual({ n: runs.length, starts: runs.length, ends: runs.length, d: runs.length });
    const counters = await s.admin.query<{ name: string; v: number }>(
      `SELECT name, sum(value)::int AS v FROM daily_counters GROUP BY name ORDER BY name`,
    );
    expect(counters.rows).toEqual([
      { name: 'duplicates', v: datagrams.length * 2 - parts },
      { name: 'stored', v: parts },
    ]);
    const firsts = await s.admin.query('SELECT count(*)::int AS n FROM user_first_month');
    expect(firsts.rows[0].n).toBe(1);
  }, 120_000);

  it('a deadlock the server breaks is retried, and the batch is stored once', async () => {
    const store = await openPostgresStore(s.url);
    stores.push(store);
    const [x, y] = [randomUUID(), randomUUID()].sort();
    await store.writeBatch([rec('start', x!), rec('start', y!)], []);
    // Another session locks y, the store's batch locks x and waits for y, then that session asks
    // for x: a real deadlock, which PostgreSQL breaks by aborting one of the two.
    const other = await s.admin.connect();
    let otherAborted = false;
    try {
      await other.query('BEGIN');
      await other.query('SELECT 1 FROM run_facts WHERE run = $1 FOR UPDATE', [y]);
      const write = store.writeBatch([rec('end', x!), rec('end', y!)], []);
      await waitForLockWait(s);
      await other.query('SELECT 1 FROM run_facts WHERE run = $1 FOR UPDATE', [x]).catch((e: { code?: string }) => {
        expect(e.code).toBe('40P01');
        otherAborted = true;
      });
      await other.query(otherAborted ? 'ROLLBACK' : 'COMMIT');
      expect(await write).toEqual({ stored: 2, duplicates: 0 });
    } finally {
      other.release();
    }
    // Exactly one side lost: the other session, or the store, which then reran its batch.
    expect(store.retries).toBe(otherAborted ? 0 : 1);
    expect((await s.admin.query('SELECT sum(has_end)::int AS n FROM run_facts')).rows[0].n).toBe(2);
  }, 30_000);

  it('survives its connections being killed (server restart): the next writes reconnect', async () => {
    const app = `bt_${randomUUID().slice(0, 8)}`;
    const u = new URL(s.url);
    u.searchParams.set('application_name', app);
    const store = await openPostgresStore(u.toString());
    stores.push(store);
    const run = randomUUID();
    expect(await store.writeBatch([rec('start', run)], [])).toEqual({ stored: 1, duplicates: 0 });
    const killed = await s.admin.query(
      'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1',
      [app],
    );
    expect(killed.rows[0].n).toBeGreaterThan(0);
    // At once, before the pool has noticed: the dead connection is discarded and the batch rerun
    // on a new one. (A connection reset surfacing as an uncaught 'error' would fail this file.)
    expect(await store.writeBatch([rec('end', run)], [])).toEqual({ stored: 1, duplicates: 0 });
    expect((await s.admin.query('SELECT has_start, has_end FROM run_facts')).rows).toEqual([{ has_start: 1, has_end: 1 }]);
  });

  it('a batch that fails rolls back entirely and can be written again', async () => {
    const store = await openPostgresStore(s.url);
    stores.push(store);
    const run = randomUUID();
    // A record the database refuses (format outside the CHECK constraint) next to a good one.
    const bad = { ...rec('start', randomUUID()), format: 'bogus' } as unknown as IngestRecord;
    await expect(store.writeBatch([rec('start', run), bad], [{ day: '2026-05-02', counts: { received: 2 } }])).rejects.toThrow(/format/);
    const none = await s.admin.query('SELECT (SELECT count(*) FROM run_facts)::int AS r, (SELECT count(*) FROM daily_counters)::int AS c');
    expect(none.rows[0]).toEqual({ r: 0, c: 0 });
    expect(await store.writeBatch([rec('start', run)], [{ day: '2026-05-02', counts: { received: 2 } }])).toEqual({
      stored: 1,
      duplicates: 0,
    });
  });
});
