import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore, UPSERT_END, UPSERT_START, type SqliteStore } from '../../../src/store/sqlite/store.js';
import type { IngestRecord } from '../../../src/store/types.js';
import { tempDir } from '../../receiver/helpers.js';

// The store writes a batch in one transaction and keeps the report bookkeeping itself, batched:
// it tells inserts from updates by last_insert_rowid, skips first-month writes it knows are no-ops,
// and sums month changes and counters per batch (src/store/sqlite/store.ts). The reference here is
// the plainest writer of the same upserts: in the same sorted order, the row read back after each
// one that changed something, every piece of bookkeeping written for every stored record. Any
// faster write path must keep agreeing with it (bench/store-write.mjs measures the candidates).

let tmp: ReturnType<typeof tempDir> | undefined;
const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
  tmp?.cleanup();
  tmp = undefined;
});

const JAN = Date.UTC(2026, 0, 31, 23, 0, 0);
const FEB = Date.UTC(2026, 1, 1, 0, 30, 0);

function rec(over: Partial<IngestRecord> & Pick<IngestRecord, 'run' | 'kind'>): IngestRecord {
  return {
    project: 'demo',
    format: 'native',
    user_id: 'u'.repeat(32),
    host_id: 'h'.repeat(32),
    script_id: null,
    weak_ids: false,
    eph: false,
    version: '1',
    runtime: 'node/20',
    os: 'linux',
    arch: 'x64',
    ci: false,
    components: null,
    seen_ms: JAN,
    month: 202601,
    client_ms: 1000,
    exit_code: null,
    duration_ms: null,
    ...over,
  };
}

/** The single-row reference writer, in one IMMEDIATE transaction per batch, as the store does. */
function referenceWriter(db: Db): (records: readonly IngestRecord[]) => { stored: number; duplicates: number } {
  const start = db.prepare(UPSERT_START);
  const end = db.prepare(UPSERT_END);
  const row = db.prepare('SELECT month, project, user_id, moved_from FROM run_facts WHERE run = ?');
  const seqStmt = db.prepare('UPDATE write_seq SET seq = seq + 1 WHERE id = 1 RETURNING seq').pluck();
  const monthChanges = db.prepare(
    'INSERT INTO report_month_changes (month, changes) VALUES (?, ?) ON CONFLICT (month) DO UPDATE SET changes = changes + excluded.changes',
  );
  const firstMonth = db.prepare(
    'INSERT INTO user_first_month (project, user_id, month) VALUES (?, ?, ?) ON CONFLICT (project, user_id) DO UPDATE SET month = excluded.month WHERE excluded.month < user_first_month.month',
  );
  const counter = db.prepare(
    'INSERT INTO daily_counters (day, name, value) VALUES (?, ?, ?) ON CONFLICT (day, name) DO UPDATE SET value = value + excluded.value',
  );
  // better-sqlite3's transaction variants are plain functions bound to their transaction.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  return db.transaction((records: readonly IngestRecord[]) => {
    const seq = records.length > 0 ? (seqStmt.get() as number) : 0;
    const sorted = [...records].sort((a, b) => (a.run < b.run ? -1 : a.run > b.run ? 1 : 0));
    let stored = 0;
    const counts = new Map<string, number>();
    const bump = (k: string) => counts.set(k, (counts.get(k) ?? 0) + 1);
    for (const r of sorted) {
      const v = [
        r.run,
        r.project,
        r.format,
        r.user_id,
        r.host_id,
        r.script_id,
        r.version,
        r.runtime,
        r.os,
        r.arch,
        r.ci === null ? null : r.ci ? 1 : 0,
        r.weak_ids ? 1 : 0,
        r.eph ? 1 : 0,
        r.components,
        r.seen_ms,
        r.month,
        r.seen_ms,
        r.client_ms,
      ];
      const info =
        r.kind === 'start' ? start.run(...v, r.net_tag ?? null, seq) : end.run(...v, r.exit_code, r.duration_ms, r.net_tag ?? null, seq);
      const day = new Date(r.seen_ms).toISOString().slice(0, 10);
      if (info.changes === 0) {
        bump(`${day} duplicates`);
        continue;
      }
      stored++;
      bump(`${day} stored`);
      const now = row.get(r.run) as { month: number; project: string; user_id: string | null; moved_from: number | null };
      monthChanges.run(now.month, 1);
      if (now.moved_from !== null) monthChanges.run(now.moved_from, 1);
      if (now.user_id !== null) firstMonth.run(now.project, now.user_id, now.month);
    }
    for (const [k, n] of counts) {
      const [day, name] = k.split(' ');
      counter.run(day, name, n);
    }
    return { stored, duplicates: records.length - stored };
  }).immediate;
}

