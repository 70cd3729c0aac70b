import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Batcher, MAX_PENDING } from '../../src/receiver/batcher.js';
import { ReceiverClock } from '../../src/receiver/clock.js';
import { RecentKeys } from '../../src/receiver/dedupe.js';
import { networkKey } from '../../src/receiver/network-key.js';
import { secretFromKey } from '../../src/receiver/collector-secret.js';
import { createPipeline } from '../../src/receiver/pipeline.js';
import { Stats } from '../../src/receiver/observe/stats.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/store.js';
import { counters, encoder, query, tempDir, waitFor } from './helpers.js';

const TEST_SECRET = secretFromKey(Buffer.alloc(32, 7));
let tmp: ReturnType<typeof tempDir>;
let store: SqliteStore | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
  tmp?.cleanup();
});

const silent = pino({ level: 'silent' });

describe('Batcher against a real SQLite store', () => {
  it('keeps accepted records while the database is locked and commits them once it is free', async () => {
    tmp = tempDir();
    store = openSqliteStore(tmp.db);
    const stats = new Stats();
    const batcher = new Batcher(store, stats, silent, { flushMs: 20 });
    const accepted: string[] = [];
    const handle = createPipeline({
      clock: new ReceiverClock(),
      stats,
      recent: new RecentKeys(),
      log: silent,
      secret: TEST_SECRET,
      accept: (r) => {
        accepted.push(r.run);
        batcher.add(r);
      },
      hasRoom: () => batcher.hasRoom(),
    });
    // Another process-like connection holds the write lock: every commit fails with SQLITE_BUSY.
    const locker = new Database(tmp.db);
    locker.exec('BEGIN IMMEDIATE');
    for (let i = 0; i < 50; i++) {
      const b = encoder().start(Date.now());
      handle(b, 0, b.length, 0, networkKey('127.0.0.1'));
    }
    await new Promise((r) => setTimeout(r, 600));
    expect(batcher.pending).toBe(50);
    expect(query(tmp.db, 'SELECT count(*) AS n FROM runs')).toEqual([{ n: 0 }]);
    locker.exec('COMMIT');
    locker.close();
    await waitFor(
      'the batch committed',
      () => batcher.pending === 0 && query<{ n: number }>(tmp.db, 'SELECT count(*) AS n FROM runs')[0]!.n === 50,
    );
    expect(await batcher.close()).toBe(true);
    expect(counters(tmp.db)).toMatchObject({ received: 50, stored: 50 });
    expect(new Set(query<{ run: string }>(tmp.db, 'SELECT run FROM runs').map((r) => r.run))).toEqual(new Set(accepted));
  });

  it('through the store thread (wire batches): a locked database delays only the merge; batches commit to the intake log, and all merge once the lock is free', async () => {
    tmp = tempDir();
    // The built receiver, whose WorkerStore starts dist/store/sqlite/store-thread.js.
    const { WorkerStore } = await import('../../dist/store/sqlite/worker-store.js');
    const built = {
      ...(await import('../../dist/receiver/batcher.js')),
      ...(await import('../../dist/receiver/pipeline.js')),
      ...(await import('../../dist/receiver/observe/stats.js')),
      ...(await import('../../dist/receiver/clock.js')),
      ...(await import('../../dist/receiver/dedupe.js')),
    };
    const threadStore = await WorkerStore.open(tmp.db);
    try {
      const stats = new built.Stats();
      const batcher = new built.Batcher(threadStore, stats, silent, { flushMs: 20 });
      const accepted: string[] = [];
      const handle = built.createPipeline({
        clock: new built.ReceiverClock(),
        stats,
        recent: new built.RecentKeys(),
        log: silent,
        secret: TEST_SECRET,
        accept: (r) => {
          accepted.push(r.run);
          batcher.add(r);
        },
        hasRoom: () => batcher.hasRoom(),
      });
      const send = (n: number) => {
        for (let i = 0; i < n; i++) {
          const b = encoder().start(Date.now());
          handle(b, 0, b.length, 0, networkKey('127.0.0.1'));
        }
      };
      const locker = new Database(tmp.db);
      locker.exec('BEGIN IMMEDIATE');
      const failures: string[] = [];
      threadStore.on({ mergeFailed: (_m: string, code: string | undefined) => failures.push(String(code)) });
      send(50);
      // The store thread waits 2 s for the lock, fails and retries; the log holds the batch meanwhile.
      await new Promise((r) => setTimeout(r, 2500));
      send(30);
      await waitFor('both batches in the intake log', () => batcher.pending === 0 && threadStore.unmerged === 80, 5_000);
      expect(failures[0]).toMatch(/^SQLITE_BUSY/);
      expect(query(tmp.db, 'SELECT count(*) AS n FROM runs')).toEqual([{ n: 0 }]);
      locker.exec('COMMIT');
      locker.close();
      await waitFor(
        'every batch merged',
        () => threadStore.unmerged === 0 && query<{ n: number }>(tmp.db, 'SELECT count(*) AS n FROM runs')[0]!.n === 80,
        15_000,
      );
      expect(await batcher.close()).toBe(true);
      // The last frame holds only counters: merged too, then nothing is left in the log.
      await waitFor('the log merged', () => threadStore.unmergedBytes === 0, 5_000);
      expect(counters(tmp.db)).toMatchObject({ received: 80, stored: 80 });
      expect(new Set(query<{ run: string }>(tmp.db, 'SELECT run FROM runs').map((r) => r.run))).toEqual(new Set(accepted));
    } finally {
      await threadStore.close();
    }
  }, 20_000);

  it('drops and counts datagrams once the queue is full, without marking them seen', () => {
    const stats = new Stats();
    const accepted: string[] = [];
    let room = true;
    const handle = createPipeline({
      clock: new ReceiverClock(),
      stats,
      recent: new RecentKeys(),
      log: silent,
      secret: TEST_SECRET,
      accept: (r) => accepted.push(r.run),
      hasRoom: () => room,
    });
    const e = encoder();
    const b = e.start(Date.now());
    room = false;
    handle(b, 0, b.length, 0, networkKey('127.0.0.1'));
    expect(stats.totals.overload_drops).toBe(1);
    room = true;
    handle(b, 0, b.length, 0, networkKey('127.0.0.1')); // the second copy still gets in
    expect(accepted).toEqual([e.id.run]);
    expect(MAX_PENDING).toBeGreaterThan(10_000);
  });

  it('counts nothing twice: every datagram ends in exactly one counter', () => {
    const stats = new Stats();
    const handle = createPipeline({
      clock: new ReceiverClock(),
      stats,
      recent: new RecentKeys(),
      log: silent,
      secret: TEST_SECRET,
      accept: () => {},
      hasRoom: () => true,
    });
    const e = encoder();
    const inputs = [e.start(1), e.start(1), e.end(2, 0, 1), Buffer.from('x'), Buffer.from(`{"v":1,"run":"${randomUUID()}"}`)];
    for (const b of inputs) handle(b, 0, b.length, 0, networkKey('::1'));
    const t = stats.totals;
    const outcomes = t.duplicates + t['rejected.not_json'] + t['rejected.schema'] + t.overload_drops + 2; // 2 accepted
    expect(t.received).toBe(inputs.length);
    expect(outcomes).toBe(inputs.length);
  });
});
