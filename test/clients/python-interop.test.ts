import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { createRunEncoder } from '../../src/protocol/index.js';
import { loadProtocolSchema } from '../../src/protocol/schema.js';
import type { RunIdentity } from '../../src/protocol/types.js';
import { deriveIds } from '../../src/beacon/ids.js';
import { CLI, ROOT, cleanEnv, perTestListenerAndHome, runProcess, settle, type Listener, type TempHome } from '../beacon/helpers.js';

// The Python emitter (clients/python) against the Node reference: the same bytes from the same
// identity, the same IDs from the same state file, and every datagram accepted by the schema.
const PY_SRC = join(ROOT, 'clients/python/src');
const validate = new Ajv({ allErrors: true, strict: false, validateFormats: false }).compile(loadProtocolSchema());

let listener: Listener;
let home: TempHome;
perTestListenerAndHome((l, h) => {
  listener = l;
  home = h;
});

function base(over: Partial<RunIdentity> = {}): RunIdentity {
  return {
    run: '018fcf69-0433-7abc-8def-0123456789ab',
    project: 'parsl',
    version: '2025.1.6',
    user: randomBytes(16).toString('hex'),
    host: randomBytes(16).toString('hex'),
    script: randomBytes(16).toString('hex'),
    runtime: 'python/3.11.7',
    os: 'linux',
    arch: 'x64',
    ci: false,
    ...over,
  };
}

const long = (c: string, n: number) => Array.from({ length: n }, () => c).join('');

const CASES: Array<{ identity: RunIdentity; t: number; exit: number; dur_ms: number }> = [
  { identity: base(), t: 1717171717171, exit: 0, dur_ms: 0 },
  { identity: base({ ci: true, eph: true, components: { executors: 2, provider: 'slurm' } }), t: 1, exit: 143, dur_ms: 176231.5 },
  {
    identity: base({
      project: 'my tool "quoted" \\ back\tslash é 😀',
      version: long('v', 80),
      runtime: 'python/3.8.18',
      os: 'a very long os name that exceeds thirty-two characters',
      arch: 'x64',
      components: {
        b: 'second',
        '10': 'index key',
        '2': 2.0,
        a: 1.5e-7,
        big: 1e21,
        neg: -0.000001,
        yes: true as unknown as number,
        no: false as unknown as number,
        'BAD KEY': 1,
        nested: { x: 1 } as unknown as number,
        nul: null as unknown as number,
        emoji: 'x' + long('😀', 40), // 81 UTF-16 units: the cut at 64 splits a surrogate pair
        ctrl: 'line\nbreak\u0001\u007f\u2028',
        lone: 'x\ud800y',
        'k.k-k_9': 0,
      },
    }),
    t: 1795460307268,
    exit: 300,
    dur_ms: 2.5,
  },
  {
    // 20 entries of 64 characters: over 16 and over 1200 bytes, so both caps apply, the same way
    identity: base({
      components: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`key_${String(i).padStart(26, '0')}`, long('é', 64)])),
    }),
    t: 1795460307268,
    exit: 1,
    dur_ms: 99,
  },
  { identity: base({ project: '', version: '   ', runtime: '' }), t: 0, exit: 255, dur_ms: 1e9 },
];

