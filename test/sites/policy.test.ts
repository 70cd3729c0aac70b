import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { APP, CLI, ROOT, cleanEnv, runNode, settle, startListener, tempHome, type Listener, type TempHome } from '../beacon/helpers.js';

const TOOL = join(ROOT, 'test/fixtures/sites/tool.mjs');
const PLAIN = join(ROOT, 'test/fixtures/beacon/plain.mjs');

let site: Listener; // the site's own collector or relay
let tool: Listener; // the tool's default collector
let home: TempHome;
let policy: string;

beforeEach(async () => {
  site = await startListener();
  tool = await startListener();
  home = tempHome();
  mkdirSync(join(home.dir, 'etc'));
  policy = join(home.dir, 'etc/site.json');
});
afterEach(() => {
  site.close();
  tool.close();
  home.cleanup();
});

function env(extra: Record<string, string> = {}) {
  return cleanEnv({ BEACON_HOME: home.home, BEACON_SITE_CONFIG: policy, TOOL_DEFAULT_COLLECTOR: tool.collector, ...extra });
}

describe('site policy {"tracking": "off"}', () => {
  beforeEach(() => writeFileSync(policy, '{"tracking": "off"}\n'));

  it('library: nothing sent, no state file, no notice; PARSL_TRACKING=on cannot turn it back on', async () => {
    const r = await runNode([TOOL], { env: env({ PARSL_TRACKING: 'on' }) });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`tool ran enabled=false reason=turned off for all users by the site policy (${policy})\n`);
    expect(r.stderr).toBe('');
    await settle(300);
    expect(site.datagrams.length + tool.datagrams.length).toBe(0);
    expect(existsSync(home.home)).toBe(false);
  });

  it('`beacon enable` does not override it, and says so', async () => {
    const en = await runNode([CLI, 'enable'], { env: env() });
    expect(en.code).toBe(0);
    expect(en.stdout).toContain('turns tracking off for all users');
    const r = await runNode([APP, 'exit3'], { env: env({ BEACON_COLLECTOR: tool.collector }) });
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('fixture ran: exit3 enabled=false\n');
    await settle(300);
    expect(tool.datagrams).toHaveLength(0);
  });

  it('register and `beacon run` honour it too', async () => {
    const reg = await runNode(['--import', 'usage-beacon/register', PLAIN], {
      env: env({ BEACON_COLLECTOR: tool.collector, BEACON_PROJECT: 'p' }),
    });
    expect(reg.code).toBe(0);
    expect(reg.stdout).toBe('plain ran\n');
    expect(reg.stderr).toBe('');
    const run = await runNode([CLI, 'run', '--collector', tool.collector, '--', process.execPath, '-e', 'process.exit(7)'], { env: env() });
    expect(run.code).toBe(7);
    expect(run.stderr).toBe('');
    await settle(300);
    expect(tool.datagrams).toHaveLength(0);
    expect(existsSync(join(home.home, 'state.json'))).toBe(false);
  });

  it('"off" holds even when the rest of the file has a mistake', async () => {
    writeFileSync(policy, '{"tracking": " OFF ", "collector": "not a collector", "colour": 1}');
    const r = await runNode([TOOL], { env: env() });
    expect(r.stdout).toContain('enabled=false');
    expect(r.stderr).toBe('');
  });

  it('`beacon preview` shows which policy applied and from which file', async () => {
    const r = await runNode([CLI, 'preview'], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`tracking:    off — turned off for all users by the site policy (${policy})`);
    expect(r.stdout).toContain(`site policy: ${policy}: tracking off for all users`);
  });
});

