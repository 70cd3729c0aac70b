import { describe, expect, it } from 'vitest';
import type { SqliteStore } from '../../../src/store/sqlite/store.js';
import type { IngestRecord } from '../../../src/store/types.js';
import { hexId, useReceiverStore } from '../../reports/store-fixture.js';
import { jsonReport } from '../../reports/run-report.js';

/**
 * The report bookkeeping (per-row triggers in schema v2–v3, per batch in the store since v4),
 * driven by the receiver's real store code (the same upserts as ingest):
 * month change counters and first months must follow starts, ends, late ends and month moves.
 */
let file: string;
let store: SqliteStore;
useReceiverStore((s) => ({ file, store } = s));

function rec(run: string, kind: 'start' | 'end', seen: Date, user = 'alice'): IngestRecord {
  const ms = seen.getTime();
  return {
    run,
    kind,
    project: 'parsl',
    format: 'native',
    user_id: hexId(user),
    host_id: hexId(`h-${user}`),
    script_id: hexId(`s-${user}`),
    weak_ids: false,
    eph: false,
    version: '1.0.0',
    runtime: 'node/20.20.2',
    os: 'linux',
    arch: 'x64',
    ci: false,
    components: null,
    seen_ms: ms,
    month: seen.getUTCFullYear() * 100 + seen.getUTCMonth() + 1,
    client_ms: ms,
    exit_code: kind === 'end' ? 0 : null,
    duration_ms: kind === 'end' ? 60_000 : null,
  };
}

const changes = () =>
  Object.fromEntries(
    (store.db.prepare('SELECT month, changes FROM report_month_changes').all() as { month: number; changes: number }[]).map((r) => [
      r.month,
      r.changes,
    ]),
  );
const firstMonths = () => store.db.prepare('SELECT user_id, month FROM user_first_month ORDER BY user_id').all();

describe("report bookkeeping under the receiver's upserts (per batch since schema v4)", () => {
  it('count changes per month and ignore duplicates', async () => {
    await store.writeBatch([rec('r1', 'start', new Date(Date.UTC(2026, 9, 30)))], []);
    expect(changes()).toEqual({ 202610: 1 });
    await store.writeBatch([rec('r1', 'start', new Date(Date.UTC(2026, 9, 30)))], []); // duplicate copy
    expect(changes()).toEqual({ 202610: 1 });
    await store.writeBatch([rec('r1', 'end', new Date(Date.UTC(2026, 10, 2)))], []); // late end, next month
    expect(changes()).toEqual({ 202610: 2 });
    expect(firstMonths()).toEqual([{ user_id: hexId('alice'), month: 202610 }]);
  });

  it("a run that moves to an earlier month changes both months and the user's first month", async () => {
    await store.writeBatch([rec('r2', 'end', new Date(Date.UTC(2026, 10, 1, 0, 5)), 'bob')], []);
    expect(changes()).toEqual({ 202611: 1 });
    expect(firstMonths()).toEqual([{ user_id: hexId('bob'), month: 202611 }]);
    // Its start, stored by a second receiver whose batch is written later, arrived before midnight:
    // the run's first datagram is now in October, so the run moves there.
    await store.writeBatch([rec('r2', 'start', new Date(Date.UTC(2026, 9, 31, 23, 59)), 'bob')], []);
    expect(changes()).toEqual({ 202610: 1, 202611: 2 });
    expect(firstMonths()).toEqual([{ user_id: hexId('bob'), month: 202610 }]);
  });

  it("one batch with users in streaks and months out of order keeps each user's earliest month", async () => {
    const nov = new Date(Date.UTC(2026, 10, 3));
    const oct = new Date(Date.UTC(2026, 9, 3));
    const sep = new Date(Date.UTC(2026, 8, 3));
    // In run order (the order the store writes them): carol Nov, Nov, Oct, Nov; dave Nov, Sep, Nov.
    await store.writeBatch(
      [
        rec('a1', 'start', nov, 'carol'),
        rec('a2', 'start', nov, 'carol'),
        rec('a3', 'start', oct, 'carol'),
        rec('a4', 'start', nov, 'carol'),
        rec('b1', 'start', nov, 'dave'),
        rec('b2', 'start', sep, 'dave'),
        rec('b3', 'start', nov, 'dave'),
      ],
      [],
    );
    expect(firstMonths()).toEqual(
      [
        { user_id: hexId('carol'), month: 202610 },
        { user_id: hexId('dave'), month: 202609 },
      ].sort((a, b) => (a.user_id < b.user_id ? -1 : 1)),
    );
    // A later batch with an even earlier run of carol's moves her first month again.
    await store.writeBatch([rec('a5', 'start', nov, 'carol'), rec('a6', 'start', sep, 'carol')], []);
    expect(firstMonths()).toContainEqual({ user_id: hexId('carol'), month: 202609 });
    expect(changes()).toEqual({ 202609: 2, 202610: 1, 202611: 6 });
  });

  it('a report before and after a late end differ exactly where the data changed', async () => {
    const oct = new Date(Date.UTC(2026, 9, 15));
    const batch = Array.from({ length: 6 }, (_, i) => rec(`s${i}`, 'start', oct, `user${i}`));
    await store.writeBatch(batch, []);
    await store.writeBatch(
      batch.slice(0, 5).map((r) => ({ ...r, kind: 'end' as const, exit_code: 0, duration_ms: 60_000 })),
      [],
    );
    const before = await jsonReport({ db: file, month: '2026-10' });
    expect(before.runs_completed).toBe(5);
    await store.writeBatch([{ ...batch[5]!, kind: 'end', exit_code: 1, duration_ms: 120_000, seen_ms: Date.UTC(2026, 10, 3) }], []);
    const after = await jsonReport({ db: file, month: '2026-10' });
    expect(after.runs_completed).toBe(6);
    expect(after.success_rate).toBe(0.8333);
  });
});
