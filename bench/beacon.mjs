// npm run bench:beacon — what the beacon costs its host, against the floor any UDP emitter pays.
//
// Three scripts, the same trivial program each, run in turn as whole processes, many rounds:
//   beacon   imports usage-beacon and calls startBeacon() (collector: a listening port on 127.0.0.1)
//   bare     a bare node:dgram emitter: socket, connect to an IP literal, one datagram at start and
//            one in process.on('exit') — the least any UDP telemetry can do in Node
//   neither  no telemetry at all
// The order rotates every round, so drift in the machine's load falls on all three alike. Each
// round gives the time each emitter added (its run minus that round's `neither`); the figure is
//   ratio = median(beacon added) / median(bare added)          (target: at most 1.25)
// Wall times are whole-process (spawn to exit), so absolute figures depend on the machine; the ratio
// is what carries over. Printed as one JSON object.
//
// Also printed: cpuRatio, the same ratio of CPU time (user + system) added, from the children's
// rusage; wall time is what the issue asks for, CPU time is what survives a loaded machine.
// Options (env): BENCH_ROUNDS (default 150), BENCH_VARIANTS=1 adds diagnostic scripts (the beacon
// imported but not started; started but opted out; a user's first run, without the compile cache)
// to see where the time goes; BENCH_BASELINE=<dist dir> times another build alongside (see there);
// BENCH_STATE_VIA_HOME=1 has the beacon find its state directory through $HOME, as most users' runs
// do, instead of $BEACON_HOME. bench/beacon-instructions.mjs (npm run bench:beacon-instr) counts the
// instructions of the same scripts under callgrind instead.
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchEnv, buildBeaconScripts } from './lib/beacon-scripts.mjs';

const ROUNDS = Math.max(20, Number(process.env.BENCH_ROUNDS ?? 150));
const VARIANTS = process.env.BENCH_VARIANTS === '1';
const TARGET = 1.25;

const loadAtStart = loadavg().map((x) => Math.round(x * 100) / 100);
const work = mkdtempSync(join(tmpdir(), 'beacon-bench-'));
// The scripts (bench/lib/beacon-scripts.mjs, shared with bench/beacon-instructions.mjs). With
// BENCH_BASELINE=<dist dir>, another build of the beacon (e.g. of an earlier commit) is timed as
// `baseline` in the same rotation: a before/after the machine's load cannot skew.
const { scripts } = buildBeaconScripts(work, { variants: VARIANTS, baseline: process.env.BENCH_BASELINE });
let freshHomes = 0;
const envFor = (name) => (name === 'firstRun' ? { ...env, BEACON_HOME: join(work, `first-home-${freshHomes++}`) } : env);
const names = Object.keys(scripts);

const sock = createSocket('udp4');
let received = 0;
sock.on('message', () => received++);
await new Promise((r) => sock.bind(0, '127.0.0.1', r));
sock.setRecvBufferSize(4 * 1024 * 1024);
const port = sock.address().port;
const env = benchEnv(work, port);

// CPU time of the children (user + system), from this process's own /proc/self/stat (cutime +
// cstime, in clock ticks of 10 ms): the runs are sequential, so the difference around one spawn is
// that child's CPU. One run's figure is coarse; the mean over many rounds is not, and unlike wall
// time it does not stretch when other work on the machine takes the cores away.
const TICK_MS = 10;
const childCpuTicks = () => {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    return Number(fields[13]) + Number(fields[14]);
  } catch {
    return NaN; // not Linux: the CPU figures are left out
  }
};
const cpuTicks = {};

function timeOne(script, name) {
  const c0 = childCpuTicks();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [script], { env: envFor(name), stdio: 'ignore' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${script} exited ${r.status}`);
  if (!name.endsWith('-warm-up')) cpuTicks[name] = (cpuTicks[name] ?? 0) + childCpuTicks() - c0;
  return ms;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x, d = 2) => Number(x.toFixed(d));

// The first beacon run creates the state file, shows the notice and writes the compile cache
// (src/beacon/code-cache.ts): once-per-user costs, not measured (BENCH_VARIANTS=1 prints the first run's).
for (const name of names) timeOne(scripts[name], `${name}-warm-up`);
const times = Object.fromEntries(names.map((n) => [n, []]));
const added = Object.fromEntries(names.filter((n) => n !== 'neither').map((n) => [n, []]));
for (let i = 0; i < ROUNDS; i++) {
  const order = names.map((_, k) => names[(k + i) % names.length]);
  const t = {};
  for (const name of order) t[name] = timeOne(scripts[name], name);
  for (const name of names) times[name].push(t[name]);
  for (const name of Object.keys(added)) added[name].push(t[name] - t.neither);
}
await new Promise((r) => setTimeout(r, 200)); // datagrams still in the socket buffer
sock.close();

const ratioOf = (from, to) => median(added.beacon.slice(from, to)) / median(added.bare.slice(from, to));
const half = ROUNDS >> 1;
const result = {
  bench: 'beacon',
  node: process.version,
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  loadAverageAtStart: loadAtStart,
  loadAverageAtEnd: loadavg().map((x) => round(x)),
  rounds: ROUNDS,
  medianWallMs: Object.fromEntries(names.map((n) => [n, round(median(times[n]))])),
  medianAddedMs: Object.fromEntries(Object.keys(added).map((n) => [n, round(median(added[n]))])),
  ratio: round(ratioOf(0, ROUNDS), 3),
  ratioFirstHalf: round(ratioOf(0, half), 3),
  ratioSecondHalf: round(ratioOf(half, ROUNDS), 3),
  // Mean CPU time (user + system) per run and what each emitter added to it: the same question asked
  // of CPU instead of wall time, far less sensitive to the machine's load (Linux only).
  meanCpuMs: Object.fromEntries(names.map((n) => [n, round((cpuTicks[n] * TICK_MS) / ROUNDS)])),
  cpuRatio: round((cpuTicks.beacon - cpuTicks.neither) / (cpuTicks.bare - cpuTicks.neither), 3),
  ...(scripts.baseline
    ? {
        baselineRatio: round(median(added.baseline) / median(added.bare), 3),
        baselineCpuRatio: round((cpuTicks.baseline - cpuTicks.neither) / (cpuTicks.bare - cpuTicks.neither), 3),
      }
    : {}),
  ratioOfMedians: round((median(times.beacon) - median(times.neither)) / (median(times.bare) - median(times.neither)), 3),
  // Every beacon run sends a start and an end, 2 copies each; the bare emitter one of each.
  datagrams: { received, expected: (ROUNDS + 1) * (4 + 2 + (VARIANTS ? 4 : 0) + (scripts.baseline ? 4 : 0)) },
  target: TARGET,
};
result.withinTarget = result.ratio <= TARGET;
rmSync(work, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