describe('site policy "collector": every tool sends to the site instead of its default', () => {
  beforeEach(() =>
    writeFileSync(
      policy,
      JSON.stringify({ collector: site.collector, notice: 'Sent to the HPC centre relay.\nQuestions: hpc@example.org\u001b[31m' }),
    ),
  );

  it('library: start and end go to the site collector, none to the tool default; the notice carries the site words', async () => {
    const r = await runNode([TOOL], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('enabled=true');
    await site.waitFor(4);
    await settle(200);
    expect(tool.datagrams).toHaveLength(0);
    expect(
      site
        .messages()
        .map((m) => m.kind)
        .sort(),
    ).toEqual(['end', 'end', 'start', 'start']);
    expect(r.stderr).toContain(`Datagrams go to ${site.collector}.`);
    expect(r.stderr).toContain(
      `From your site's administrators (${policy}):\n  Sent to the HPC centre relay.\n  Questions: hpc@example.org\n`,
    );
    expect(r.stderr).not.toContain('\u001b');
    // The notice is shown once.
    const again = await runNode([TOOL], { env: env() });
    expect(again.stderr).toBe('');
  });

  it('`beacon run` goes to the site collector; an explicit --collector or $BEACON_COLLECTOR of the user still wins', async () => {
    const r = await runNode([CLI, 'run', '--', process.execPath, '-e', ''], { env: env() });
    expect(r.code).toBe(0);
    await site.waitFor(4);
    const mine = await runNode([CLI, 'run', '--collector', tool.collector, '--', process.execPath, '-e', ''], { env: env() });
    expect(mine.code).toBe(0);
    await tool.waitFor(4);
    const viaEnv = await runNode([TOOL], { env: env({ BEACON_COLLECTOR: tool.collector }) });
    expect(viaEnv.code).toBe(0);
    await tool.waitFor(8);
    await settle(200);
    expect(site.datagrams).toHaveLength(4);
  });

  it("a user's own opt-out still wins: nothing sent, nothing written", async () => {
    const r = await runNode([TOOL], { env: env({ DO_NOT_TRACK: '1' }) });
    expect(r.stdout).toContain('enabled=false reason=DO_NOT_TRACK=1');
    const d = await runNode([CLI, 'disable'], { env: env() });
    expect(d.code).toBe(0);
    const r2 = await runNode([TOOL], { env: env() });
    expect(r2.stdout).toContain('enabled=false reason=disabled by `beacon disable`');
    await settle(300);
    expect(site.datagrams.length + tool.datagrams.length).toBe(0);
  });

  it('`beacon preview` names the file and the collector it supplies', async () => {
    const r = await runNode([CLI, 'preview'], { env: env() });
    expect(r.stdout).toContain(`site policy: ${policy}: tracking allowed, collector ${site.collector}, a notice for users`);
    expect(r.stdout).toContain(`collector:   ${site.collector} (from the site policy ${policy})`);
  });
});

describe('a malformed site policy is ignored, reported once per user, and never breaks the host', () => {
  const bad = [
    '{"tracking": "of"',
    '["off"]',
    '{"tracking": "maybe"}',
    '{"collector": "a b:99"}',
    '{"notice": 5}',
    '{"colector": "x:1"}',
    '',
  ];
  for (const text of bad) {
    it(JSON.stringify(text), async () => {
      writeFileSync(policy, text);
      const first = await runNode([APP, 'exit3'], { env: env({ BEACON_COLLECTOR: tool.collector }) });
      expect(first.code).toBe(3);
      expect(first.stdout).toBe('fixture ran: exit3 enabled=true\n');
      const warn = first.stderr.split('\n').filter((l) => l.startsWith('usage-beacon: ignoring the site policy'));
      expect(warn).toHaveLength(1);
      expect(warn[0]).toContain(policy);
      const second = await runNode([APP, 'exit3'], { env: env({ BEACON_COLLECTOR: tool.collector }) });
      expect(second.code).toBe(3);
      expect(second.stderr).toBe('');
      await tool.waitFor(8);
      const pv = await runNode([CLI, 'preview'], { env: env() });
      expect(pv.stdout).toContain(`site policy: IGNORED: ${policy} is malformed`);
    });
  }

  it('edited and broken again: reported again, once', async () => {
    writeFileSync(policy, '{');
    expect((await runNode([APP, 'normal'], { env: env({ BEACON_COLLECTOR: tool.collector }) })).stderr).toContain(
      'ignoring the site policy',
    );
    writeFileSync(policy, '{"tracking": 1, "more": "bytes"}');
    expect((await runNode([APP, 'normal'], { env: env({ BEACON_COLLECTOR: tool.collector }) })).stderr).toContain('"tracking" must be');
    expect((await runNode([APP, 'normal'], { env: env({ BEACON_COLLECTOR: tool.collector }) })).stderr).not.toContain('ignoring');
  });

  it('a state directory that cannot be written: never a line (once cannot be remembered), the run still counts', async () => {
    writeFileSync(policy, '{');
    writeFileSync(join(home.dir, 'a-file'), '');
    const e = env({ BEACON_COLLECTOR: tool.collector, BEACON_HOME: join(home.dir, 'a-file/beacon') });
    for (let i = 0; i < 2; i++) {
      const r = await runNode([APP, 'normal'], { env: e });
      expect(r.code).toBe(0);
      expect(r.stderr).not.toContain('ignoring the site policy');
    }
    await tool.waitFor(8);
    expect(tool.messages().every((m) => m.eph === true)).toBe(true);
  });

  it('a directory or an unreadable path in its place is ignored the same way', async () => {
    mkdirSync(policy);
    const r = await runNode([APP, 'normal'], { env: env({ BEACON_COLLECTOR: tool.collector }) });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('cannot read it (EISDIR)');
    expect(readdirSync(home.home).filter((f) => f.startsWith('site-policy-warned-'))).toHaveLength(1);
  });
});

describe('no policy file (the common case)', () => {
  it('the default path is used when BEACON_SITE_CONFIG is unset, and a missing file changes nothing', async () => {
    const r = await runNode([CLI, 'preview'], { env: cleanEnv({ BEACON_HOME: home.home }) });
    expect(r.stdout).toMatch(/site policy: (none \(\/etc\/usage-beacon\/site\.json does not exist\)|\/etc\/usage-beacon\/site\.json)/);
    const t = await runNode([TOOL], { env: env() });
    expect(t.stdout).toContain('enabled=true');
    await tool.waitFor(4);
  });
});
