import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { methodology } from '../../src/reports/methodology.js';
import { APP, FIXTURES, ROOT, cleanEnv, runNode, runProcess, type Listener, type TempHome, perTestListenerAndHome } from './helpers.js';

// The first-run notice tells people what to run. Those commands must work where the reader is: in a
// project that installed usage-beacon, `npx usage-beacon …` runs this package's own bin (a bare
// `npx beacon` would fetch an unrelated npm package named "beacon"). A tool can print its own
// opt-out command instead. Notice, preview and docs agree on the opt-out value: false.

let listener: Listener;
let home: TempHome;
perTestListenerAndHome((l, h) => {
  listener = l;
  home = h;
});

/** A project that depends on usage-beacon, as npm lays it out: the package and its bins. */
function installedProject(): string {
  const dir = join(home.dir, 'project');
  mkdirSync(join(dir, 'node_modules/.bin'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{ "name": "someones-project", "private": true }\n');
  symlinkSync(ROOT, join(dir, 'node_modules/usage-beacon'));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  for (const [name, target] of Object.entries(pkg.bin)) symlinkSync(join('../usage-beacon', target), join(dir, 'node_modules/.bin', name));
  return dir;
}

function noticeCommands(stderr: string): { preview: string; optOut: string } {
  const preview = /See exactly what is sent:\s+(.+?)\s{2,}/.exec(stderr)?.[1];
  const optOut = /Opt out:.*\bor\s{2,}(\S.*)$/m.exec(stderr)?.[1]?.trim();
  if (!preview || !optOut) throw new Error(`no commands found in the notice:\n${stderr}`);
  return { preview, optOut };
}

describe('the commands printed in the notice work', () => {
  it('npx usage-beacon preview / disable, run in a project that installed the package', async () => {
    const env = cleanEnv({
      BEACON_HOME: home.home,
      BEACON_COLLECTOR: listener.collector,
      HOME: home.dir,
      npm_config_cache: join(home.dir, 'npm-cache'),
      npm_config_update_notifier: 'false',
      npm_config_offline: 'true',
    });
    const first = await runNode([APP, 'normal'], { env });
    expect(first.stderr).toContain('export PARSL_TRACKING=false');
    const { preview, optOut } = noticeCommands(first.stderr);
    expect(preview).toBe('npx usage-beacon preview');
    expect(optOut).toBe('npx usage-beacon disable');

    const project = installedProject();
    const sh = (cmd: string) => runProcess('sh', ['-c', cmd], { env, cwd: project, timeoutMs: 60_000 });
    const shown = await sh(preview);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('tracking:    on');
    expect(shown.stdout).toContain('opt out:     PARSL_TRACKING=false, DO_NOT_TRACK=1, or `npx usage-beacon disable`');

    const disabled = await sh(optOut);
    expect(disabled.code, disabled.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(home.home, 'state.json'), 'utf8')).enabled).toBe(false);
    // And it took: the next run of the tool sends nothing and says so.
    const after = await runNode([APP, 'normal'], { env });
    expect(after.stdout).toBe('fixture ran: normal enabled=false\n');
    // The bin answers to both names, with the same commands.
    const help = await sh('npx usage-beacon --help');
    expect(help.stdout).toMatch(/^Usage: usage-beacon /);
    for (const command of ['run', 'preview', 'enable', 'disable']) expect(help.stdout).toContain(`  ${command}`);
  });

  it('a tool names its own opt-out command (option, or $BEACON_OPT_OUT_COMMAND in register mode)', async () => {
    const env = cleanEnv({ BEACON_HOME: home.home, BEACON_COLLECTOR: listener.collector });
    const lib = await runNode(
      [
        '--input-type=module',
        '-e',
        "import { startBeacon } from 'usage-beacon'; startBeacon({ project: 'mytool', optOutEnv: 'MYTOOL_TRACKING', optOutCommand: 'mytool telemetry off' });",
      ],
      { env },
    );
    expect(lib.code).toBe(0);
    expect(noticeCommands(lib.stderr).optOut).toBe('mytool telemetry off');
    expect(lib.stderr).toContain('export MYTOOL_TRACKING=false');

    const reg = await runNode(['--import', 'usage-beacon/register', join(FIXTURES, 'plain.mjs')], {
      env: { ...env, BEACON_PROJECT: 'othertool', BEACON_OPT_OUT_COMMAND: 'othertool --no-telemetry' },
    });
    expect(reg.stdout).toBe('plain ran\n');
    expect(noticeCommands(reg.stderr).optOut).toBe('othertool --no-telemetry');
  });
});

describe('every text that tells people how to opt out names the documented commands', () => {
  it("the reports' methodology: PARSL_TRACKING=false and `npx usage-beacon disable`, never a bare `beacon disable`", () => {
    const optOut = methodology(5)
      .find((s) => s.title === 'Opting out')!
      .paragraphs.join(' ');
    expect(optOut).toContain('PARSL_TRACKING=false');
    expect(optOut).toContain('npx usage-beacon disable');
    expect(optOut).not.toMatch(/(^|[^-\w])beacon disable/);
  });
});
