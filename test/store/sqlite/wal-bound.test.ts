import { randomBytes, randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../../../src/store/sqlite/store.js';
import type { IngestRecord } from '../../../src/store/types.js';
import { tempDir } from '../../receiver/helpers.js';

let tmp: ReturnType<typeof tempDir>;
let store: SqliteStore | undefined;
const readers: Database.Database[] = [];
afterEach(async () => {
  for (const r of readers.splice(0)) r.close();
  await store?.close();
  store = undefined;
  tmp?.cleanup();
  delete process.env.BEACON_WAL_LIMIT_MB;
});

const LIMIT_MB = 4;
const MIB = 1024 * 1024;

/** Random run IDs and IDs: every batch dirties pages all over the table and its indexes. */
function batch(n: number): IngestRecord[] {
  const now = Date.now();
  return Array.from({ length: n }, () => ({
    run: randomUUID(),
    kind: 'start' as const,
    project: 'wal',
    format: 'native' as const,
    user_id: randomBytes(16).toString('hex'),
    host_id: randomBytes(16).toString('hex'),
    script_id: randomBytes(16).toString('hex'),
    weak_ids: false,
    eph: false,
    version: '1',
    runtime: 'node/20',
    os: 'linux',
    arch: 'x64',
    ci: false,
    components: null,
    seen_ms: now,
    month: 202612,
    client_ms: now,
    exit_code: null,
    duration_ms: null,
  }));
}

const walSize = (db: string): number => {
  try {
    return statSync(`${db}-wal`).size;
  } catch {
    return 0;
  }
};

function reader(db: string): Database.Database {
  const r = new Database(db, { readonly: true });
  readers.push(r);
  return r;
}

/** Writes `n` batches (refused ones are counted and retried later by the receiver; here: counted), tracking the WAL's peak. */
async function writeMany(db: string, n: number, between?: (i: number) => void): Promise<{ peak: number; refused: number }> {
  let peak = 0;
  let refused = 0;
  for (let i = 0; i < n; i++) {
    between?.(i);
    try {
      await store!.writeBatch(batch(300), []);
    } catch (e) {
      expect((e as { code?: string }).code).toBe('BEACON_WAL_FULL');
      refused++;
    }
    peak = Math.max(peak, walSize(db));
  }
  return { peak, refused };
}

describe('the SQLite write-ahead log stays bounded', () => {
  it('with overlapping readers in another thread that never leave a moment free (SQLite alone lets it grow)', async () => {
    tmp = tempDir();
    process.env.BEACON_WAL_LIMIT_MB = String(LIMIT_MB);
    store = openSqliteStore(tmp.db);
    await store.writeBatch(batch(2000), []);
    // Two readers taking turns for 300 ms each, overlapping by 150 ms, as the settle thread and a
    // report or a backup do: there is never a moment with no reader in the log.
    const src = `
      const { workerData, parentPort } = require('node:worker_threads');
      const D = require(workerData.lib);
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      let on = true;
      parentPort.on('message', () => (on = false));
      const one = async (offset) => {
        await sleep(offset);
        const c = new D(workerData.db, { readonly: true });
        while (on) { c.exec('BEGIN'); c.prepare('SELECT count(*) FROM run_facts').get(); await sleep(300); c.exec('COMMIT'); }
        c.close();
      };
      Promise.all([one(0), one(150)]).then(() => parentPort.postMessage('done'));`;
    const { Worker } = await import('node:worker_threads');
    const lib = new URL('../../../node_modules/better-sqlite3/lib/index.js', import.meta.url).pathname;
    const run = async (): Promise<{ peak: number; refused: number }> => {
      const w = new Worker(src, { eval: true, workerData: { db: tmp.db, lib } });
      await new Promise((r) => setTimeout(r, 200));
      let peak = 0;
      let refused = 0;
      const until = Date.now() + 2000;
      while (Date.now() < until) {
        const b = batch(300);
        // Retried like the receiver's batcher does with a refused batch.
        for (;;) {
          try {
            await store!.writeBatch(b, []);
            break;
          } catch (e) {
            expect((e as { code?: string }).code).toBe('BEACON_WAL_FULL');
            refused++;
            await new Promise((r) => setTimeout(r, 20));
          }
        }
        peak = Math.max(peak, walSize(tmp.db));
        await new Promise((r) => setTimeout(r, 10));
      }
      w.postMessage('stop');
      await new Promise((r) => w.once('message', r));
      await w.terminate();
      return { peak, refused };
    };
    const bounded = await run();
    expect(bounded.peak).toBeLessThanOrEqual(LIMIT_MB * MIB);
    expect(store.wal!.truncations).toBeGreaterThan(0);
    // The same traffic with SQLite's own checkpoints only: the log passes the limit.
    store.wal = undefined;
    const unbounded = await run();
    expect(unbounded.peak).toBeGreaterThan(LIMIT_MB * MIB);
    console.log(
      JSON.stringify({
        walLimitMB: LIMIT_MB,
        peakMB: +(bounded.peak / MIB).toFixed(2),
        refusedWrites: bounded.refused,
        withoutBoundPeakMB: +(unbounded.peak / MIB).toFixed(2),
      }),
    );
  });

  it('a reader that holds one snapshot delays writes (refused, kept by the receiver) instead of growing the log; it is truncated once the reader leaves', async () => {
    tmp = tempDir();
    process.env.BEACON_WAL_LIMIT_MB = String(LIMIT_MB);
    store = openSqliteStore(tmp.db);
    await store.writeBatch(batch(2000), []);
    const r = reader(tmp.db);
    r.exec('BEGIN');
    r.prepare('SELECT count(*) FROM run_facts').get();
    const held = await writeMany(tmp.db, 20);
    expect(held.refused).toBeGreaterThan(0);
    // Half the limit, plus the one transaction that crossed it.
    expect(held.peak).toBeLessThanOrEqual(LIMIT_MB * MIB);
    r.exec('COMMIT');
    await store.writeBatch(batch(300), []);
    await new Promise((res) => setTimeout(res, 250));
    store.wal!.tick();
    expect(walSize(tmp.db)).toBeLessThanOrEqual((LIMIT_MB * MIB) / 4);
    // Nothing was lost from what the store accepted.
    const n = reader(tmp.db).prepare('SELECT count(*) AS n FROM run_facts').get() as { n: number };
    expect(n.n).toBe(2000 + 300 * (20 - held.refused) + 300);
  });
});
