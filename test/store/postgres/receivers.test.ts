import { afterEach, describe, expect, it } from 'vitest';
import { encoder, send, startReceiver, tempDir, waitFor, type RunningReceiver } from '../../receiver/helpers.js';
import { createTestSchema, type TestSchema } from './helpers.js';

/**
 * Real receivers (`beacon receive --store postgres://…` as child processes) writing one
 * PostgreSQL schema on the machine's server: dedupe must hold across processes because the key
 * lives in the database, and SIGTERM must commit and exit 0. Never skipped.
 */

let schema: TestSchema | undefined;
let receivers: RunningReceiver[] = [];
let tmp: ReturnType<typeof tempDir> | undefined;
afterEach(async () => {
  for (const r of receivers) if (r.child.exitCode === null && r.child.signalCode === null) await r.stop();
  receivers = [];
  await schema?.drop();
  schema = undefined;
  tmp?.cleanup();
  tmp = undefined;
});

async function one<T>(s: TestSchema, sql: string): Promise<T> {
  return (await s.admin.query(sql)).rows[0] as T;
}

async function pgCounters(s: TestSchema): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const r of (await s.admin.query('SELECT name, sum(value)::bigint AS v FROM daily_counters GROUP BY name')).rows)
    out[r.name] = Number(r.v);
  return out;
}

const complete = async (s: TestSchema) =>
  Number((await one<{ n: string }>(s, 'SELECT count(*) AS n FROM runs WHERE has_start = 1 AND has_end = 1')).n);

function traffic(n: number): { runs: number; datagrams: Buffer[] } {
  const runs = Array.from({ length: n }, () => encoder());
  return { runs: n, datagrams: runs.flatMap((e) => [e.start(Date.now()), e.end(Date.now(), 0, 2500)]) };
}

describe('several receivers on one PostgreSQL store', () => {
  it('two receivers on two ports, fed the same datagrams twice each: every run stored once, copies counted', async () => {
    schema = await createTestSchema();
    tmp = tempDir();
    const s = schema;
    const args = ['--store', s.url, '--rate-limit', 'off', '--metrics-port', '0'];
    receivers = await Promise.all([startReceiver(tmp.db, args), startReceiver(tmp.db, args)]);
    const [a, b] = receivers as [RunningReceiver, RunningReceiver];
    expect(a.port).not.toBe(b.port);
    expect(a.lines[0]).toMatchObject({ msg: 'listening', store: 'postgres' });
    const { runs, datagrams } = traffic(400);
    // Each datagram reaches both receivers, twice (the beacon's copies), interleaved.
    await Promise.all([send(a.port, [...datagrams, ...datagrams]), send(b.port, [...datagrams, ...datagrams])]);
    await waitFor('every run complete', async () => (await complete(s)) === runs);
    const received = datagrams.length * 4;
    await waitFor('all counters persisted', async () => (await pgCounters(s)).received === received);
    expect(await Promise.all(receivers.map((r) => r.stop()))).toEqual([0, 0]);
    expect(Number((await one<{ n: string }>(s, 'SELECT count(*) AS n FROM runs')).n)).toBe(runs);
    expect(await pgCounters(s)).toMatchObject({ received, stored: datagrams.length, duplicates: received - datagrams.length });
    const stopped = receivers.map((r) => r.lines.find((l) => l.msg === 'stopped')!);
    expect(stopped.reduce((n, l) => n + (l.stored as number), 0)).toBe(datagrams.length);
    expect(stopped.every((l) => l.pending === 0)).toBe(true);
  });

  it('--workers 2 on one port: every run stored once; SIGTERM commits everything and exits 0', async () => {
    schema = await createTestSchema();
    tmp = tempDir();
    const s = schema;
    const rx = await startReceiver(tmp.db, [
      '--store',
      s.url,
      '--workers',
      '2',
      '--rate-limit',
      'off',
      '--flush-ms',
      '1000',
      '--metrics-port',
      '0',
    ]);
    receivers = [rx];
    expect(rx.lines.find((l) => l.msg === 'listening')).toMatchObject({ workers: 2, store: 'postgres' });
    const { runs, datagrams } = traffic(500);
    await send(rx.port, [...datagrams, ...datagrams]);
    await waitFor('everything read (metrics summed over workers)', async () => {
      const text = await (await fetch(`http://127.0.0.1:${rx.metricsPort}/metrics`)).text();
      return Number(/^beacon_receiver_datagrams_received_total (\d+)/m.exec(text)?.[1]) === datagrams.length * 2;
    });
    // Stopped within the 1 s flush window, so batches are still pending: they must be committed.
    expect(await rx.stop()).toBe(0);
    const stopped = rx.lines.filter((l) => l.msg === 'stopped' && typeof l.worker === 'number');
    expect(stopped).toHaveLength(2);
    const received = stopped.reduce((n, l) => n + (l.received as number), 0);
    expect(received).toBe(datagrams.length * 2);
    expect(await complete(s)).toBe(runs);
    expect(Number((await one<{ n: string }>(s, 'SELECT count(*) AS n FROM runs')).n)).toBe(runs);
    expect(await pgCounters(s)).toMatchObject({ received, stored: datagrams.length, duplicates: datagrams.length });
  });
});
