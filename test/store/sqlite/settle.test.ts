import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { truncatedDuration } from '../../../src/store/columns.js';
import { settleAll, settleMonth } from '../../../src/store/sqlite/settle.js';
import type { SqliteStore } from '../../../src/store/sqlite/store.js';
import type { IngestRecord } from '../../../src/store/types.js';
import { hexId, useReceiverStore } from '../../reports/store-fixture.js';
import { runReport } from '../../reports/run-report.js';

/**
 * Settled-run aggregates (schema v4, src/store/sqlite/settle.ts) are only a shortcut: a report read
 * through them must be byte-identical to one that groups every run. Each check copies the store,
 * removes the copy's settled state (so it takes the full path) and compares every format.
 */
let dir: string;
let file: string;
let store: SqliteStore;
useReceiverStore((s) => ({ dir, file, store } = s));

const OCT = Date.UTC(2026, 9, 1);
const NOV = Date.UTC(2026, 10, 1);
let seq = 0;

/** A deterministic pseudo-random population: ends, late ends, ends before starts, Parsl, components. */
function population(n: number, baseMs: number, salt: number): IngestRecord[] {
  const out: IngestRecord[] = [];
  for (let i = 0; i < n; i++) {
    const x = (i * 2654435761 + salt * 97) >>> 0;
    const user = `user${x % 17}`;
    const seen = baseMs + (x % (20 * 86_400_000));
    const month = new Date(seen).getUTCFullYear() * 100 + new Date(seen).getUTCMonth() + 1;
    const parsl = x % 11 === 0;
    const base: IngestRecord = {
      run: `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`,
      kind: 'start',
      project: x % 5 === 0 ? 'other' : 'parsl',
      format: parsl ? 'parsl-1' : 'native',
      user_id: parsl ? null : hexId(user),
      host_id: parsl ? null : hexId(`h${x % 7}`),
      script_id: parsl ? null : hexId(`s${x % 9}`),
      weak_ids: false,
      eph: x % 13 === 0,
      version: `1.${x % 4}.0`,
      runtime: 'python/3.11',
      os: x % 3 ? 'linux' : 'darwin',
      arch: 'x64',
      ci: x % 6 === 0,
      components: x % 2 ? `{"executor":"htex${x % 3}"}` : null,
      seen_ms: seen,
      month,
      client_ms: seen,
      exit_code: null,
      duration_ms: null,
    };
    const end: IngestRecord = {
      ...base,
      kind: 'end',
      seen_ms: seen + (x % 5000),
      exit_code: parsl ? null : x % 4 === 0 ? 1 : 0,
      duration_ms: 1 + (x % 987_654_321),
    };
    end.month = new Date(end.seen_ms).getUTCFullYear() * 100 + new Date(end.seen_ms).getUTCMonth() + 1;
    if (x % 10 === 1)
      out.push(base); // never ends
    else if (x % 10 === 2)
      out.push(end); // start lost
    else out.push(base, end);
  }
  return out;
}

async function reports(db: string): Promise<string[]> {
  const out: string[] = [];
  for (const format of ['json', 'md', 'csv'] as const) {
    out.push(await runReport({ db, month: '2026-10', format, minUsers: 2 }));
    out.push(await runReport({ db, month: '2026-10', format, project: 'parsl', minUsers: 2 }));
  }
  return out;
}

/** The same store without settled aggregates, nor cached summaries: the full path. */
async function fullPathReports(): Promise<string[]> {
  const copy = path.join(dir, `copy-${Date.now()}-${seq}.db`);
  await store.db.backup(copy);
  const db = new Database(copy);
  db.exec('DELETE FROM report_settled_months; DELETE FROM report_month_cache');
  db.close();
  return reports(copy);
}

async function settledReports(): Promise<string[]> {
  store.db.exec('DELETE FROM report_month_cache');
  return reports(file);
}

const settledRows = () =>
  (store.db.prepare('SELECT count(*) AS n FROM report_settled_groups WHERE month = 202610').get() as { n: number }).n;

describe('settled-run aggregates', () => {
  it('give the same report as grouping every run, when built, extended and rebuilt', async () => {
    await store.writeBatch(population(400, OCT, 1), []);
    expect(settleMonth(store.db, 202610)).toBe('rebuilt');
    expect(settledRows()).toBeGreaterThan(0);
    expect(await settledReports()).toEqual(await fullPathReports());

    // More runs, and late ends of October runs arriving in November; copies of stored datagrams.
    const more = population(300, OCT + 5 * 86_400_000, 2);
    await store.writeBatch(more, []);
    await store.writeBatch(more.slice(0, 50), []);
    const lateEnds = population(60, OCT + 25 * 86_400_000, 3).filter((r) => r.kind === 'start');
    await store.writeBatch(lateEnds, []);
    await store.writeBatch(
      lateEnds.map((r) => ({ ...r, kind: 'end' as const, seen_ms: NOV + 3600_000, month: 202611, exit_code: 2, duration_ms: 7_200_123 })),
      [],
    );
    // Not settled yet: the new runs are read live.
    expect(await settledReports()).toEqual(await fullPathReports());
    expect([...settleAll(store.db)].find(([m]) => m === 202610)?.[1]).toBe('extended');
    expect(settleMonth(store.db, 202610)).toBe('unchanged');
    expect(await settledReports()).toEqual(await fullPathReports());

    // A delete (what beacon prune counts) makes the aggregates unusable until rebuilt.
    store.db.prepare("DELETE FROM run_facts WHERE month = 202610 AND project = 'other'").run();
    store.db.prepare('UPDATE report_month_changes SET changes = changes + 1, deletes = deletes + 1 WHERE month = 202610').run();
    expect(await settledReports()).toEqual(await fullPathReports());
    expect(settleMonth(store.db, 202610)).toBe('rebuilt');
    expect(await settledReports()).toEqual(await fullPathReports());

    // The reports really read the aggregates: tampering with them shows.
    store.db.exec('UPDATE report_settled_groups SET runs = runs + 1000');
    expect((await settledReports())[0]).not.toEqual((await fullPathReports())[0]);
  }, 60_000);

  it('settle runs stamped with the write that completed them, and only those', async () => {
    const [s, e] = population(1, OCT, 4).filter((r) => r.format === 'native');
    await store.writeBatch([s!], []);
    const row = () => store.db.prepare('SELECT settled_seq AS q FROM run_facts').get() as { q: number | null };
    expect(row().q).toBeNull();
    await store.writeBatch([e!], []);
    const seqNow = (store.db.prepare('SELECT seq FROM write_seq').get() as { seq: number }).seq;
    expect(row().q).toBe(seqNow);
    await store.writeBatch([e!, s!], []); // copies: nothing changes
    expect(row().q).toBe(seqNow);
  });

  it('truncate run lengths to 3 significant digits without leaving their histogram bin', () => {
    const db = new Database(':memory:');
    const t = (ms: number) =>
      (db.prepare(`WITH v (duration_ms) AS (SELECT CAST(? AS INTEGER)) SELECT ${truncatedDuration()} AS d FROM v`).get(ms) as { d: number })
        .d;
    expect([0, 7, 999, 1000, 1234, 59_999, 60_000, 3_599_999, 123_456_789, 31_536_000_000].map(t)).toEqual([
      0, 7, 999, 1000, 1230, 59_900, 60_000, 3_590_000, 123_000_000, 31_500_000_000,
    ]);
    db.close();
  });
});