function pythonEncode(cases: unknown): Array<[string, string]> {
  const r = spawnSync('python3', [join(ROOT, 'clients/python/tests/encode_stdin.py')], { input: JSON.stringify(cases), encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Array<[string, string]>;
}

describe('Python emitter interop', () => {
  it('encodes byte for byte what the Node encoder does, and every datagram validates', () => {
    const py = pythonEncode(CASES);
    CASES.forEach((c, i) => {
      const enc = createRunEncoder(c.identity);
      const start = enc.start(c.t);
      const end = enc.end(c.t + 5, c.exit, c.dur_ms);
      expect(Buffer.from(py[i]![0], 'hex').toString('utf8')).toBe(start.toString('utf8'));
      expect(Buffer.from(py[i]![0], 'hex').equals(start)).toBe(true);
      expect(Buffer.from(py[i]![1], 'hex').equals(end)).toBe(true);
      for (const d of [start, end]) {
        expect(d.length).toBeLessThanOrEqual(1200);
        expect(validate(JSON.parse(d.toString('utf8'))), JSON.stringify(validate.errors)).toBe(true);
      }
    });
  });

  it('Node and Python derive the same user, host and script IDs from one state file', async () => {
    const dir = join(home.dir, 'proj');
    mkdirSync(dir, { recursive: true });
    const script = join(dir, 'analysis.py');
    writeFileSync(
      script,
      'import sys, usage_beacon\nusage_beacon.start(project="parsl", version="2025.1.6")\nprint("python ran")\nsys.exit(3)\n',
    );
    const env = cleanEnv({
      BEACON_HOME: home.home,
      BEACON_COLLECTOR: listener.collector,
      PYTHONPATH: PY_SRC,
      BEACON_SITE_CONFIG: '/nonexistent/site.json',
    });
    // `beacon run` (Node) wraps the Python tool that embeds usage_beacon: two emitters, one run each.
    const r = await runProcess(process.execPath, [CLI, 'run', '--project', 'parsl', '--', 'python3', script], { env, cwd: dir });
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('python ran\n');
    await listener.waitFor(8);
    await settle(100);
    const msgs = listener.messages();
    expect(msgs).toHaveLength(8);
    const node = msgs.filter((m) => m.runtime === 'python3'); // beacon run reports the interpreter's name
    const python = msgs.filter((m) => String(m.runtime).startsWith('python/'));
    expect(node).toHaveLength(4);
    expect(python).toHaveLength(4);
    for (const m of msgs) expect(validate(m), JSON.stringify(validate.errors)).toBe(true);
    for (const k of ['user', 'host', 'script'] as const) expect(python[0]![k]).toBe(node[0]![k]);
    expect(node.find((m) => m.kind === 'end')!.exit).toBe(3);
    expect(python.find((m) => m.kind === 'end')!.exit).toBe(3);
    expect(python[0]!.run).not.toBe(node[0]!.run);
    // and both equal the Node library's own derivation from the state file's secret
    const secret = (JSON.parse(readFileSync(join(home.home, 'state.json'), 'utf8')) as { secret: string }).secret;
    const ids = deriveIds(secret, 'parsl', realpathSync(script));
    expect({ user: python[0]!.user, host: python[0]!.host, script: python[0]!.script }).toEqual(ids);
  });

  it('without a machine ID (hostname fallback) the host IDs still agree', async () => {
    const dir = join(home.dir, 'proj2');
    mkdirSync(dir, { recursive: true });
    const script = join(dir, 'tool.py');
    writeFileSync(script, 'import usage_beacon\nusage_beacon.start(project="parsl")\n');
    const env = cleanEnv({
      BEACON_HOME: home.home,
      BEACON_COLLECTOR: listener.collector,
      PYTHONPATH: PY_SRC,
      BEACON_SITE_CONFIG: '/nonexistent/site.json',
    });
    // A private mount namespace where /etc/machine-id reads empty, for both emitters at once.
    const sh =
      'mount --bind /dev/null /etc/machine-id; [ -e /var/lib/dbus/machine-id ] && mount --bind /dev/null /var/lib/dbus/machine-id; exec "$@"';
    const r = await runProcess(
      'unshare',
      ['-m', 'sh', '-c', sh, 'sh', process.execPath, CLI, 'run', '--project', 'parsl', '--', 'python3', script],
      { env, cwd: dir },
    );
    expect(r.code, r.stderr).toBe(0);
    await listener.waitFor(8);
    const msgs = listener.messages();
    expect(new Set(msgs.map((m) => m.host)).size).toBe(1);
    expect(new Set(msgs.map((m) => m.runtime)).size).toBe(2);
    const withMachineId = deriveIds(randomBytes(32).toString('hex'), 'parsl', script).host;
    expect(msgs[0]!.host).not.toBe(withMachineId); // really the fallback, not the machine-id path
  });

  it('a state file written by Python is read by Node, and the reverse (no second secret, notice once)', async () => {
    const env = cleanEnv({
      BEACON_HOME: home.home,
      BEACON_COLLECTOR: listener.collector,
      PYTHONPATH: PY_SRC,
      BEACON_SITE_CONFIG: '/nonexistent/site.json',
    });
    const py = spawnSync('python3', ['-c', 'import usage_beacon; usage_beacon.start(project="tool-a")'], { env, encoding: 'utf8' });
    expect(py.stderr).toContain('tool-a collects anonymous usage statistics');
    const first = JSON.parse(readFileSync(join(home.home, 'state.json'), 'utf8')) as { secret: string; noticed: Record<string, string> };
    const node = await runProcess(process.execPath, [CLI, 'run', '--project', 'tool-a', '--', 'true'], { env });
    expect(node.stderr).toBe(''); // Node sees the notice Python recorded
    const after = JSON.parse(readFileSync(join(home.home, 'state.json'), 'utf8')) as { secret: string };
    expect(after.secret).toBe(first.secret);
    await listener.waitFor(8);
    expect(new Set(listener.messages().map((m) => m.user)).size).toBe(1);
  });
});
