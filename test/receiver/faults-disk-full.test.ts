import { createSocket } from 'node:dgram';
import { existsSync, readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { encoder, waitFor, type RunningReceiver } from './helpers.js';
import { canMountTmpfs, queryIn, smallDisk, startReceiverIn, type SmallDisk } from './faults-helpers.js';

let rx: RunningReceiver | undefined;
let disk: SmallDisk | undefined;
afterEach(async () => {
  if (rx && rx.child.exitCode === null && rx.child.signalCode === null) await rx.stop('SIGKILL');
  rx = undefined;
  disk?.cleanup();
  disk = undefined;
});

async function sendStarts(port: number, n: number): Promise<string[]> {
  const sock = createSocket('udp4');
  const runs: string[] = [];
  for (let i = 0; i < n; i++) {
    const e = encoder();
    runs.push(e.id.run);
    sock.send(Buffer.from(e.start(Date.now())), port, '127.0.0.1');
    if (i % 100 === 99) await new Promise((r) => setTimeout(r, 2));
  }
  await new Promise((r) => setTimeout(r, 100));
  sock.close();
  return runs;
}

const rows = (d: SmallDisk): number => queryIn<{ n: number }>(d, `${d.dir}/usage.db`, 'SELECT count(*) AS n FROM run_facts')[0]!.n;
const storedRuns = (d: SmallDisk): Set<string> =>
  new Set(queryIn<{ run: string }>(d, `${d.dir}/usage.db`, 'SELECT run FROM run_facts').map((r) => r.run));
function counters(d: SmallDisk): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of queryIn<{ name: string; value: number }>(
    d,
    `${d.dir}/usage.db`,
    'SELECT name, sum(value) AS value FROM daily_counters GROUP BY name',
  ))
    out[r.name] = r.value;
  return out;
}
const env = { BEACON_BACKLOG_RECORDS: '1500', BEACON_BACKLOG_MB: '2' };

describe.skipIf(!canMountTmpfs())('a store whose filesystem fills (tmpfs in a mount namespace)', () => {
  it('keeps receiving, holds a bounded backlog, counts drops as disk_full, and commits within 1 s of space returning', async () => {
    disk = await smallDisk(12);
    const db = `${disk.dir}/usage.db`;
    rx = await startReceiverIn(disk, db, [], env);
    const first = await sendStarts(rx.port, 300);
    await waitFor('300 rows', () => rows(disk!) === 300);
    disk.fill();
    const during = await sendStarts(rx.port, 2000);
    const failed = await waitFor('the store error line', () => rx!.lines.find((l) => l.msg === 'store write failed; will retry'));
    expect(failed.reason).toBe('disk_full');
    // The bound holds: 1,500 records waited, the other 500 were dropped and counted by why.
    expect(rows(disk)).toBe(300);
    const freedAt = Date.now();
    disk.free();
    const recovered = await waitFor('store writes recovered', () => rx!.lines.find((l) => l.msg === 'store writes recovered'));
    const recoveryMs = Date.parse(recovered.time as string) - freedAt;
    expect(recovered.reason).toBe('disk_full');
    // Resumes within a second of the store being writable (retried every 250 ms).
    expect(recoveryMs).toBeLessThan(1000);
    await waitFor('the backlog committed', () => rows(disk!) === 1800);
    expect(await rx.stop()).toBe(0);
    const stopped = rx.lines.find((l) => l.msg === 'stopped')!;
    expect(stopped).toMatchObject({ received: 2300, stored: 1800, overload_drops: 500 });
    const c = counters(disk);
    expect(c).toMatchObject({ received: 2300, stored: 1800, overload_drops: 500, 'overload.disk_full': 500 });
    // What was kept is the oldest: every run accepted before the disk filled, then the first 1,500.
    const stored = storedRuns(disk);
    expect(first.every((r) => stored.has(r))).toBe(true);
    expect(during.slice(0, 1500).every((r) => stored.has(r))).toBe(true);
    console.log(JSON.stringify({ diskFullRecoveryMs: recoveryMs }));
  });

  it('SIGTERM while the disk is full writes a spill file over the reserve; the next start commits it first', async () => {
    disk = await smallDisk(12);
    const db = `${disk.dir}/usage.db`;
    rx = await startReceiverIn(disk, db, [], env);
    expect(existsSync(disk.outside('usage.db.spill-reserve'))).toBe(true);
    await sendStarts(rx.port, 200);
    await waitFor('200 rows', () => rows(disk!) === 200);
    disk.fill();
    const held = await sendStarts(rx.port, 1000);
    await waitFor('the store error line', () => rx!.lines.find((l) => l.msg === 'store write failed; will retry'));
    expect(await rx.stop()).toBe(0);
    const stopped = rx.lines.find((l) => String(l.msg).startsWith('stopped'))!;
    expect(stopped).toMatchObject({ msg: 'stopped; backlog spilled for the next start', spilled: 1000, lost: 0 });
    const spills = readdirSync(disk.outside()).filter((n) => n.startsWith('usage.db.spill-') && n.endsWith('.bin'));
    expect(spills).toHaveLength(1);
    expect(rows(disk)).toBe(200);
    // Space returns; the next start commits the spill before it listens.
    disk.free();
    rx = await startReceiverIn(disk, db, [], env);
    // Committed to the intake log before the socket opened; in run_facts once merged.
    expect(rx.lines.find((l) => l.msg === 'spill file committed')).toMatchObject({ records: 1000 });
    await waitFor('the spill merged', () => rows(disk!) === 1200);
    const stored = storedRuns(disk);
    expect(held.every((r) => stored.has(r))).toBe(true);
    expect(readdirSync(disk.outside()).filter((n) => n.endsWith('.bin'))).toHaveLength(0);
    // The first run's counters came with the spill: received counts every datagram once.
    expect(await rx.stop()).toBe(0);
    expect(counters(disk)).toMatchObject({ received: 1200, stored: 1200 });
    expect(existsSync(disk.outside('usage.db.spill-reserve'))).toBe(true);
  });
});
