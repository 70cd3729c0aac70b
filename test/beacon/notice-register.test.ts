import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP, FIXTURES, cleanEnv, runNode, type Listener, type TempHome, perTestListenerAndHome } from './helpers.js';

let listener: Listener;
let home: TempHome;
perTestListenerAndHome((l, h) => {
  listener = l;
  home = h;
});

function env(extra: Record<string, string> = {}) {
  return cleanEnv({ BEACON_HOME: home.home, BEACON_COLLECTOR: listener.collector, ...extra });
}

describe('first-run notice', () => {
  it('shows once per user and project, on stderr only, and is recorded in the state file', async () => {
    const first = await runNode([APP, 'normal'], { env: env() });
    expect(first.stdout).toBe('fixture ran: normal enabled=true\n');
    expect(first.stderr).toContain('fixture collects anonymous usage statistics');
    expect(first.stderr).toContain('PARSL_TRACKING=false');
    expect(first.stderr).toContain('DO_NOT_TRACK=1');
    expect(first.stderr).toContain('beacon preview');
    expect(first.stderr).toContain(listener.collector);
    const second = await runNode([APP, 'normal'], { env: env() });
    expect(second.stderr).toBe('');
    const state = JSON.parse(readFileSync(join(home.home, 'state.json'), 'utf8'));
    expect(Object.keys(state.noticed)).toEqual(['fixture']);
    expect(state.secret).toMatch(/^[0-9a-f]{64}$/);

    // Another project embedding the beacon gets its own notice, naming its own opt-out variable.
    const other = await runNode(['--import', 'usage-beacon/register', join(FIXTURES, 'plain.mjs')], {
      env: env({ BEACON_PROJECT: 'othertool', BEACON_OPT_OUT_ENV: 'OTHERTOOL_TRACKING' }),
    });
    expect(other.stdout).toBe('plain ran\n');
    expect(other.stderr).toContain('othertool collects anonymous usage statistics');
    expect(other.stderr).toContain('OTHERTOOL_TRACKING=false');
    const again = await runNode(['--import', 'usage-beacon/register', join(FIXTURES, 'plain.mjs')], {
      env: env({ BEACON_PROJECT: 'othertool' }),
    });
    expect(again.stderr).toBe('');
  });
});

describe('register mode: node --import usage-beacon/register', () => {
  it('tracks an unmodified program, configured from the environment', async () => {
    const r = await runNode(['--import', 'usage-beacon/register', join(FIXTURES, 'plain.mjs')], {
      env: env({ BEACON_PROJECT: 'regtool', BEACON_VERSION: '2.5.0' }),
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('plain ran\n');
    await listener.waitFor(4);
    const msgs = listener.messages();
    const start = msgs.find((m) => m.kind === 'start')!;
    const end = msgs.find((m) => m.kind === 'end')!;
    expect(start).toMatchObject({
      project: 'regtool',
      version: '2.5.0',
      runtime: `node/${process.versions.node}`,
      os: process.platform,
      arch: process.arch,
      ci: false,
    });
    expect(end).toMatchObject({ run: start.run, exit: 0 });
  });

  it('reports the exit status of an unmodified program that fails', async () => {
    const r = await runNode(['--import', 'usage-beacon/register', '-e', 'process.exitCode = 6'], {
      env: env({ BEACON_PROJECT: 'regtool' }),
    });
    expect(r.code).toBe(6);
    await listener.waitFor(4);
    expect(listener.messages().find((m) => m.kind === 'end')!.exit).toBe(6);
  });

  it('a CI environment is flagged, without sending any CI variable value', async () => {
    const r = await runNode(['--import', 'usage-beacon/register', join(FIXTURES, 'plain.mjs')], {
      env: env({ BEACON_PROJECT: 'regtool', GITHUB_ACTIONS: 'true', GITHUB_REPOSITORY: 'secret-org/secret-repo' }),
    });
    expect(r.code).toBe(0);
    await listener.waitFor(4);
    expect(listener.messages().every((m) => m.ci === true)).toBe(true);
    expect(listener.datagrams.some((d) => d.toString().includes('secret'))).toBe(false);
  });
});
