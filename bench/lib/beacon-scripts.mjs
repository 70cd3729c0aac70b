// The scripts bench/beacon.mjs (wall time) and bench/beacon-instructions.mjs (callgrind instruction
// counts) run: the same trivial program each, with the beacon, with a bare node:dgram emitter, with
// neither, plus the optional diagnostic variants and a baseline build. Built in one place so the two
// benchmarks always measure the same three scripts.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIST_ENTRY = join(ROOT, 'dist/beacon/index.js');
/** The files of the shipped beacon an entry point needs next to it (src/beacon/entry.ts). */
const BEACON_FILES = ['index.js', 'core.js', 'core-rare.js'];

/** The "program": the same in every script. */
export const HOST = `process.stdout.write('');\n`;

/**
 * Writes the scripts into `work` and returns { scripts: name → path }. Options: `variants` adds the
 * diagnostic scripts (importOnly, optedOut, firstRun); `baseline` (a dist/ directory) adds
 * `baseline`, the beacon of another build.
 */
export function buildBeaconScripts(work, { variants = false, baseline } = {}) {
  const file = (name, text) => {
    const p = join(work, name);
    writeFileSync(p, text);
    return p;
  };
  // Measure the shipped bundle (npm run build makes it), from a private copy: other work rebuilding
  // dist/ during the run cannot swap it out from under the measurement.
  if (!readFileSync(DIST_ENTRY, 'utf8').startsWith('// Bundled by scripts/bundle-beacon.mjs')) {
    execFileSync(process.execPath, [join(ROOT, 'scripts/bundle-beacon.mjs'), '--out', join(work, 'bundle')], { stdio: 'ignore' });
  }
  const bundleDir = existsSync(join(work, 'bundle/beacon/index.js')) ? join(work, 'bundle/beacon') : dirname(DIST_ENTRY);
  const entry = copyBeacon(bundleDir, join(work, 'current'));

  const scripts = {
    beacon: file('beacon.mjs', startScript(entry)),
    bare: file(
      'bare.mjs',
      // A datagram the size of the beacon's (~310 bytes), built the cheapest way.
      `import dgram from 'node:dgram';\n` +
        `const datagram = (kind) => Buffer.from(\`{"v":1,"kind":"\${kind}","t":\${Date.now()},"pad":"${'x'.repeat(260)}"}\`);\n` +
        `const socket = dgram.createSocket('udp4');\n` +
        `socket.on('error', () => {});\n` +
        `socket.connect(Number(process.env.BARE_PORT), '127.0.0.1', () => socket.send(datagram('start')));\n` +
        `socket.unref();\n` +
        `process.on('exit', () => socket.send(datagram('end')));\n${HOST}`,
    ),
    neither: file('neither.mjs', HOST),
  };
  if (variants) {
    scripts.importOnly = file('import-only.mjs', `import { startBeacon } from ${JSON.stringify(entry)};\nvoid startBeacon;\n${HOST}`);
    scripts.optedOut = file(
      'opted-out.mjs',
      `import { startBeacon } from ${JSON.stringify(entry)};\nstartBeacon({ project: 'bench', optOutEnv: 'BENCH_OFF' });\n${HOST}`,
    );
    // The beacon script run as a user's very first run: run it with a fresh state directory
    // (envFor below), so it creates the state file, prints the notice and writes the compile cache.
    scripts.firstRun = file('first-run.mjs', startScript(entry));
  }
  // A dist/ directory, e.g. of an earlier commit: its beacon as `baseline`, for a before/after
  // measured in the same run.
  if (baseline) scripts.baseline = file('baseline.mjs', startScript(copyBeacon(join(resolve(baseline), 'beacon'), join(work, 'baseline'))));
  return { scripts };
}

const startScript = (entry) =>
  `import { startBeacon } from ${JSON.stringify(entry)};\nstartBeacon({ project: 'bench', version: '1.0.0' });\n${HOST}`;

/** Copies a build's beacon files into `to`, the entry renamed usage-beacon.mjs; returns the entry's URL. */
function copyBeacon(from, to) {
  mkdirSync(to, { recursive: true });
  for (const name of BEACON_FILES) if (existsSync(join(from, name))) copyFileSync(join(from, name), join(to, name));
  renameSync(join(to, 'index.js'), join(to, 'usage-beacon.mjs'));
  return pathToFileURL(join(to, 'usage-beacon.mjs')).href;
}

/**
 * The children's environment: nothing of the caller's but PATH, the state directory in `work`, the
 * collector (a port on 127.0.0.1 the caller listens on) for both emitters, and BENCH_OFF for the
 * opted-out variant. The state directory is $BEACON_HOME; with BENCH_STATE_VIA_HOME=1 it is found as
 * most users' is, $HOME/.config/usage-beacon (HOME set to a directory in `work`, for all scripts).
 */
export function benchEnv(work, port) {
  return {
    PATH: process.env.PATH,
    ...(process.env.BENCH_STATE_VIA_HOME ? { HOME: join(work, 'user') } : { BEACON_HOME: join(work, 'home') }),
    BEACON_COLLECTOR: `127.0.0.1:${port}`,
    BARE_PORT: String(port),
    BENCH_OFF: 'off',
  };
}
