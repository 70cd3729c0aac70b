import { afterEach, describe, expect, it } from 'vitest';
import { createTestSchema } from '../store/postgres/helpers.js';
import { encoder, query, send, startReceiver, tempDir, waitFor, type RunningReceiver } from './helpers.js';

let rx: RunningReceiver | undefined;
let tmp: ReturnType<typeof tempDir>;
afterEach(async () => {
  if (rx) await rx.stop();
  rx = undefined;
  tmp?.cleanup();
});

describe('beacon receive keeps settled-run aggregates for reports', () => {
  it('folds completed runs into their month aggregates from its settle thread; open runs stay out', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off'], { BEACON_SETTLE_SECONDS: '1' });
    const done = [encoder(), encoder(), encoder({ project: 'other' })];
    const open = encoder();
    const now = Date.now();
    await send(rx.port, [...done.flatMap((e) => [e.start(now), e.end(now + 10, 0, 1234)]), open.start(now)]);
    await waitFor('three runs settled', () => {
      const rows = query<{ runs: number }>(tmp.db, 'SELECT coalesce(sum(runs), 0) AS runs FROM report_settled_groups');
      return rows[0]!.runs === 3;
    });
    const month = query<{ month: number }>(tmp.db, 'SELECT month FROM run_facts LIMIT 1')[0]!.month;
    expect(query(tmp.db, 'SELECT month, seq > 0 AS cut FROM report_settled_months')).toEqual([{ month, cut: 1 }]);
    expect(query(tmp.db, 'SELECT project, duration_ms, runs FROM report_settled_durations ORDER BY project')).toEqual([
      { project: 'demo', duration_ms: 1230, runs: 2 },
      { project: 'other', duration_ms: 1230, runs: 1 },
    ]);
    expect(query<{ n: number }>(tmp.db, 'SELECT count(*) AS n FROM run_facts WHERE settled_seq IS NULL')[0]!.n).toBe(1);
  }, 30_000);
});

describe('beacon receive --store postgres keeps settled-run aggregates too (schema v5)', () => {
  it('settles completed runs at a transaction-ID cut; open runs stay out', async () => {
    tmp = tempDir();
    const pgs = await createTestSchema();
    try {
      rx = await startReceiver(tmp.db, ['--store', pgs.url, '--rate-limit', 'off'], { BEACON_SETTLE_SECONDS: '1' });
      const done = [encoder(), encoder(), encoder({ project: 'other' })];
      const open = encoder();
      const now = Date.now();
      await send(rx.port, [...done.flatMap((e) => [e.start(now), e.end(now + 10, 0, 1234)]), open.start(now)]);
      await waitFor(
        'three runs settled',
        async () => Number((await pgs.admin.query('SELECT coalesce(sum(runs), 0) AS runs FROM report_settled_groups')).rows[0].runs) === 3,
      );
      const month = (await pgs.admin.query('SELECT month FROM run_facts LIMIT 1')).rows[0].month as number;
      expect((await pgs.admin.query('SELECT month, cut::text::bigint > 1 AS cut FROM report_settled_months')).rows).toEqual([
        { month, cut: true },
      ]);
      expect(
        (await pgs.admin.query('SELECT project, duration_ms::int AS d, runs::int AS runs FROM report_settled_durations ORDER BY project'))
          .rows,
      ).toEqual([
        { project: 'demo', d: 1230, runs: 2 },
        { project: 'other', d: 1230, runs: 1 },
      ]);
      expect((await pgs.admin.query('SELECT count(*)::int AS n FROM run_facts WHERE settled_xid IS NULL')).rows[0].n).toBe(1);
      expect(rx.lines.some((l) => l.msg === 'settled runs aggregated for reports')).toBe(true);
      expect(await rx.stop()).toBe(0);
      rx = undefined;
    } finally {
      await pgs.drop();
    }
  }, 30_000);
});
