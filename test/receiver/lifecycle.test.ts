import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { counters, encoder, query, runCli, send, startReceiver, tempDir, waitFor, type RunningReceiver } from './helpers.js';

let rx: RunningReceiver | undefined;
let tmp: ReturnType<typeof tempDir>;
afterEach(async () => {
  if (rx && rx.child.exitCode === null && rx.child.signalCode === null) await rx.stop();
  rx = undefined;
  tmp?.cleanup();
});

const rows = (db: string) => query<{ n: number }>(db, 'SELECT count(*) AS n FROM runs')[0]!.n;

/** Sends `n` unique start datagrams as fast as the socket takes them, without waiting per datagram. */
async function flood(port: number, n: number, onHalf?: () => void): Promise<void> {
  const sock = createSocket('udp4');
  for (let i = 0; i < n; i++) {
    if (i === n >> 1) onHalf?.();
    sock.send(encoder().start(Date.now()), port, '127.0.0.1');
    if (i % 200 === 199) await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 50));
  sock.close();
}

describe('receiver lifecycle', () => {
  it.each(['on', 'off'])('SIGTERM under load: stops reading, commits everything it accepted, exits 0 (store thread %s)', async (thread) => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off', '--flush-ms', '1000'], { BEACON_STORE_THREAD: thread });
    expect(rx.lines[0]).toMatchObject({ msg: 'listening', storeThread: thread === 'on' });
    const r = rx;
    await flood(r.port, 6000, () => r.child.kill('SIGTERM'));
    expect(await r.exited).toBe(0);
    const stopped = r.lines.find((l) => l.msg === 'stopped')!;
    expect(stopped).toBeDefined();
    expect(stopped.pending).toBe(0);
    // Everything read before the stop was accepted (all valid and unique) and is in the file.
    expect(stopped.received).toBeGreaterThan(0);
    expect(stopped.stored).toBe(stopped.received);
    expect(rows(tmp.db)).toBe(stopped.stored);
    expect(counters(tmp.db)).toMatchObject({ received: stopped.received, stored: stopped.stored });
  });

  it('kill -9 leaves a consistent database that a restart opens, losing nothing older than the flush window', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off', '--metrics-port', '0']);
    const metrics = async () => {
      const text = await (await fetch(`http://127.0.0.1:${rx!.metricsPort}/metrics`)).text();
      return Number(/^beacon_receiver_datagrams_received_total (\d+)/m.exec(text)?.[1]);
    };
    await flood(rx.port, 500);
    await waitFor('500 received', async () => (await metrics()) === 500);
    // The flush window is 50 ms; a full second later everything must be committed.
    await new Promise((r) => setTimeout(r, 1000));
    const r = rx;
    // Now kill it in the middle of more traffic.
    await flood(r.port, 4000, () => r.child.kill('SIGKILL'));
    expect(await r.exited).toBe('SIGKILL');
    const db = new Database(tmp.db);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
    const n = rows(tmp.db);
    expect(n).toBeGreaterThanOrEqual(500);
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off']);
    // What the killed receiver had committed to its intake log but not merged is merged now.
    let last = -1;
    await waitFor("the killed receiver's log merged", async () => {
      await new Promise((r) => setTimeout(r, 300));
      const now = rows(tmp!.db);
      const stable = now === last;
      last = now;
      return stable;
    });
    const m = rows(tmp.db);
    expect(m).toBeGreaterThanOrEqual(n);
    await send(rx.port, [encoder().start(Date.now())]);
    await waitFor('one more row', () => rows(tmp.db) === m + 1);
  });

  it('exits non-zero with one line when the UDP port is taken', async () => {
    tmp = tempDir();
    const taken = createSocket('udp4');
    await new Promise<void>((r) => taken.bind(0, '127.0.0.1', () => r()));
    try {
      const res = await runCli(['receive', '--host', '127.0.0.1', '--port', String(taken.address().port), '--db', tmp.db]);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/^beacon: cannot listen on UDP 127\.0\.0\.1:\d+: address already in use \[BEACON_ERR_PORT_IN_USE\]\n$/);
    } finally {
      taken.close();
    }
  });

  it('exits non-zero with one line when the metrics port is taken', async () => {
    tmp = tempDir();
    const { createServer } = await import('node:net');
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (srv.address() as { port: number }).port;
      const res = await runCli(['receive', '--host', '127.0.0.1', '--port', '0', '--db', tmp.db, '--metrics-port', String(port)]);
      expect(res.code).toBe(1);
      expect(res.stderr.trim().split('\n')).toHaveLength(1);
      expect(res.stderr).toContain('[BEACON_ERR_PORT_IN_USE]');
    } finally {
      srv.close();
    }
  });

  it('exits non-zero with one line when the database cannot be opened', async () => {
    tmp = tempDir();
    const missingDir = await runCli(['receive', '--port', '0', '--db', join(tmp.dir, 'no/such/dir/usage.db')]);
    expect(missingDir.code).toBe(1);
    expect(missingDir.stderr).toMatch(/^beacon: cannot open SQLite store .*\[BEACON_ERR_DB_OPEN\]\n$/);
    const notSqlite = join(tmp.dir, 'junk.db');
    writeFileSync(notSqlite, 'this is not a database, just text that is long enough to be a header...'.repeat(100));
    const junk = await runCli(['receive', '--port', '0', '--db', notSqlite]);
    expect(junk.code).toBe(1);
    expect(junk.stderr).toMatch(/\[BEACON_ERR_DB_OPEN\]\n$/);
    // Port 1 on loopback: nothing listens, whether or not the PostgreSQL store is wired in yet.
    const pg = await runCli(['receive', '--port', '0', '--store', 'postgres://127.0.0.1:1/nothing']);
    expect(pg.code).toBe(1);
    expect(pg.stderr).toContain('[BEACON_ERR_DB_OPEN]');
  });

  it('refuses a store migrated by a newer version', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db);
    await rx.stop();
    const db = new Database(tmp.db);
    db.prepare('INSERT INTO schema_migrations (version, name, applied_ms) VALUES (999, ?, 0)').run('from the future');
    db.close();
    const res = await runCli(['receive', '--port', '0', '--db', tmp.db]);
    expect(res.code).toBe(78);
    expect(res.stderr).toMatch(/schema version 999.*\[BEACON_ERR_SCHEMA_TOO_NEW\]\n$/);
  });

  it('rejects bad option values with a usage error', async () => {
    tmp = tempDir();
    const rl = await runCli(['receive', '--port', '0', '--db', tmp.db, '--rate-limit', 'lots']);
    expect(rl.code).toBe(2);
    expect(rl.stderr).toContain('[BEACON_ERR_USAGE]');
    const lvl = await runCli(['receive', '--port', '0', '--db', tmp.db, '--log-level', 'loud']);
    expect(lvl.code).toBe(2);
    expect(lvl.stderr).toContain('[BEACON_ERR_USAGE]');
  });

  it('serves Prometheus metrics and logs periodic stats', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off', '--metrics-port', '0'], { BEACON_RECEIVER_STATS_MS: '100' });
    const a = encoder();
    await send(rx.port, [a.start(Date.now()), a.start(Date.now()), Buffer.from('nope')]);
    const text = await waitFor('metrics', async () => {
      const t = await (await fetch(`http://127.0.0.1:${rx!.metricsPort}/metrics`)).text();
      return /^beacon_receiver_datagrams_stored_total 1$/m.test(t) && t;
    });
    expect(text).toMatch(/^beacon_receiver_datagrams_received_total 3$/m);
    expect(text).toMatch(/^beacon_receiver_datagrams_duplicate_total 1$/m);
    expect(text).toMatch(/^beacon_receiver_datagrams_rejected_total\{reason="not_json"\} 1$/m);
    expect(text).toMatch(/^beacon_receiver_kernel_drops_total 0$/m);
    // A stats line can fall between reading and committing (pending 1, stored 0): take one logged after the commit.
    const stats = await waitFor('a stats line with the totals', () =>
      rx!.lines.find((l) => l.msg === 'stats' && l.received === 3 && l.pending === 0),
    );
    expect(stats).toMatchObject({ stored: 1, duplicates: 1, rejected: { not_json: 1 } });
  });
});
