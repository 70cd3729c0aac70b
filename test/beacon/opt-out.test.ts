import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP, CLI, cleanEnv, runNode, settle, type Listener, type TempHome, perTestListenerAndHome } from './helpers.js';

let listener: Listener;
let home: TempHome;
perTestListenerAndHome((l, h) => {
  listener = l;
  home = h;
});

function env(extra: Record<string, string> = {}) {
  return cleanEnv({ BEACON_HOME: home.home, BEACON_COLLECTOR: listener.collector, ...extra });
}

describe('opted out by the environment: no socket, no file, no output', () => {
  const cases: Array<Record<string, string>> = [
    { PARSL_TRACKING: 'false' },
    { PARSL_TRACKING: 'OFF' },
    { PARSL_TRACKING: '0' },
    { PARSL_TRACKING: 'No' },
    { DO_NOT_TRACK: '1' },
    { DO_NOT_TRACK: '1', PARSL_TRACKING: 'true' },
  ];
  for (const extra of cases) {
    it(JSON.stringify(extra), async () => {
      const r = await runNode([APP, 'exit3'], { env: env(extra) });
      expect(r.code).toBe(3);
      expect(r.stdout).toBe('fixture ran: exit3 enabled=false\n');
      expect(r.stderr).toBe('');
      await settle(300);
      expect(listener.datagrams).toHaveLength(0);
      expect(existsSync(home.home)).toBe(false);
    });
  }

  it('a tool-specific variable name (optOutEnv) is honoured in register mode', async () => {
    const r = await runNode(['--import', 'usage-beacon/register', join(import.meta.dirname, '../fixtures/beacon/plain.mjs')], {
      env: env({ BEACON_OPT_OUT_ENV: 'MYTOOL_TRACKING', MYTOOL_TRACKING: 'off' }),
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('plain ran\n');
    expect(r.stderr).toBe('');
    await settle(300);
    expect(listener.datagrams).toHaveLength(0);
    expect(existsSync(home.home)).toBe(false);
  });
});

describe('opted out by the environment: nothing touched, even a state file that would block', () => {
  it('a FIFO as state file is never opened, and the process holds no UDP socket', async () => {
    const { mkdirSync, readdirSync, readlinkSync } = await import('node:fs');
    const { execFileSync } = await import('node:child_process');
    mkdirSync(home.home);
    // Opening a FIFO for reading blocks until a writer appears: any read of the state file would hang the fixture.
    execFileSync('mkfifo', [join(home.home, 'state.json')]);
    let sockets: string[] = [];
    let udpInodes = '';
    const r = await runNode([APP, 'wait-signal'], {
      env: env({ DO_NOT_TRACK: '1' }),
      timeoutMs: 10_000,
      onReady: (pid) => {
        sockets = readdirSync(`/proc/${pid}/fd`)
          .map((fd) => {
            try {
              return readlinkSync(`/proc/${pid}/fd/${fd}`);
            } catch {
              return '';
            }
          })
          .filter((l) => l.startsWith('socket:'));
        udpInodes = readFileSync('/proc/net/udp', 'utf8') + readFileSync('/proc/net/udp6', 'utf8');
        process.kill(pid, 'SIGTERM');
      },
    });
    expect(r.signal).toBe('SIGTERM');
    for (const s of sockets) expect(udpInodes).not.toContain(` ${s.slice(8, -1)} `);
    expect(listener.datagrams).toHaveLength(0);
  });
});

describe('beacon disable / enable', () => {
  it('disable persists: runs send nothing, write nothing; the environment still wins; enable turns it back on', async () => {
    const d = await runNode([CLI, 'disable'], { env: env() });
    expect(d.code).toBe(0);
    expect(d.stdout).toContain('disabled');
    const path = join(home.home, 'state.json');
    expect(JSON.parse(readFileSync(path, 'utf8')).enabled).toBe(false);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const before = readFileSync(path, 'utf8');
    const mtime = statSync(path).mtimeMs;

    const r = await runNode([APP, 'normal'], { env: env() });
    expect(r.stdout).toBe('fixture ran: normal enabled=false\n');
    expect(r.stderr).toBe('');
    await settle(300);
    expect(listener.datagrams).toHaveLength(0);
    expect(readFileSync(path, 'utf8')).toBe(before);
    expect(statSync(path).mtimeMs).toBe(mtime);

    // PARSL_TRACKING=on beats the persisted choice.
    const forced = await runNode([APP, 'normal'], { env: env({ PARSL_TRACKING: 'on' }) });
    expect(forced.stdout).toBe('fixture ran: normal enabled=true\n');
    await listener.waitFor(4);

    const e = await runNode([CLI, 'enable'], { env: env({ DO_NOT_TRACK: '1' }) });
    expect(e.code).toBe(0);
    expect(e.stdout).toContain('enabled');
    expect(e.stdout).toContain('DO_NOT_TRACK=1 in the environment overrides');
    expect(JSON.parse(readFileSync(path, 'utf8')).enabled).toBe(true);
    const again = await runNode([APP, 'normal'], { env: env() });
    expect(again.stdout).toBe('fixture ran: normal enabled=true\n');
    await listener.waitFor(8);
  });

  it('an unparseable state file is reported, not overwritten', async () => {
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(home.home, { recursive: true });
    writeFileSync(join(home.home, 'state.json'), 'not json');
    const d = await runNode([CLI, 'disable'], { env: env() });
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(/^beacon: cannot use the state file .* \[BEACON_ERR_STATE_FILE\]\n$/);
    expect(readFileSync(join(home.home, 'state.json'), 'utf8')).toBe('not json');
    // The library still counts the run, with a throwaway secret flagged eph, and leaves the file alone.
    const r = await runNode([APP, 'normal'], { env: env() });
    expect(r.code).toBe(0);
    await listener.waitFor(4);
    expect(listener.messages().every((m) => m.eph === true)).toBe(true);
    expect(readFileSync(join(home.home, 'state.json'), 'utf8')).toBe('not json');
  });
});