function tables(db: Db): Record<string, unknown[]> {
  return {
    run_facts: db.prepare('SELECT * FROM run_facts ORDER BY run').all(),
    report_month_changes: db.prepare('SELECT month, changes, deletes FROM report_month_changes ORDER BY month').all(),
    user_first_month: db.prepare('SELECT * FROM user_first_month ORDER BY project, user_id').all(),
    daily_counters: db.prepare('SELECT * FROM daily_counters ORDER BY day, name').all(),
    write_seq: db.prepare('SELECT * FROM write_seq').all(),
  };
}

/** The store under test and the reference, on two fresh files with the same schema. */
function pair(): { store: SqliteStore; ref: Db; reference: ReturnType<typeof referenceWriter> } {
  tmp = tempDir();
  const store = openSqliteStore(tmp.db);
  const refStore = openSqliteStore(join(tmp.dir, 'reference.db'));
  open.push(store, refStore);
  return { store, ref: refStore.db, reference: referenceWriter(refStore.db) };
}

/** Deterministic PRNG (mulberry32): a failing seed can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('SqliteStore batch write path against a per-record reference', () => {
  it('a batch holding both copies of a datagram and both halves of a run, in either order, leaves the row one-record batches leave', async () => {
    const { store } = pair();
    const single = openSqliteStore(join(tmp!.dir, 'single.db'));
    open.push(single);
    const ends = (run: string) => [
      rec({ run, kind: 'start', seen_ms: JAN + 10, client_ms: 5000, components: '{"a":1,"k":"start"}', version: null }),
      rec({ run, kind: 'start', seen_ms: JAN + 11, client_ms: 5000, components: '{"a":1,"k":"start"}', version: null }),
      rec({ run, kind: 'end', seen_ms: JAN + 20, client_ms: 9000, exit_code: 3, components: '{"b":2,"k":"end"}', version: '2' }),
      rec({ run, kind: 'end', seen_ms: JAN + 21, client_ms: 9000, exit_code: 3, components: '{"b":2,"k":"end"}', version: '2' }),
    ];
    const startFirst = ends('00000000-0000-4000-8000-00000000000a');
    const endFirst = ends('00000000-0000-4000-8000-00000000000b');
    // End first: the end copies arrive before the start copies.
    const endFirstOrder = [endFirst[2]!, endFirst[0]!, endFirst[3]!, endFirst[1]!].map((r, i) => ({ ...r, seen_ms: JAN + 10 + i }));
    const batch = [...startFirst, ...endFirstOrder];
    expect(await store.writeBatch(batch, [])).toEqual({ stored: 4, duplicates: 4 });
    for (const r of batch) await single.writeBatch([r], []);
    const a = store.db.prepare('SELECT * FROM run_facts ORDER BY run').all() as Array<Record<string, unknown>>;
    const b = single.db.prepare('SELECT * FROM run_facts ORDER BY run').all() as Array<Record<string, unknown>>;
    // settled_seq is the write sequence of the batch that completed the run: one batch here, the
    // third and second of the one-record batches there. Everything else must be identical.
    expect(a.map((r) => r.settled_seq)).toEqual([1, 1]);
    expect(b.map((r) => r.settled_seq)).toEqual([3, 6]);
    expect(a.map(({ settled_seq: _, ...r }) => r)).toEqual(b.map(({ settled_seq: _, ...r }) => r));
    // Arrival order decides the merge: the later half's components win a shared key, and the
    // identity keeps the first non-null value.
    expect(a[0]).toMatchObject({
      components: '{"a":1,"k":"end","b":2}',
      version: '2',
      exit_code: 3,
      duration_ms: 4000,
      has_start: 1,
      has_end: 1,
    });
    expect(a[1]).toMatchObject({ components: '{"b":2,"k":"start","a":1}', version: '2', exit_code: 3, duration_ms: 4000 });
  });

  it('agrees with the single-row write path on random batches: rows, month changes, first months, counters', async () => {
    for (let seed = 1; seed <= 12; seed++) {
      const { store, ref, reference } = pair();
      const rnd = prng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
      // Many users, few records each: a run's first month is often the user's first month too.
      const users = [null, null, ...Array.from({ length: 24 }, (_, i) => String(i).padStart(32, '0'))];
      const runs = Array.from({ length: 40 + seed * 10 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
      for (let b = 0; b < 25; b++) {
        const n = 1 + Math.floor(rnd() * 160);
        const batch: IngestRecord[] = [];
        for (let i = 0; i < n; i++) {
          const feb = rnd() < 0.5;
          const kind = rnd() < 0.5 ? 'start' : 'end';
          batch.push(
            rec({
              run: pick(runs),
              kind,
              project: pick(['demo', 'other']),
              user_id: pick(users),
              version: pick([null, '1', '2']),
              ci: pick([null, true, false]),
              components: pick([null, '{"x":1}', '{"x":2,"y":[1]}', '{"z":{"q":1}}']),
              // Receiver clocks go back and forth across a month boundary: runs move to earlier months.
              seen_ms: (feb ? FEB : JAN) + Math.floor(rnd() * 1000),
              month: feb ? 202602 : 202601,
              client_ms: pick([null, 1000, 5000]),
              exit_code: kind === 'end' ? pick([0, 1, null]) : null,
              duration_ms: kind === 'end' ? pick([null, 42]) : null,
            }),
          );
        }
        const got = await store.writeBatch(batch, []);
        expect(got, `seed ${seed} batch ${b}`).toEqual(reference(batch));
        if (rnd() < 0.2) {
          // Another connection changes run_facts between batches (prune, a hand edit): nothing the
          // store knows from earlier batches may outlive it.
          const victim = pick(runs);
          const other = new Database(store.db.name);
          other.prepare('DELETE FROM run_facts WHERE run = ?').run(victim);
          other.close();
          ref.prepare('DELETE FROM run_facts WHERE run = ?').run(victim);
        }
      }
      expect(tables(store.db), `seed ${seed}`).toEqual(tables(ref));
      for (const o of open.splice(0)) await o.close();
      tmp!.cleanup();
      tmp = undefined;
    }
  });

  it('a failed batch rolls back whole: its end is stored by the next batch, not counted a copy', async () => {
    const { store } = pair();
    const run = '00000000-0000-4000-8000-0000000000c1';
    await store.writeBatch([rec({ run, kind: 'start' })], []);
    // A batch that fails after its upserts (a bad counter name hits the NOT NULL on day).
    await expect(
      store.writeBatch([rec({ run, kind: 'end', seen_ms: JAN + 5 })], [{ day: null as unknown as string, counts: { received: 1 } }]),
    ).rejects.toThrow();
    expect(store.db.prepare('SELECT has_end FROM run_facts WHERE run = ?').pluck().get(run)).toBe(0);
    // Had anything of the failed batch stayed "stored" (in SQLite or in memory), this would count as a copy.
    expect(await store.writeBatch([rec({ run, kind: 'end', seen_ms: JAN + 6 })], [])).toEqual({ stored: 1, duplicates: 0 });
    expect(store.db.prepare('SELECT has_end FROM run_facts WHERE run = ?').pluck().get(run)).toBe(1);
  });
});
