import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ROOT, cleanEnv, runNode, type Listener, type TempHome, perTestListenerAndHome } from './helpers.js';

// The shipped entry points are single-file bundles made by scripts/bundle-beacon.mjs. dist/ may
// hold either the bundle or plain tsc output (when built without the bundling step); both must work,
// so this test makes its own bundle from tsc output when it can, and checks whichever it gets.
let listener: Listener;
let home: TempHome;
perTestListenerAndHome((l, h) => {
  listener = l;
  home = h;
});

const HEADER = '// Bundled by scripts/bundle-beacon.mjs';

function bundleDir(): string {
  const entry = join(ROOT, 'dist/beacon/index.js');
  if (readFileSync(entry, 'utf8').startsWith(HEADER)) return join(ROOT, 'dist');
  const out = join(home.dir, 'bundle');
  execFileSync(process.execPath, [join(ROOT, 'scripts/bundle-beacon.mjs'), '--out', out]);
  return out;
}

describe('single-file bundles', () => {
  it('index.js and register.js are self-contained (only node: imports) and behave like the modules', async () => {
    const dir = bundleDir();
    for (const name of ['index.js', 'register.js']) {
      const text = readFileSync(join(dir, 'beacon', name), 'utf8');
      expect(text.startsWith(HEADER)).toBe(true);
      // Builtins come through process.getBuiltinModule (src/beacon/builtins.ts); any static or
      // dynamic import left in the bundle must be a node: builtin too.
      const statics = [...text.matchAll(/^import .* from ["']([^"']+)["'];$/gm)].map((m) => m[1]!);
      const dynamics = [...text.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]!);
      const builtins = [...text.matchAll(/getBuiltinModule\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]!);
      expect(builtins.length).toBeGreaterThan(0);
      for (const s of [...statics, ...dynamics, ...builtins]) expect(s.startsWith('node:')).toBe(true);
      expect(text).not.toMatch(/from ["']\.\.?\//);
      expect(text).not.toMatch(/\brequire\(/);
      // node:net and node:crypto cost 3-7 ms each to load: neither may be on the emitter's path.
      expect(text).not.toMatch(/["']node:(net|crypto)["']/);
    }
    const script = join(home.dir, 'uses-bundle.mjs');
    writeFileSync(
      script,
      `import { startBeacon, DEFAULT_OPT_OUT_ENV } from ${JSON.stringify(pathToFileURL(join(dir, 'beacon/index.js')).href)};\n` +
        `const b = startBeacon({ project: 'bundled', version: '2.0.0' });\n` +
        `console.log(DEFAULT_OPT_OUT_ENV, b.enabled, typeof b.end);\nprocess.exit(3);\n`,
    );
    const env = cleanEnv({ BEACON_HOME: home.home, BEACON_COLLECTOR: listener.collector });
    const r = await runNode([script], { env });
    expect(r.stdout).toBe('PARSL_TRACKING true function\n');
    expect(r.code).toBe(3);
    await listener.waitFor(4);
    const end = listener.messages().find((m) => m.kind === 'end')!;
    expect(end).toMatchObject({ project: 'bundled', version: '2.0.0', exit: 3 });

    const reg = await runNode(['--import', pathToFileURL(join(dir, 'beacon/register.js')).href, '-e', 'process.exitCode = 4'], {
      env: { ...env, BEACON_PROJECT: 'bundled-register' },
    });
    expect(reg.code).toBe(4);
    await listener.waitFor(8);
    expect(
      listener
        .messages()
        .slice(4)
        .find((m) => m.kind === 'end'),
    ).toMatchObject({ project: 'bundled-register', exit: 4 });
    expect(existsSync(join(home.home, 'state.json'))).toBe(true);

    // usage-beacon/direct: one plain module, for programs that bundle their dependencies.
    const direct = join(home.dir, 'uses-direct.mjs');
    writeFileSync(
      direct,
      `import { startBeacon } from ${JSON.stringify(pathToFileURL(join(dir, 'beacon/direct.js')).href)};\n` +
        `console.log(startBeacon({ project: 'direct' }).enabled);\n`,
    );
    expect((await runNode([direct], { env })).stdout).toBe('true\n');
    await listener.waitFor(12);
  });
});

describe('the compile cache (src/beacon/code-cache.ts)', () => {
  it('is written once by the first tracked run (0600), used as is by the next, replaced when damaged, never written when opted out', async () => {
    const dir = bundleDir();
    const script = join(home.dir, 'cached.mjs');
    writeFileSync(
      script,
      `import { startBeacon } from ${JSON.stringify(pathToFileURL(join(dir, 'beacon/index.js')).href)};\n` +
        `const b = startBeacon({ project: 'cached', version: '1.0.0' });\nconsole.log(b.enabled, b.reason);\n`,
    );
    const env = cleanEnv({ BEACON_HOME: home.home, BEACON_COLLECTOR: listener.collector });
    const cacheDir = join(home.home, 'compile-cache');

    const off = await runNode([script], { env: { ...env, PARSL_TRACKING: 'false' } });
    expect(off.stdout).toBe('false PARSL_TRACKING=false in the environment\n');
    expect(existsSync(home.home)).toBe(false);

    const first = await runNode([script], { env });
    expect(first.code).toBe(0);
    expect(first.stdout).toBe('true default (no opt-out set)\n');
    const [name, ...others] = readdirSync(cacheDir);
    expect(others).toEqual([]);
    const cache = join(cacheDir, name!);
    expect(statSync(cache).mode & 0o777).toBe(0o600);
    const written = readFileSync(cache);
    expect(written.length).toBeGreaterThan(1000);

    const second = await runNode([script], { env });
    expect(second.stdout).toBe(first.stdout);
    expect(readFileSync(cache).equals(written)).toBe(true); // accepted by V8, so not rewritten

    writeFileSync(cache, Buffer.alloc(written.length, 7)); // same size, garbage: V8 rejects it
    const damaged = await runNode([script], { env });
    expect(damaged.code).toBe(0);
    expect(damaged.stdout).toBe(first.stdout);
    expect(damaged.stderr).toBe('');
    expect(readFileSync(cache).equals(Buffer.alloc(written.length, 7))).toBe(false); // replaced at exit
    await listener.waitFor(4 * 3);
    const ends = listener.messages().filter((m) => m.kind === 'end' && m.exit === 0);
    expect(new Set(ends.map((m) => m.run)).size).toBe(3); // each run's end (sent twice: copies)
  });

  it("holds the core's text: a run with it reads no shipped file; a cut one means the shipped core and a new file", async () => {
    // A private copy of the bundle, so its core.js can be taken away.
    const dir = join(home.dir, 'pkg');
    mkdirSync(dir);
    for (const name of ['index.js', 'core.js']) copyFileSync(join(bundleDir(), 'beacon', name), join(dir, name));
    const script = join(home.dir, 'cached.mjs');
    writeFileSync(
      script,
      `import { startBeacon } from ${JSON.stringify(pathToFileURL(join(dir, 'index.js')).href)};\n` +
        `const b = startBeacon({ project: 'cached', version: '1.0.0' });\nconsole.log(b.enabled, b.reason);\n`,
    );
    const env = cleanEnv({ BEACON_HOME: home.home, BEACON_COLLECTOR: listener.collector });
    const expected = 'true default (no opt-out set)\n';
    expect((await runNode([script], { env })).stdout).toBe(expected);
    const cacheDir = join(home.home, 'compile-cache');
    const [name] = readdirSync(cacheDir);
    const cache = join(cacheDir, name!);
    const written = readFileSync(cache);
    const text = readFileSync(join(dir, 'core.js'));
    expect(written.subarray(0, text.length).equals(text)).toBe(true);

    rmSync(join(dir, 'core.js'));
    const without = await runNode([script], { env });
    expect([without.code, without.stdout, without.stderr]).toEqual([0, expected, '']);
    expect(readFileSync(cache).equals(written)).toBe(true);
    copyFileSync(join(bundleDir(), 'beacon/core.js'), join(dir, 'core.js'));

    // Cut short (the text incomplete): still tracked, from the shipped core, and the file rewritten.
    // (Like V8's data, the text is not checksummed: the file is only ever replaced whole, atomically.)
    writeFileSync(cache, written.subarray(0, text.length - 100));
    const cut = await runNode([script], { env });
    expect([cut.code, cut.stdout, cut.stderr]).toEqual([0, expected, '']);
    const rewritten = readFileSync(cache);
    expect(rewritten.subarray(0, text.length).equals(text)).toBe(true);
    expect(rewritten.length).toBeGreaterThan(text.length + 1000);
    await listener.waitFor(4 * 3);
    expect(new Set(listener.messages().map((m) => m.run)).size).toBe(3);
  });
});
