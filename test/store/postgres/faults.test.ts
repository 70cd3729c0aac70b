import { createSocket } from 'node:dgram';
import { readdirSync } from 'node:fs';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { encoder, startReceiver, tempDir, waitFor, type RunningReceiver } from '../../receiver/helpers.js';
import { canRunThrowawayPostgres, throwawayPostgres, type ThrowawayPostgres } from './throwaway.js';

let rx: RunningReceiver | undefined;
let server: ThrowawayPostgres | undefined;
let tmp: ReturnType<typeof tempDir> | undefined;
afterEach(async () => {
  if (rx && rx.child.exitCode === null && rx.child.signalCode === null) await rx.stop('SIGKILL');
  rx = undefined;
  server?.remove();
  server = undefined;
  tmp?.cleanup();
  tmp = undefined;
});

/** Sends unique starts at ~`rate`/s until stopped; returns the runs sent. */
function load(port: number, rate: number): { runs: string[]; stop(): Promise<void> } {
  const sock = createSocket('udp4');
  const runs: string[] = [];
  const timer = setInterval(() => {
    for (let i = 0; i < rate / 50; i++) {
      const e = encoder();
      runs.push(e.id.run);
      sock.send(Buffer.from(e.start(Date.now())), port, '127.0.0.1');
    }
  }, 20);
  return {
    runs,
    async stop() {
      clearInterval(timer);
      await new Promise((r) => setTimeout(r, 100));
      sock.close();
    },
  };
}

async function storedRuns(url: string): Promise<Set<string>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return new Set((await c.query<{ run: string }>('SELECT run FROM run_facts')).rows.map((r) => r.run));
  } finally {
    await c.end();
  }
}

describe.skipIf(!canRunThrowawayPostgres())('a PostgreSQL store stopped and restarted under load (a throwaway cluster)', () => {
  it('keeps receiving while the server is down, counts the fault as unreachable, and commits everything within 1 s of its return', async () => {
    server = await throwawayPostgres();
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--store', server.url, '--rate-limit', 'off', '--spill-dir', tmp.dir], {
      BEACON_SETTLE_SECONDS: '0',
    });
    const traffic = load(rx.port, 1000);
    await new Promise((r) => setTimeout(r, 700));
    server.stop();
    const failed = await waitFor('the store error line', () => rx!.lines.find((l) => l.msg === 'store write failed; will retry'));
    expect(failed.reason).toBe('unreachable');
    await new Promise((r) => setTimeout(r, 1500));
    server.start();
    const upAt = Date.now();
    const recovered = await waitFor('store writes recovered', () => rx!.lines.find((l) => l.msg === 'store writes recovered'));
    const recoveryMs = Date.parse(recovered.time as string) - upAt;
    expect(recoveryMs).toBeLessThan(1000);
    await new Promise((r) => setTimeout(r, 500));
    await traffic.stop();
    expect(await rx.stop()).toBe(0);
    const stopped = rx.lines.find((l) => l.msg === 'stopped')!;
    expect(stopped).toMatchObject({ received: traffic.runs.length, stored: traffic.runs.length, overload_drops: 0, pending: 0 });
    const stored = await storedRuns(server.url);
    expect(traffic.runs.filter((r) => !stored.has(r))).toEqual([]);
    console.log(JSON.stringify({ postgresRestartRecoveryMs: recoveryMs, runs: traffic.runs.length }));
  });

  it('SIGTERM while the server is down spills the backlog; the next start commits it once the server is back', async () => {
    server = await throwawayPostgres();
    tmp = tempDir();
    const args = ['--store', server.url, '--rate-limit', 'off', '--spill-dir', tmp.dir];
    rx = await startReceiver(tmp.db, args, { BEACON_SETTLE_SECONDS: '0' });
    const traffic = load(rx.port, 1000);
    await new Promise((r) => setTimeout(r, 500));
    server.stop();
    await waitFor('the store error line', () => rx!.lines.find((l) => l.msg === 'store write failed; will retry'));
    await new Promise((r) => setTimeout(r, 500));
    await traffic.stop();
    expect(await rx.stop()).toBe(0);
    const stopped = rx.lines.find((l) => String(l.msg).startsWith('stopped'))!;
    expect(stopped.msg).toBe('stopped; backlog spilled for the next start');
    expect(stopped.spilled).toBeGreaterThan(0);
    expect(readdirSync(tmp.dir).filter((n) => n.startsWith('postgres.spill-') && n.endsWith('.bin'))).toHaveLength(1);
    server.start();
    rx = await startReceiver(tmp.db, args, { BEACON_SETTLE_SECONDS: '0' });
    expect(rx.lines.find((l) => l.msg === 'spill file committed')).toMatchObject({ records: stopped.spilled });
    const stored = await storedRuns(server.url);
    expect(traffic.runs.filter((r) => !stored.has(r))).toEqual([]);
    expect(readdirSync(tmp.dir).filter((n) => n.endsWith('.bin'))).toHaveLength(0);
    expect(await rx.stop()).toBe(0);
  });
});
