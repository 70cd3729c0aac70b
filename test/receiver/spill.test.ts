import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeBatch, encodeBatch } from '../../src/store/sqlite/wire-batch.js';
import { faultReason } from '../../src/receiver/store-fault.js';
import { listSpills, prepareReserve, readSpill, reservePath, spillPlace, writeSpill } from '../../src/receiver/spill.js';
import { commitSpills, spillLeftover } from '../../src/receiver/spill-recovery.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/store.js';
import type { IngestRecord } from '../../src/store/types.js';
import { counters, query, tempDir } from './helpers.js';

let tmp: ReturnType<typeof tempDir>;
let store: SqliteStore | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
  tmp?.cleanup();
});

const silent = pino({ level: 'silent' });

function rec(run: string, over: Partial<IngestRecord> = {}): IngestRecord {
  return {
    run,
    kind: 'start',
    project: 'spill',
    format: 'native',
    user_id: 'u'.repeat(32),
    host_id: null,
    script_id: 's'.repeat(32),
    weak_ids: false,
    eph: false,
    version: '1',
    runtime: 'node/20',
    os: 'linux',
    arch: 'x64',
    ci: null,
    components: '{"naïve":"✓ \\u0000"}',
    seen_ms: Date.UTC(2026, 11, 1),
    month: 202612,
    client_ms: 5,
    exit_code: null,
    duration_ms: null,
    ...over,
  };
}

const runId = (i: number): string => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

describe('spill files', () => {
  it('round-trip every field of every batch, in order, with the counters', () => {
    tmp = tempDir();
    const place = spillPlace({ db: tmp.db });
    expect(place).toMatchObject({ dir: tmp.dir, base: 'usage.db' });
    const a = [rec(runId(1)), rec(runId(2), { kind: 'end', exit_code: 3, duration_ms: 1234, ci: true })];
    const b = [rec(runId(3), { format: 'parsl-legacy', weak_ids: true, user_id: null, components: null })];
    const counters = [{ day: '2026-12-01', counts: { received: 9, 'rejected.schema': 2 } }];
    const path = writeSpill(place, { batches: [encodeBatch(a), encodeBatch(b)], counters, records: 3 });
    expect(listSpills(place)).toEqual([path]);
    const back = readSpill(path);
    expect(back.records).toBe(3);
    expect(back.counters).toEqual(counters);
    expect(back.batches.map(decodeBatch)).toEqual([a, b]);
  });

  it('a spill is written over the reserve (no new space needed) and the reserve is recreated', () => {
    tmp = tempDir();
    const place = spillPlace({ db: tmp.db });
    expect(prepareReserve(place, 1 << 20)).toBeUndefined();
    expect(statSync(reservePath(place)).size).toBeGreaterThanOrEqual(1 << 20);
    writeSpill(place, { batches: [encodeBatch([rec(runId(1))])], counters: [], records: 1 });
    expect(existsSync(reservePath(place))).toBe(false);
    expect(prepareReserve(place, 1 << 20)).toBeUndefined();
    expect(existsSync(reservePath(place))).toBe(true);
  });

  it('the next start commits spills oldest first and deletes them; a damaged one is set aside, never committed', async () => {
    tmp = tempDir();
    const place = spillPlace({ db: tmp.db });
    const p1 = writeSpill(
      place,
      { batches: [encodeBatch([rec(runId(1)), rec(runId(2))])], counters: [{ day: '2026-12-01', counts: { received: 2 } }], records: 2 },
      new Date(1000),
    );
    const p2 = writeSpill(
      place,
      { batches: [encodeBatch([rec(runId(2)), rec(runId(3))])], counters: [{ day: '2026-12-01', counts: { received: 2 } }], records: 2 },
      new Date(2000),
    );
    const bad = writeSpill(place, { batches: [encodeBatch([rec(runId(9))])], counters: [], records: 1 }, new Date(3000));
    const bytes = readFileSync(bad);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 3) ^ 0xff, bytes.length - 3);
    writeFileSync(bad, bytes);
    expect(listSpills(place)).toEqual([p1, p2, bad]);
    store = openSqliteStore(tmp.db);
    expect(await commitSpills(store, place, silent)).toBe(4);
    expect(query(tmp.db, 'SELECT run FROM run_facts ORDER BY run').map((r) => r.run)).toEqual([runId(1), runId(2), runId(3)]);
    // The second file's copy of run 2 is a duplicate, as it would have been live.
    expect(counters(tmp.db)).toMatchObject({ received: 4, stored: 3, duplicates: 1 });
    expect(readdirSync(tmp.dir).filter((n) => n.includes('.spill-'))).toEqual([`${bad.split('/').pop()}.damaged`]);
  });

  it('when the spill cannot be written either, the count lost is returned (and logged), nothing thrown', () => {
    tmp = tempDir();
    const place = spillPlace({ db: join(tmp.dir, 'missing-dir', 'usage.db') });
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (s: string) => lines.push(s) });
    expect(spillLeftover({ batches: [encodeBatch([rec(runId(1)), rec(runId(2))])], counters: [], records: 2 }, place, log)).toBe(2);
    expect(lines.join('')).toMatch(/"lost":2.*spill file could not be written/);
  });

  it("PostgreSQL stores spill to --spill-dir, else systemd's state directory", () => {
    expect(spillPlace({ db: './usage.db', store: 'postgres://x/y', spillDir: '/srv/spill' })).toMatchObject({
      dir: '/srv/spill',
      base: 'postgres',
    });
    expect(spillPlace({ db: './usage.db', store: 'postgres://x/y' }, 0, { STATE_DIRECTORY: '/var/lib/usage-beacon' }).dir).toBe(
      '/var/lib/usage-beacon',
    );
  });
});

describe('store faults by reason', () => {
  it('names what an operator acts on', () => {
    expect(faultReason(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }))).toBe('disk_full');
    expect(faultReason(Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY' }))).toBe('read_only');
    expect(faultReason(Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }))).toBe('locked');
    expect(faultReason(Object.assign(new Error('wal'), { code: 'BEACON_WAL_FULL' }))).toBe('wal_full');
    expect(faultReason(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5'), { code: 'ECONNREFUSED' }))).toBe('unreachable');
    expect(faultReason(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }))).toBe(
      'unreachable',
    );
    expect(faultReason(new Error('something else'))).toBe('store_error');
  });
});
