import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../../../src/store/sqlite/store.js';
import type { IngestRecord } from '../../../src/store/types.js';
import { tempDir } from '../../receiver/helpers.js';

let tmp: ReturnType<typeof tempDir>;
let store: SqliteStore | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
  tmp?.cleanup();
});

const DAY1 = Date.UTC(2026, 0, 31, 23, 59, 0);
const DAY2 = Date.UTC(2026, 1, 1, 0, 1, 0);

function rec(over: Partial<IngestRecord> & Pick<IngestRecord, 'run' | 'kind'>): IngestRecord {
  return {
    project: 'demo',
    format: 'native',
    user_id: 'u'.repeat(32),
    host_id: 'h'.repeat(32),
    script_id: 's'.repeat(32),
    weak_ids: false,
    eph: false,
    version: '1',
    runtime: 'node/20',
    os: 'linux',
    arch: 'x64',
    ci: false,
    components: null,
    seen_ms: DAY1,
    month: 202601,
    client_ms: 1000,
    exit_code: null,
    duration_ms: null,
    ...over,
  };
}

function rows(path: string): Array<Record<string, unknown>> {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT * FROM runs ORDER BY first_seen_ms').all() as Array<Record<string, unknown>>;
  } finally {
    db.close();
  }
}

describe('SqliteStore', () => {
  it('writes without CHECK evaluation, yet the format CHECK still refuses a bad value from any other connection', async () => {
    tmp = tempDir();
    store = openSqliteStore(tmp.db);
    // The receiver's own connection compiles its upserts without CHECKs (they cost an ephemeral
    // index per row); its values come from code.
    expect(store.db.pragma('ignore_check_constraints', { simple: true })).toBe(1);
    await store.writeBatch([rec({ run: randomUUID(), kind: 'start', format: 'parsl-1' })], []);
    const other = new Database(tmp.db);
    try {
      expect(() =>
        other.prepare(`INSERT INTO run_facts (run, project, format, first_seen_ms, month) VALUES ('x', 'p', 'bogus', 1, 202601)`).run(),
      ).toThrow(/CHECK constraint failed/);
    } finally {
      other.close();
    }
    expect(rows(tmp.db).map((r) => r.format)).toEqual(['parsl-1']);
  });

  it('dedupes on (run, kind) inside a batch, across batches and across reopen', async () => {
    tmp = tempDir();
    store = openSqliteStore(tmp.db);
    const run = randomUUID();
    const start = rec({ run, kind: 'start' });
    const end = rec({ run, kind: 'end', seen_ms: DAY1 + 5, exit_code: 4, duration_ms: 99 });
    expect(await store.writeBatch([start, start, end], [])).toEqual({ stored: 2, duplicates: 1 });
    expect(await store.writeBatch([end, start], [])).toEqual({ stored: 0, duplicates: 2 });
    await store.close();
    store = openSqliteStore(tmp.db);
    expect(await store.writeBatch([end], [])).toEqual({ stored: 0, duplicates: 1 });
    expect(rows(tmp.db)).toHaveLength(1);
    expect(rows(tmp.db)[0]).toMatchObject({ has_start: 1, has_end: 1, exit_code: 4, duration_ms: 99 });
  });

  it('end before start: the end creates the run, the start completes it, first arrival keeps month', async () => {
    tmp = tempDir();
    store = openSqliteStore(tmp.db);
    const run = randomUUID();
    await store.writeBatch(
      [rec({ run, kind: 'end', seen_ms: DAY1, month: 202601, exit_code: 1, duration_ms: 5, components: '{"a":1}' })],
      [],
    );
    await store.writeBatch([rec({ run, kind: 'start', seen_ms: DAY2, month: 202602, components: '{"b":2}', version: '9' })], []);
    expect(rows(tmp.db)[0]).toMatchObject({
      run,
      has_start: 1,
      has_end: 1,
      first_seen_ms: DAY1,
      month: 202601,
      start_seen_ms: DAY2,
      end_seen_ms: DAY1,
      exit_code: 1,
      duration_ms: 5,
      version: '1',
      components: '{"a":1,"b":2}',
    });
  });

  it('an earlier-arriving copy moves first_seen and month back, never forward', async () => {
    tmp = tempDir();
    store = openSqliteStore(tmp.db);
    const run = randomUUID();
    await store.writeBatch([rec({ run, kind: 'start', seen_ms: DAY2, month: 202602 })], []);
    await store.writeBatch([rec({ run, kind: 'end', seen_ms: DAY1, month: 202601, exit_code: 0, duration_ms: 1 })], []);
    expect(rows(tmp.db)[0]).toMatchObject({ first_seen_ms: DAY1, month: 202601 });
  });

  it('derives a missing duration from client clocks (Parsl legacy), only when plausible', async () => {
    tmp = tempDir();
    store = openSqliteStore(tmp.db);
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const legacy = { format: 'parsl-legacy' as const, project: 'parsl', weak_ids: true };
    await store.writeBatch(
      [
        rec({ ...legacy, run: a, kind: 'start', client_ms: 10_000 }),
        rec({ ...legacy, run: a, kind: 'end', client_ms: 25_500 }),
        rec({ ...legacy, run: b, kind: 'end', client_ms: 25_500 }),
        rec({ ...legacy, run: b, kind: 'start', client_ms: 500 }),
        rec({ ...legacy, run: c, kind: 'end', client_ms: 1_000 }),
        rec({ ...legacy, run: c, kind: 'start', client_ms: 9_000 }), // clock skew: end before start
      ],
      [],
    );
    const byRun = Object.fromEntries(rows(tmp.db).map((r) => [r.run, r]));
    expect(byRun[a]).toMatchObject({ duration_ms: 15_500, weak_ids: 1, format: 'parsl-legacy', exit_code: null });
    expect(byRun[b]).toMatchObject({ duration_ms: 25_000 });
    expect(byRun[c]).toMatchObject({ duration_ms: null });
  });

  it('persists counters per UTC day in the same transaction, adding stored and duplicates itself', async () => {
    tmp = tempDir();
    store = openSqliteStore(tmp.db);
    const r1 = rec({ run: randomUUID(), kind: 'start', seen_ms: DAY1 });
    const r2 = rec({ run: randomUUID(), kind: 'start', seen_ms: DAY2, month: 202602 });
    await store.writeBatch(
      [r1, r2, r2],
      [
        { day: '2026-01-31', counts: { received: 5, 'rejected.schema': 2 } },
        { day: '2026-02-01', counts: { received: 1, duplicates: 3 } },
      ],
    );
    await store.writeBatch([], [{ day: '2026-01-31', counts: { received: 1 } }]);
    const db = new Database(tmp.db, { readonly: true });
    const got = db.prepare('SELECT day, name, value FROM daily_counters ORDER BY day, name').all();
    db.close();
    expect(got).toEqual([
      { day: '2026-01-31', name: 'received', value: 6 },
      { day: '2026-01-31', name: 'rejected.schema', value: 2 },
      { day: '2026-01-31', name: 'stored', value: 1 },
      { day: '2026-02-01', name: 'duplicates', value: 4 },
      { day: '2026-02-01', name: 'received', value: 1 },
      { day: '2026-02-01', name: 'stored', value: 1 },
    ]);
  });

  it('rolls a failed batch back whole: no rows, no counters', async () => {
    tmp = tempDir();
    store = openSqliteStore(tmp.db);
    const bad = rec({ run: randomUUID(), kind: 'start', project: null as unknown as string }); // violates NOT NULL
    await expect(
      store.writeBatch([rec({ run: randomUUID(), kind: 'start' }), bad], [{ day: '2026-01-31', counts: { received: 2 } }]),
    ).rejects.toThrow();
    expect(rows(tmp.db)).toHaveLength(0);
    const db = new Database(tmp.db, { readonly: true });
    expect(db.prepare('SELECT count(*) AS n FROM daily_counters').get()).toEqual({ n: 0 });
    db.close();
  });

  it('uses WAL so analysts can read while the receiver writes', () => {
    tmp = tempDir();
    store = openSqliteStore(join(tmp.dir, 'wal.db'));
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('synchronous', { simple: true })).toBe(1);
  });
});
