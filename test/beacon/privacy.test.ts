import { mkdirSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { loadProtocolSchema } from '../../src/protocol/schema.js';
import { MAX_DATAGRAM_BYTES } from '../../src/protocol/index.js';
import { APP, CLI, ROOT, cleanEnv, runNode, type Listener, type TempHome, perTestListenerAndHome } from './helpers.js';

let listener: Listener;
let home: TempHome;
perTestListenerAndHome((l, h) => {
  listener = l;
  home = h;
});

const validate = new Ajv({ strict: false }).compile(loadProtocolSchema());

function env(extra: Record<string, string> = {}) {
  return cleanEnv({ BEACON_HOME: home.home, HOME: home.dir, BEACON_COLLECTOR: listener.collector, ...extra });
}

describe('what leaves the machine', () => {
  it('no username, hostname, script path or home dir in any byte; all datagrams schema-valid and small', async () => {
    // A script under a path that contains the user and host names makes leaks easy to spot.
    const dir = join(home.dir, `${userInfo().username}-${hostname()}`);
    mkdirSync(dir);
    const script = join(dir, 'secret-analysis.mjs');
    // Outside the package, so import the built entry by URL (self-reference works only inside).
    writeFileSync(
      script,
      `import { startBeacon } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist/beacon/index.js')).href)};\n` +
        `startBeacon({ project: 'fixture', components: JSON.parse(process.env.FIXTURE_COMPONENTS) });\n` +
        `process.exitCode = 3;\n`,
    );
    const components: Record<string, string | number> = {};
    for (let i = 0; i < 16; i++) components[`component_key_${String(i).padStart(2, '0')}_${'x'.repeat(14)}`] = 'v'.repeat(64);
    const r = await runNode([script], { env: env({ FIXTURE_COMPONENTS: JSON.stringify(components) }), cwd: dir });
    expect(r.code).toBe(3);
    await listener.waitFor(4);
    const needles = [userInfo().username, hostname(), home.dir, dir, script, APP, 'secret-analysis'];
    for (const d of listener.datagrams) {
      const text = d.toString('utf8');
      for (const n of needles) expect(text.includes(n), `datagram contains ${n}`).toBe(false);
      expect(d.length).toBeLessThanOrEqual(MAX_DATAGRAM_BYTES);
      const msg = JSON.parse(text);
      expect(validate(msg), JSON.stringify(validate.errors)).toBe(true);
      expect(Object.keys(msg.components ?? {}).length).toBeGreaterThan(0);
    }
  });

  it('IDs are stable across runs and differ across scripts; the state file is 0600', async () => {
    const { statSync } = await import('node:fs');
    await runNode([APP, 'normal'], { env: env() });
    await listener.waitFor(4);
    await runNode([APP, 'exit3'], { env: env() });
    await listener.waitFor(8);
    // The same fixture through a symlink is the same script (real path).
    const link = join(home.dir, 'link-to-app.mjs');
    const { symlinkSync } = await import('node:fs');
    symlinkSync(APP, link);
    await runNode([link, 'normal'], { env: env() });
    await listener.waitFor(12);
    await runNode([join(import.meta.dirname, '../fixtures/beacon/app-other.mjs')], { env: env() });
    await listener.waitFor(16);
    const msgs = listener.messages();
    const runs = [0, 4, 8, 12].map((i) => msgs[i]!);
    expect(new Set(runs.map((m) => m.run)).size).toBe(4);
    expect(new Set(runs.map((m) => m.user)).size).toBe(1);
    expect(new Set(runs.map((m) => m.host)).size).toBe(1);
    expect(runs[0]!.script).toBe(runs[1]!.script);
    expect(runs[0]!.script).toBe(runs[2]!.script);
    expect(runs[3]!.script).not.toBe(runs[0]!.script);
    for (const m of msgs) expect(m.eph).toBeUndefined();
    expect(statSync(join(home.home, 'state.json')).mode & 0o777).toBe(0o600);
    expect(statSync(home.home).mode & 0o777).toBe(0o700);
  });

  it('IDs are per project: two tools on one account (one secret) cannot link a person across their collectors', async () => {
    const script = join(home.dir, 'job.sh');
    writeFileSync(script, 'exit 0\n');
    for (const project of ['toolA', 'toolB', 'toolA']) {
      const r = await runNode([CLI, 'run', '--project', project, '--', 'sh', script], { env: env() });
      expect(r.code).toBe(0);
    }
    await listener.waitFor(12);
    const starts = listener.messages().filter((m) => m.kind === 'start');
    const [a, b, a2] = [starts[0]!, starts[2]!, starts[4]!];
    expect([a.project, b.project, a2.project]).toEqual(['toolA', 'toolB', 'toolA']);
    // The same tool sees the same person, host and script every time…
    expect([a2.user, a2.host, a2.script]).toEqual([a.user, a.host, a.script]);
    // …another tool sees none of the same IDs.
    expect(b.user).not.toBe(a.user);
    expect(b.host).not.toBe(a.host);
    expect(b.script).not.toBe(a.script);
  });

  it('a read-only home: the run is still counted, flagged eph, and no file appears', async () => {
    // Below a regular file no directory can be created, whoever runs the test (root ignores modes).
    const blocked = join(APP, 'not-a-dir');
    const r = await runNode([APP, 'normal'], { env: env({ BEACON_HOME: blocked }) });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('fixture ran: normal enabled=true\n');
    await listener.waitFor(4);
    for (const m of listener.messages()) expect(m.eph).toBe(true);
  });
});
