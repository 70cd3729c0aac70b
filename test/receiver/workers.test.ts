import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { portSharing } from '../../src/receiver/cluster/worker-role.js';
import { counters, encoder, query, runCli, send, startReceiver, tempDir, waitFor, type RunningReceiver } from './helpers.js';

/**
 * `beacon receive --workers N` as real processes: a cluster primary and N workers sharing one UDP
 * port, writing one SQLite file. With the native batch reader each worker binds its own socket
 * with SO_REUSEPORT; with node:dgram on this machine's Node 20, they read the primary's shared
 * socket. Both are run.
 */

let rx: RunningReceiver | undefined;
let tmp: ReturnType<typeof tempDir> | undefined;
afterEach(async () => {
  if (rx && rx.child.exitCode === null && rx.child.signalCode === null) await rx.stop();
  rx = undefined;
  tmp?.cleanup();
  tmp = undefined;
});

const rows = (db: string) => query<{ n: number }>(db, 'SELECT count(*) AS n FROM runs')[0]!.n;
const workerLines = (r: RunningReceiver, msg: string) => r.lines.filter((l) => l.msg === msg && typeof l.worker === 'number');

async function metric(r: RunningReceiver, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${r.metricsPort}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
}

/** The kernel's drop counter for every socket bound to `port` (what /proc/net/udp says). */
function procDrops(port: number): number {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let drops = 0;
  for (const line of readFileSync('/proc/net/udp', 'latin1').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 13 && f[1]!.endsWith(hex)) drops += Number(f[12]);
  }
  return drops;
}

describe('portSharing', () => {
  it.each([
    ['20.20.2', 'shared'],
    ['22.11.0', 'shared'],
    ['22.12.0', 'reuseport'],
    ['23.0.0', 'shared'],
    ['23.1.0', 'reuseport'],
    ['24.3.0', 'reuseport'],
  ])('Node %s with node:dgram → %s', (version, mode) => {
    expect(portSharing(version, false)).toBe(mode);
  });
  it('the native reader sets SO_REUSEPORT itself, on any Node version', () => {
    expect(portSharing('20.20.2', true)).toBe('reuseport');
  });
});

