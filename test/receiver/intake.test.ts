import { existsSync, readdirSync, readFileSync, renameSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { counters, encoder, query, send, startReceiver, tempDir, waitFor, type RunningReceiver } from './helpers.js';

// The SQLite store's intake log (src/store/sqlite/intake-log.ts), through real receivers: a batch
// is committed when its frame is in the log, and merged into run_facts behind by the store thread.

let rx: RunningReceiver | undefined;
let tmp: ReturnType<typeof tempDir> | undefined;
let locker: Database.Database | undefined;
afterEach(async () => {
  locker?.close();
  locker = undefined;
  if (rx && rx.child.exitCode === null && rx.child.signalCode === null) await rx.stop('SIGKILL');
  rx = undefined;
  tmp?.cleanup();
  tmp = undefined;
});

const rows = (db: string): number => query<{ n: number }>(db, 'SELECT count(*) AS n FROM run_facts')[0]!.n;
const runs = (db: string): Set<string> => new Set(query<{ run: string }>(db, 'SELECT run FROM run_facts').map((r) => r.run));

async function metric(rx: RunningReceiver, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${rx.metricsPort}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
}

/** Sends one start per new run, n of them; returns their run IDs. */
async function starts(port: number, n: number): Promise<string[]> {
  const encs = Array.from({ length: n }, () => encoder());
  await send(
    port,
    encs.map((e) => Buffer.from(e.start(Date.now()))),
  );
  return encs.map((e) => e.id.run);
}

/** Holds SQLite's write lock from another connection: every merge waits, fails and is retried. */
function lock(db: string): Database.Database {
  const l = new Database(db);
  l.exec('BEGIN IMMEDIATE');
  return l;
}

/** kill -9 of the running receiver, then the lock on the store is let go (what it had is in its log). */
async function killThenUnlock(): Promise<number | string> {
  const r = rx!;
  r.child.kill('SIGKILL');
  const exit = await r.exited;
  unlock();
  return exit;
}

function unlock(): void {
  locker!.exec('COMMIT');
  locker!.close();
  locker = undefined;
}

function intakeFiles(db: string): string[] {
  const root = `${db}.intake`;
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((owner) => readdirSync(join(root, owner)).map((f) => join(root, owner, f)));
}

describe('the intake log', () => {
  it('commits while the merge cannot run, survives kill -9, and the next start merges every frame exactly once', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off', '--metrics-port', '0']);
    const before = await starts(rx.port, 200);
    await waitFor('200 merged', () => rows(tmp!.db) === 200);
    locker = lock(tmp.db);
    const held = await starts(rx.port, 300);
    // Committed (nothing pending in memory) but not merged: the log holds them.
    await waitFor('300 in the log', async () => (await metric(rx!, 'beacon_receiver_unmerged_records')) === 300);
    expect(await metric(rx, 'beacon_receiver_pending_records')).toBe(0);
    expect(rows(tmp.db)).toBe(200);
    expect(await killThenUnlock()).toBe('SIGKILL');
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off', '--metrics-port', '0']);
    await waitFor('the left log merged', () => rows(tmp!.db) === 500);
    const stored = runs(tmp.db);
    expect([...before, ...held].every((id) => stored.has(id))).toBe(true);
    // Counters ride in the frames: each datagram counted once, none twice.
    await waitFor('counters merged', () => counters(tmp!.db).received === 500);
    expect(counters(tmp.db)).toMatchObject({ received: 500, stored: 500 });
    expect(await rx.stop()).toBe(0);
    // A clean stop merges everything: no log is left, every merge position is marked done.
    expect(rows(tmp.db)).toBe(500);
    expect(counters(tmp.db)).toMatchObject({ received: 500, stored: 500 });
    expect(intakeFiles(tmp.db)).toEqual([]);
    expect(query(tmp.db, 'SELECT owner FROM intake_merged WHERE done_ms IS NULL')).toEqual([]);
  });

  it('kill -9 in the middle of merging under load: restart merges the rest; no frame is merged twice', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off', '--metrics-port', '0']);
    const r = rx;
    const sent: string[] = [];
    // Some committed first (merged or not), then a kill with more arriving and frames being merged.
    sent.push(...(await starts(r.port, 500)));
    await waitFor('500 committed', async () => (await metric(r, 'beacon_receiver_pending_records')) === 0);
    for (let i = 0; i < 15; i++) {
      sent.push(...(await starts(r.port, 100)));
      if (i === 8) r.child.kill('SIGKILL');
    }
    await r.exited;
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off', '--metrics-port', '0']);
    await waitFor(
      'restart merged the log',
      async () => (await metric(rx!, 'beacon_receiver_unmerged_records')) === 0 && intakeFiles(tmp!.db).length <= 1,
    );
    await new Promise((res) => setTimeout(res, 300));
    const n = rows(tmp.db);
    expect(n).toBeGreaterThanOrEqual(500);
    // Every stored run was sent; received (from the frames' counters) equals the rows stored by
    // those frames: a frame merged twice would count its datagrams twice.
    expect([...runs(tmp.db)].every((id) => sent.includes(id))).toBe(true);
    const c = counters(tmp.db);
    expect(c.received).toBe(n);
    expect(c.stored).toBe(n);
    expect(c.duplicates ?? 0).toBe(0);
  });

  it('a frame cut short by a kill is reported in one line and skipped; the frames before it are merged', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off', '--metrics-port', '0']);
    locker = lock(tmp.db);
    const first = await starts(rx.port, 100);
    await waitFor('100 in the log', async () => (await metric(rx!, 'beacon_receiver_unmerged_records')) === 100);
    await new Promise((res) => setTimeout(res, 200));
    const second = await starts(rx.port, 100);
    await waitFor('200 in the log', async () => (await metric(rx!, 'beacon_receiver_unmerged_records')) === 200);
    await killThenUnlock();
    // The second batch's frame loses its last bytes, as a kill during its write() would leave it.
    const [segment] = intakeFiles(tmp.db);
    const size = statSync(segment!).size;
    truncateSync(segment!, size - 100);
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off', '--metrics-port', '0']);
    const damaged = await waitFor('the damaged line', () => rx!.lines.find((l) => String(l.msg).startsWith('intake log damaged')));
    expect(damaged).toMatchObject({ level: 50, why: 'a frame cut short' });
    await waitFor('the first batch merged', () => rows(tmp!.db) >= 100);
    const stored = runs(tmp.db);
    expect(first.every((id) => stored.has(id))).toBe(true);
    // All of the first batch; of the second, at most what was in frames before the cut one.
    expect(second.filter((id) => stored.has(id)).length).toBeLessThan(100);
    // The receiver goes on.
    const more = await starts(rx.port, 10);
    await waitFor('new runs merged', () => more.every((id) => runs(tmp!.db).has(id)));
  });

  it('a log left by a receiver that is gone is merged by the next one, and its directory removed', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off', '--metrics-port', '0']);
    locker = lock(tmp.db);
    const held = await starts(rx.port, 150);
    await waitFor('150 in the log', async () => (await metric(rx!, 'beacon_receiver_unmerged_records')) === 150);
    const pid = rx.child.pid!;
    await killThenUnlock();
    // As if another process (now gone) had written it: a pid no process has.
    const [own] = readdirSync(`${tmp.db}.intake`);
    expect(own).toMatch(new RegExp(`^${pid}-[0-9a-f]{8}$`));
    const gone = `${4_000_000 + (pid % 100_000)}-deadbeef`;
    renameSync(join(`${tmp.db}.intake`, own!), join(`${tmp.db}.intake`, gone));
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off', '--metrics-port', '0']);
    await waitFor('the adopted log merged', () => rows(tmp!.db) === 150);
    expect(rx.lines.find((l) => l.msg === 'merging the intake log of a receiver that is gone')).toMatchObject({ owner: gone });
    expect(held.every((id) => runs(tmp!.db).has(id))).toBe(true);
    await waitFor('its directory removed', () => !existsSync(join(`${tmp!.db}.intake`, gone)));
  });

  it('past its bound ($BEACON_INTAKE_MB) the receiver drops and counts, and keeps everything it accepted', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off', '--metrics-port', '0'], { BEACON_INTAKE_MB: '0.05' });
    locker = lock(tmp.db);
    const sent: string[] = [];
    for (let i = 0; i < 10; i++) {
      sent.push(...(await starts(rx.port, 100)));
      await new Promise((res) => setTimeout(res, 60));
    }
    await waitFor('drops counted', async () => (await metric(rx!, 'beacon_receiver_overload_drops_total')) > 0);
    const received = await metric(rx, 'beacon_receiver_datagrams_received_total');
    const dropped = await metric(rx, 'beacon_receiver_overload_drops_total');
    expect(received).toBe(1000);
    unlock();
    await waitFor('everything accepted merged', () => rows(tmp!.db) === received - dropped);
    expect(await rx.stop()).toBe(0);
    expect(counters(tmp.db)).toMatchObject({
      received: 1000,
      stored: 1000 - dropped,
      overload_drops: dropped,
      'overload.store_slow': dropped,
    });
  });

  it('the store and settle threads run at nice 19 ($BEACON_BACKGROUND_NICE), the socket thread at the process priority', async () => {
    tmp = tempDir();
    for (const [env, want] of [
      [{}, 19],
      [{ BEACON_BACKGROUND_NICE: '10' }, 10],
    ] as const) {
      rx = await startReceiver(tmp.db, ['--rate-limit', 'off'], env);
      const listening = rx.lines.find((l) => l.msg === 'listening')!;
      expect(listening.storeThreadNice).toBe(want);
      const tid = listening.storeThreadTid as number;
      // Field 19 of /proc/<pid>/task/<tid>/stat is the nice value.
      const nice = (task: number): number =>
        Number(readFileSync(`/proc/${rx!.child.pid}/task/${task}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
      expect(nice(tid)).toBe(want);
      expect(nice(rx.child.pid!)).toBe(0);
      // Two background threads: the store thread's merge and the settle thread; the rest (the
      // socket's thread, V8's and libuv's) keep the process's priority.
      const tasks = (): number[] => readdirSync(`/proc/${rx!.child.pid}/task`).map(Number);
      await waitFor('the settle thread started', () => tasks().filter((t) => nice(t) === want).length === 2);
      expect(tasks().filter((t) => nice(t) !== want && nice(t) !== 0)).toHaveLength(0);
      expect(await rx.stop()).toBe(0);
    }
  });

  it("moves to a new segment past $BEACON_INTAKE_SEGMENT_MB and deletes each once merged; a killed receiver's segments are merged in order", async () => {
    tmp = tempDir();
    const env = { BEACON_INTAKE_SEGMENT_MB: '0.02' };
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off', '--metrics-port', '0'], env);
    locker = lock(tmp.db);
    const sent: string[] = [];
    for (let i = 0; i < 6; i++) {
      sent.push(...(await starts(rx.port, 60)));
      await new Promise((res) => setTimeout(res, 80));
    }
    await waitFor('360 in the log', async () => (await metric(rx!, 'beacon_receiver_unmerged_records')) === 360);
    // ~20 KiB each: several segments wait.
    expect(intakeFiles(tmp.db).length).toBeGreaterThan(2);
    unlock();
    await waitFor('all merged', () => rows(tmp!.db) === 360);
    // Merged segments are deleted; the one being appended to stays.
    await waitFor('merged segments deleted', () => intakeFiles(tmp!.db).length === 1);
    // Now the same with a kill: the next receiver merges the dead one's segments, in order.
    locker = lock(tmp.db);
    for (let i = 0; i < 6; i++) {
      sent.push(...(await starts(rx.port, 60)));
      await new Promise((res) => setTimeout(res, 80));
    }
    await waitFor('360 more in the log', async () => (await metric(rx!, 'beacon_receiver_unmerged_records')) === 360);
    await killThenUnlock();
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off', '--metrics-port', '0'], env);
    await waitFor('the dead log merged', () => rows(tmp!.db) === 720);
    expect(sent.every((id) => runs(tmp!.db).has(id))).toBe(true);
    await waitFor('only the live segment left', () => intakeFiles(tmp!.db).length === 1);
    expect(counters(tmp.db)).toMatchObject({ received: 720, stored: 720 });
  });

  it('SIGTERM while the store is locked exits 0 within seconds, says the log is not wholly merged, and the next start merges it', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off', '--metrics-port', '0']);
    locker = lock(tmp.db);
    const held = await starts(rx.port, 120);
    await waitFor('120 in the log', async () => (await metric(rx!, 'beacon_receiver_unmerged_records')) === 120);
    const t0 = Date.now();
    expect(await rx.stop()).toBe(0);
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect(rx.lines.find((l) => l.msg === 'intake log not wholly merged at exit; the next start merges the rest')).toBeDefined();
    expect(rows(tmp.db)).toBe(0);
    unlock();
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off', '--metrics-port', '0']);
    await waitFor('merged by the next start', () => rows(tmp!.db) === 120);
    expect(held.every((id) => runs(tmp!.db).has(id))).toBe(true);
    expect(await rx.stop()).toBe(0);
    expect(counters(tmp.db)).toMatchObject({ received: 120, stored: 120 });
    expect(intakeFiles(tmp.db)).toHaveLength(0);
  });

  it('appends nothing that is not a frame: a segment holds its header and whole frames only', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off', '--metrics-port', '0']);
    locker = lock(tmp.db);
    await starts(rx.port, 50);
    await waitFor('50 in the log', async () => (await metric(rx!, 'beacon_receiver_unmerged_records')) === 50);
    const [segment] = intakeFiles(tmp.db);
    const buf = readFileSync(segment!);
    expect(buf.subarray(0, 8).toString()).toBe('UBINTAK1');
    // Walk the frames by their headers: they end exactly at the file's end.
    let pos = 16;
    let records = 0;
    while (pos < buf.length) {
      expect(buf.readUInt32LE(pos)).toBe(0x4b544e49);
      const count = buf.readUInt32LE(pos + 4);
      records += count;
      pos += 48 + count * (6 * 8 + 11 * 4) + buf.readUInt32LE(pos + 8) + buf.readUInt32LE(pos + 12);
    }
    expect(pos).toBe(buf.length);
    expect(records).toBe(50);
    // Nothing identifying in clear beyond what the store holds: no source address.
    expect(buf.includes(Buffer.from('127.0.0.1'))).toBe(false);
  });
});
