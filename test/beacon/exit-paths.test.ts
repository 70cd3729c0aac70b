import { describe, expect, it } from 'vitest';
import { APP, cleanEnv, runNode, settle, type Listener, type TempHome, perTestListenerAndHome } from './helpers.js';

// Every way a Node program can end: the end datagram arrives with the real status, the run ID
// matches the start's, and the program's own output and status are what they would be anyway.
let listener: Listener;
let home: TempHome;
perTestListenerAndHome((l, h) => {
  listener = l;
  home = h;
});

function env() {
  return cleanEnv({ BEACON_HOME: home.home, BEACON_COLLECTOR: listener.collector });
}

async function startAndEnd(): Promise<{ start: Record<string, unknown>; end: Record<string, unknown> }> {
  await listener.waitFor(4);
  await settle(50);
  const msgs = listener.messages();
  const starts = msgs.filter((m) => m.kind === 'start');
  const ends = msgs.filter((m) => m.kind === 'end');
  // copies = 2: each datagram twice, identical bytes; exactly one end per run
  expect(starts).toHaveLength(2);
  expect(ends).toHaveLength(2);
  expect(new Set(listener.datagrams.map((d) => d.toString())).size).toBe(2);
  expect(ends[0]!.run).toBe(starts[0]!.run);
  return { start: starts[0]!, end: ends[0]! };
}

describe('end datagram on every exit path', () => {
  const cases: Array<[string, number]> = [
    ['normal', 0],
    ['exit3', 3],
    ['exitcode5', 5],
    ['throw', 1],
    ['reject', 1],
  ];
  for (const [mode, status] of cases) {
    it(`${mode} → exit ${status}`, async () => {
      const r = await runNode([APP, mode], { env: env() });
      expect(r.code).toBe(status);
      expect(r.stdout).toBe(`fixture ran: ${mode} enabled=true\n`);
      const { start, end } = await startAndEnd();
      expect(end.exit).toBe(status);
      expect(typeof end.dur_ms).toBe('number');
      expect(start.project).toBe('fixture');
      expect(start.version).toBe('1.0.0');
      if (mode === 'throw') expect(r.stderr).toContain('fixture throws');
      if (mode === 'reject') expect(r.stderr).toContain('fixture rejects');
    });
  }

  it('SIGTERM without a host handler: the host still dies of the signal, end says 143', async () => {
    const r = await runNode([APP, 'wait-signal'], { env: env(), onReady: (pid) => process.kill(pid, 'SIGTERM') });
    expect(r.signal).toBe('SIGTERM');
    expect(r.code).toBeNull();
    const { end } = await startAndEnd();
    expect(end.exit).toBe(143);
  });

  for (const sig of ['SIGINT', 'SIGHUP'] as const) {
    it(`${sig} without a host handler: dies of it, end says 128+n`, async () => {
      const r = await runNode([APP, 'wait-signal'], { env: env(), onReady: (pid) => process.kill(pid, sig) });
      expect(r.signal).toBe(sig);
      const { end } = await startAndEnd();
      expect(end.exit).toBe(sig === 'SIGINT' ? 130 : 129);
    });
  }

  it('SIGTERM with a host handler: the host decides (exit 42) and the end reports that', async () => {
    const r = await runNode([APP, 'handle-signal'], { env: env(), onReady: (pid) => process.kill(pid, 'SIGTERM') });
    expect(r.code).toBe(42);
    expect(r.stdout).toContain('host handler ran');
    const { end } = await startAndEnd();
    expect(end.exit).toBe(42);
  });

  it('beacon.end(4) ends explicitly; the later process exit sends no second end', async () => {
    const r = await runNode([APP, 'explicit-end'], { env: env() });
    expect(r.code).toBe(0);
    const { end } = await startAndEnd();
    expect(end.exit).toBe(4);
    await settle(200);
    expect(listener.messages().filter((m) => m.kind === 'end')).toHaveLength(2);
  });

  it('BEACON_COPIES=1 sends each datagram once', async () => {
    const r = await runNode([APP, 'exit3'], { env: { ...env(), BEACON_COPIES: '1' } });
    expect(r.code).toBe(3);
    await listener.waitFor(2);
    await settle();
    expect(listener.messages().map((m) => m.kind)).toEqual(['start', 'end']);
  });
});
