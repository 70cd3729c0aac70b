import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadCollectorSecret } from '../../src/receiver/collector-secret.js';
import { CLI, counters, encoder, PARSL_FIXTURES, query, send, startReceiver, tempDir, waitFor, type RunningReceiver } from './helpers.js';

let rx: RunningReceiver | undefined;
let tmp: ReturnType<typeof tempDir>;
afterEach(async () => {
  if (rx) await rx.stop();
  rx = undefined;
  tmp?.cleanup();
});

const runRow = (db: string, run: string) => query(db, 'SELECT * FROM runs WHERE run = ?', run)[0];
const rowCount = (db: string) => query<{ n: number }>(db, 'SELECT count(*) AS n FROM runs')[0]!.n;

describe('beacon receive, end to end over real UDP into a real SQLite file', () => {
  it.each(['on', 'off'])(
    'stores each run once from duplicated start/end copies, with exit codes and durations (store thread %s)',
    async (thread) => {
      tmp = tempDir();
      rx = await startReceiver(tmp.db, ['--rate-limit', 'off'], { BEACON_STORE_THREAD: thread });
      const a = encoder({ components: { executors: 2, provider: 'slurm' } });
      const b = encoder({ project: 'other', ci: true, eph: true });
      const c = encoder();
      // Every datagram twice, as the beacon sends them.
      const twice = (d: Buffer) => [d, d];
      await send(rx.port, [
        ...twice(a.start(1_700_000_000_000)),
        ...twice(a.end(1_700_000_005_000, 0, 5000)),
        ...twice(b.start(1_700_000_000_000)),
        ...twice(b.end(1_700_000_001_000, 137, 1234)),
        ...twice(c.start(1_700_000_000_000)),
        ...twice(c.end(1_700_000_000_300, 3, 300)),
      ]);
      await waitFor('3 complete runs', () => query<{ n: number }>(tmp.db, 'SELECT count(*) AS n FROM runs WHERE has_end = 1')[0]!.n === 3);
      expect(rowCount(tmp.db)).toBe(3);
      const ra = runRow(tmp.db, a.id.run)!;
      expect(ra).toMatchObject({
        project: 'demo',
        user_id: a.id.user,
        host_id: a.id.host,
        script_id: a.id.script,
        version: '1.2.3',
        runtime: 'node/20.20.2',
        os: 'linux',
        arch: 'x64',
        ci: 0,
        exit_code: 0,
        duration_ms: 5000,
        has_start: 1,
        has_end: 1,
        format: 'native',
        eph: 0,
        weak_ids: 0,
      });
      expect(JSON.parse(ra.components as string)).toEqual({ executors: 2, provider: 'slurm' });
      expect(runRow(tmp.db, b.id.run)).toMatchObject({ project: 'other', ci: 1, eph: 1, exit_code: 137, duration_ms: 1234 });
      expect(runRow(tmp.db, c.id.run)).toMatchObject({ exit_code: 3, duration_ms: 300 });
      // Month by the receiver's clock, not the (2023) client clock in the datagrams.
      const now = new Date();
      expect(ra.month).toBe(now.getUTCFullYear() * 100 + now.getUTCMonth() + 1);
      expect(Math.abs((ra.first_seen_ms as number) - Date.now())).toBeLessThan(60_000);
      await waitFor('persisted counters', () => counters(tmp.db).stored === 6 && counters(tmp.db));
      expect(counters(tmp.db)).toMatchObject({ received: 12, stored: 6, duplicates: 6 });
    },
  );

  it('the real beacon (`beacon run`) → the real receiver → one row per run with exit code and duration', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off']);
    const home = join(tmp.dir, 'beacon-home');
    mkdirSync(home);
    const env = { PATH: process.env.PATH, LANG: 'C', BEACON_HOME: home };
    for (const code of [0, 3, 42]) {
      const r = spawnSync(
        process.execPath,
        [
          CLI,
          'run',
          '--project',
          'e2e',
          '--tool-version',
          '2.0',
          '--collector',
          `127.0.0.1:${rx.port}`,
          '--',
          process.execPath,
          '-e',
          `setTimeout(() => process.exit(${code}), 150)`,
        ],
        { env, encoding: 'utf8', timeout: 20_000 },
      );
      expect(r.status).toBe(code);
    }
    await waitFor('3 ended runs', () => query<{ n: number }>(tmp.db, 'SELECT count(*) AS n FROM runs WHERE has_end = 1')[0]!.n === 3);
    const got = query<Record<string, number | string>>(tmp.db, 'SELECT * FROM runs ORDER BY first_seen_ms');
    expect(got.map((r) => r.exit_code)).toEqual([0, 3, 42]);
    for (const r of got) {
      expect(r).toMatchObject({ project: 'e2e', version: '2.0', format: 'native', has_start: 1, has_end: 1 });
      expect(r.duration_ms as number).toBeGreaterThanOrEqual(140);
      expect(r.duration_ms as number).toBeLessThan(20_000);
      expect(r.user_id).toMatch(/^[0-9a-f]{32}$/);
    }
    // The same user and host for all three runs; each copy sent twice was deduped.
    expect(new Set(got.map((r) => r.user_id)).size).toBe(1);
    await waitFor('duplicates persisted', () => counters(tmp.db).stored === 6 && counters(tmp.db));
    expect(counters(tmp.db).duplicates).toBe(counters(tmp.db).received! - 6);
  });

  it('counts copies as duplicates across a restart, using the store not memory', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off']);
    const a = encoder();
    const start = a.start(Date.now());
    const end = a.end(Date.now(), 1, 42);
    await send(rx.port, [start, end]);
    await waitFor('the run', () => runRow(tmp.db, a.id.run)?.has_end === 1);
    const before = runRow(tmp.db, a.id.run)!;
    expect(await rx.stop()).toBe(0);
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off']);
    await send(rx.port, [start, end, start]);
    await waitFor('3 duplicates', () => counters(tmp.db).duplicates === 3);
    expect(runRow(tmp.db, a.id.run)).toEqual(before);
    expect(rowCount(tmp.db)).toBe(1);
  });

  it('creates a run from an end that came first, and completes it with the late start', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off']);
    const a = encoder({ components: { n: 1 } });
    await send(rx.port, [a.end(Date.now(), 2, 777)]);
    const first = await waitFor('the end-only run', () => runRow(tmp.db, a.id.run));
    expect(first).toMatchObject({ has_start: 0, has_end: 1, exit_code: 2, duration_ms: 777, project: 'demo' });
    await send(rx.port, [a.start(Date.now())]);
    const done = await waitFor('the completed run', () => runRow(tmp.db, a.id.run)?.has_start === 1 && runRow(tmp.db, a.id.run));
    expect(done).toMatchObject({ has_start: 1, has_end: 1, exit_code: 2, duration_ms: 777, first_seen_ms: first.first_seen_ms });
    expect(done.start_seen_ms as number).toBeGreaterThanOrEqual(first.first_seen_ms as number);
  });

  it('keeps a run that never ends: start only, no exit code, no duration', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off']);
    const a = encoder();
    await send(rx.port, [a.start(Date.now())]);
    const row = await waitFor('the run', () => runRow(tmp.db, a.id.run));
    expect(row).toMatchObject({ has_start: 1, has_end: 0, exit_code: null, duration_ms: null });
  });

  it("accepts both of Parsl's wire formats, including level-3 messages over 1 KiB", async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off']);
    const f = (name: string) => readFileSync(join(PARSL_FIXTURES, name));
    const big = f('v1-level3-end.txt');
    expect(big.length).toBeGreaterThan(1024);
    // Legacy end before its start: the duration comes from end − start once both are in.
    await send(rx.port, [f('legacy-end.json'), f('legacy-start.json'), f('v1-level3-start.txt'), big, f('v1-level1-start.txt'), big]);
    await waitFor('3 parsl runs', () => rowCount(tmp.db) === 3 && runRow(tmp.db, '0b7f0d3e-2a4c-4b8e-9a4f-2f2b6f0d9c11')?.has_start === 1);
    await waitFor('the duplicate', () => counters(tmp.db).duplicates === 1);

    const legacy = runRow(tmp.db, '0b7f0d3e-2a4c-4b8e-9a4f-2f2b6f0d9c11')!;
    // Stored re-keyed with the collector secret created beside the store, never as sent.
    const secret = loadCollectorSecret(`${tmp.db}.secret`);
    expect(legacy).toMatchObject({
      project: 'parsl',
      format: 'parsl-legacy',
      user_id: secret.legacyId('user', '3c2b1a0f9e'),
      host_id: secret.legacyId('host', '9d8c7b6a5f'),
      weak_ids: 1,
      script_id: null,
      version: '2023.03.20',
      runtime: 'python/3.10.12',
      os: 'linux',
      arch: null,
      ci: null,
      exit_code: null,
      duration_ms: 123_333,
      has_start: 1,
      has_end: 1,
    });
    expect(JSON.parse(legacy.components as string)).toEqual({ apps: 40, app_fails: 2, executors: 1 });

    const v1 = runRow(tmp.db, '5a0c7d7e-1f7e-4a47-b0a5-3f1c7a6b2e90')!;
    expect(v1).toMatchObject({
      project: 'parsl',
      format: 'parsl-1',
      user_id: null,
      host_id: null,
      weak_ids: 0,
      version: '2025.01.13',
      runtime: 'python/3.11.7',
      os: 'linux',
      exit_code: null,
      duration_ms: 600_000,
      has_start: 1,
      has_end: 1,
    });
    const comps = JSON.parse(v1.components as string) as Record<string, unknown>;
    expect(comps).toMatchObject({
      apps: 12,
      app_fails: 1,
      executors: 3,
      'executor.highthroughputexecutor': 2,
      'executor.threadpoolexecutor': 1,
      tracking_level: 3,
      project_name: 'my-lab',
    });
    expect(Object.keys(comps).length).toBeLessThanOrEqual(16);

    expect(runRow(tmp.db, '7d1e4f3a-9c2b-4e8d-8f6a-1b2c3d4e5f60')).toMatchObject({
      format: 'parsl-1',
      os: 'darwin',
      runtime: 'python/3.12.1',
      has_start: 1,
      has_end: 0,
      components: '{"tracking_level":1}',
    });
  });
});