describe('beacon receive --workers 2 (SQLite)', () => {
  it('stores every run once, counts copies as duplicates, and SIGTERM commits everything and exits 0', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--workers', '2', '--rate-limit', 'off', '--metrics-port', '0']);
    expect(rx.lines.find((l) => l.msg === 'listening')).toMatchObject({ workers: 2, bind: portSharing(), store: 'sqlite' });
    expect(workerLines(rx, 'worker listening')).toHaveLength(2);
    const runs = Array.from({ length: 600 }, () => encoder());
    const datagrams = runs.flatMap((e) => [e.start(Date.now()), e.end(Date.now(), 0, 1000)]);
    await send(rx.port, [...datagrams, ...datagrams]);
    const r = rx;
    await waitFor(
      'all received (metrics summed over workers)',
      async () => (await metric(r, 'beacon_receiver_datagrams_received_total')) === datagrams.length * 2,
    );
    await waitFor(
      'all runs complete in the file',
      () => query<{ n: number }>(tmp!.db, 'SELECT count(*) AS n FROM runs WHERE has_start = 1 AND has_end = 1')[0]!.n === runs.length,
    );
    expect(await metric(r, 'beacon_receiver_workers')).toBe(2);
    expect(await r.stop()).toBe(0);
    const stopped = workerLines(r, 'stopped');
    expect(stopped).toHaveLength(2);
    expect(stopped.reduce((a, l) => a + (l.received as number), 0)).toBe(datagrams.length * 2);
    expect(r.lines.find((l) => l.msg === 'stopped' && l.primary)).toBeDefined();
    expect(rows(tmp.db)).toBe(runs.length);
    expect(counters(tmp.db)).toMatchObject({ received: datagrams.length * 2, stored: datagrams.length, duplicates: datagrams.length });
  });

  it('SIGTERM under load: every worker commits everything it accepted', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--workers', '2', '--rate-limit', 'off', '--flush-ms', '1000']);
    const sock = createSocket('udp4');
    const r = rx;
    for (let i = 0; i < 6000; i++) {
      if (i === 3000) r.child.kill('SIGTERM');
      sock.send(encoder().start(Date.now()), r.port, '127.0.0.1');
      if (i % 200 === 199) await new Promise((res) => setImmediate(res));
    }
    sock.close();
    expect(await r.exited).toBe(0);
    const stopped = workerLines(r, 'stopped');
    expect(stopped).toHaveLength(2);
    const received = stopped.reduce((a, l) => a + (l.received as number), 0);
    expect(received).toBeGreaterThan(0);
    for (const l of stopped) expect(l.pending).toBe(0);
    expect(rows(tmp.db)).toBe(received);
    expect(counters(tmp.db)).toMatchObject({ received, stored: received });
  });

  it('restarts a worker that dies, and keeps receiving', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--workers', '2', '--rate-limit', 'off', '--metrics-port', '0']);
    const r = rx;
    const victim = workerLines(r, 'worker listening').find((l) => l.worker === 1)!;
    process.kill(victim.pid as number, 'SIGKILL');
    const crash = await waitFor('the crash logged', () => r.lines.find((l) => l.msg === 'worker exited unexpectedly; restarting it'));
    expect(crash).toMatchObject({ worker: 1, signal: 'SIGKILL' });
    await waitFor('worker 1 restarted', () => r.lines.find((l) => l.msg === 'worker restarted' && l.worker === 1), 20_000);
    expect(await metric(r, 'beacon_receiver_worker_restarts_total')).toBe(1);
    expect(await metric(r, 'beacon_receiver_workers')).toBe(2);
    const runs = Array.from({ length: 300 }, () => encoder());
    await send(
      r.port,
      runs.map((e) => e.start(Date.now())),
    );
    await waitFor('all stored', () => rows(tmp!.db) === runs.length);
    expect(await r.stop()).toBe(0);
  });

  it.each<[string, Record<string, string>]>([
    ['native reader, a socket per worker', {}],
    ['node:dgram, one shared socket', { BEACON_UDP_READER: 'dgram' }],
  ])('counts kernel drops once, not once per worker (%s)', async (_, env) => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--workers', '2', '--rate-limit', 'off', '--metrics-port', '0'], env);
    expect(rx.lines.find((l) => l.msg === 'listening')).toMatchObject({ bind: env.BEACON_UDP_READER ? 'shared' : 'reuseport' });
    const r = rx;
    const pids = workerLines(r, 'worker listening').map((l) => l.pid as number);
    const before = procDrops(r.port);
    // Nobody reads while the workers are stopped: the 8 MiB buffer overflows and the kernel drops.
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    const sock = createSocket('udp4');
    const sent = 30_000;
    try {
      for (let i = 0; i < sent; i++) {
        sock.send(encoder().start(Date.now()), r.port, '127.0.0.1');
        if (i % 100 === 99) await new Promise((res) => setImmediate(res));
      }
      await new Promise((res) => setTimeout(res, 200));
    } finally {
      sock.close();
      for (const pid of pids) process.kill(pid, 'SIGCONT');
    }
    const drops = procDrops(r.port) - before;
    expect(drops).toBeGreaterThan(0);
    await waitFor('drops seen', async () => (await metric(r, 'beacon_receiver_kernel_drops_total')) >= drops, 20_000);
    await waitFor('the rest received', async () => (await metric(r, 'beacon_receiver_datagrams_received_total')) === sent - drops, 20_000);
    // One more poll interval: a double count would show up by now.
    await new Promise((res) => setTimeout(res, 1500));
    expect(await metric(r, 'beacon_receiver_kernel_drops_total')).toBe(drops);
    expect(await r.stop()).toBe(0);
    expect(counters(tmp.db)).toMatchObject({ kernel_drops: drops, received: sent - drops, stored: sent - drops });
  });

  it('exits 1 with one line when the port is taken, without a restart loop', async () => {
    tmp = tempDir();
    const taken = createSocket('udp4');
    await new Promise<void>((res) => taken.bind(0, '127.0.0.1', () => res()));
    try {
      const res = await runCli([
        'receive',
        '--workers',
        '2',
        '--host',
        '127.0.0.1',
        '--port',
        String(taken.address().port),
        '--db',
        tmp.db,
      ]);
      expect(res.code).toBe(1);
      expect(res.stderr.trim().split('\n')).toHaveLength(1);
      expect(res.stderr).toMatch(/BEACON_ERR_PORT_IN_USE/);
    } finally {
      taken.close();
    }
  });
});
