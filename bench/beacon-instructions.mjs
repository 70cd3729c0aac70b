// npm run bench:beacon-instr — what the beacon costs its host in CPU instructions, against the floor
// any UDP emitter pays: bench:beacon's question asked of a deterministic measure.
//
// The same three scripts as bench/beacon.mjs (bench/lib/beacon-scripts.mjs: the beacon; a bare
// node:dgram emitter; neither), each run once as a whole process under
//   valgrind --tool=callgrind node --random-seed=1 <script>
// and the instructions it executed counted (all threads, start-up to exit). Printed as one JSON
// object: the instructions of each script, what the beacon and the bare emitter added over
// `neither`, and
//   ratio = beacon added / bare added                     (the wall-time target is at most 1.25)
// Instruction counts do not depend on the machine's load, so a change of a few hundred thousand
// instructions (~0.1 ms) is visible in one run, which wall time on a shared machine cannot show.
// They are not time: a page fault, a system call or a cache miss costs far more than an
// instruction, so the wall-time ratio of bench:beacon (on a calm machine) stays the figure the issue
// asks for; this one says where a change moves it.
//
// --random-seed=1 makes V8's hash seed fixed: with a random one, `node` alone varies by ~3 M
// instructions from run to run (hash-table collisions), with it by a few thousand. As in
// bench:beacon, one plain run of each script first creates the beacon's state file and compile
// cache (with the same node flags: V8 rejects a cache made under other flags), so the measured run
// is a user's usual run; `cacheRewritten: true` in the output says the measured run did not use the
// cache after all (then the figure is not the usual run's). The collector counts the datagrams: a
// build whose beacon sends nothing would measure as cheap, so fewer than expected exits with 1.
//
// Options (env): BENCH_BASELINE=<dist dir> adds `baseline`, the beacon of another build (e.g. of the
// previous commit), for a before/after in one run; BENCH_VARIANTS=1 adds bench:beacon's diagnostic
// scripts (importOnly, optedOut, firstRun); BENCH_INSTR_RUNS=n (default 1) runs each script n times
// and reports the median; BENCH_STATE_VIA_HOME=1 has the beacon find its state directory through
// $HOME as most users' runs do, not $BEACON_HOME (bench/lib/beacon-scripts.mjs); BENCH_INSTR_KEEP=<dir>
// keeps the callgrind output files there, for
// `callgrind_annotate --inclusive=yes <file>`. Needs valgrind on PATH. Takes ~10 s per run.
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { benchEnv, buildBeaconScripts } from './lib/beacon-scripts.mjs';

const RUNS = Math.max(1, Number(process.env.BENCH_INSTR_RUNS ?? 1));
const KEEP = process.env.BENCH_INSTR_KEEP ? resolve(process.env.BENCH_INSTR_KEEP) : undefined;
const NODE_FLAGS = ['--random-seed=1'];

const work = mkdtempSync(join(tmpdir(), 'beacon-instr-'));
const { scripts } = buildBeaconScripts(work, { variants: process.env.BENCH_VARIANTS === '1', baseline: process.env.BENCH_BASELINE });
if (KEEP) mkdirSync(KEEP, { recursive: true });

// The collector: a listening port, as in bench:beacon (a closed one would make the kernel answer
// "port unreachable", which the emitters then handle: not the usual run).
const sock = createSocket('udp4');
await new Promise((r) => sock.bind(0, '127.0.0.1', r));
let received = 0;
sock.on('message', () => received++);
// The children run synchronously (spawnSync) while this process's loop is blocked: datagrams wait
// in the socket buffer, which must hold them all.
sock.setRecvBufferSize(4 * 1024 * 1024);
const env = benchEnv(work, sock.address().port);
let freshHomes = 0;
const envFor = (name) => (name === 'firstRun' ? { ...env, BEACON_HOME: join(work, `first-home-${freshHomes++}`) } : env);

/** name → mtime of every compile-cache file of the usual state directory. */
const cacheFiles = () => {
  const dir = join(env.BEACON_HOME ?? join(env.HOME, '.config/usage-beacon'), 'compile-cache');
  if (!existsSync(dir)) return {};
  return Object.fromEntries(readdirSync(dir).map((n) => [n, statSync(join(dir, n)).mtimeMs]));
};

function runPlain(name) {
  const r = spawnSync(process.execPath, [...NODE_FLAGS, scripts[name]], { env: envFor(name), stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${scripts[name]} exited ${r.status}`);
}

function instructions(name, i) {
  const out = join(KEEP ?? work, `callgrind.${name}.${i}.out`);
  const r = spawnSync('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, process.execPath, ...NODE_FLAGS, scripts[name]], {
    env: envFor(name),
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  if (r.error) throw new Error(`valgrind: ${r.error.message} (is valgrind installed?)`);
  if (r.status !== 0) throw new Error(`${scripts[name]} under callgrind exited ${r.status}:\n${r.stderr}`);
  const totals = /^(?:summary|totals):\s*(\d+)/m.exec(readFileSync(out, 'utf8'));
  if (!totals) throw new Error(`no totals in ${out}`);
  return Number(totals[1]);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const millions = (n) => Number((n / 1e6).toFixed(2));

const names = Object.keys(scripts);
for (const name of names) runPlain(name); // state file and compile cache, as a user's earlier run left them
const cacheBefore = JSON.stringify(cacheFiles());
const counts = Object.fromEntries(names.map((n) => [n, []]));
for (let i = 0; i < RUNS; i++) for (const name of names) counts[name].push(instructions(name, i));
const cacheRewritten = JSON.stringify(cacheFiles()) !== cacheBefore;
await new Promise((r) => setTimeout(r, 200)); // datagrams still in the socket buffer
sock.close();
// A beacon run sends a start and an end, 2 copies each; the bare emitter one of each. Fewer means a
// script did not do its job (a broken build measures as cheap): the figures are then meaningless.
const perRun = { beacon: 4, baseline: 4, firstRun: 4, bare: 2 };
const expected = names.reduce((n, name) => n + (perRun[name] ?? 0) * (RUNS + 1), 0);

const total = Object.fromEntries(names.map((n) => [n, median(counts[n])]));
const addedM = Object.fromEntries(names.filter((n) => n !== 'neither').map((n) => [n, millions(total[n] - total.neither)]));
const ratioTo = (n) => Number(((total[n] - total.neither) / (total.bare - total.neither)).toFixed(3));
const result = {
  bench: 'beacon-instructions',
  node: process.version,
  nodeFlags: NODE_FLAGS,
  runs: RUNS,
  instructionsM: Object.fromEntries(names.map((n) => [n, millions(total[n])])),
  ...(RUNS > 1 ? { spreadM: Object.fromEntries(names.map((n) => [n, millions(Math.max(...counts[n]) - Math.min(...counts[n]))])) } : {}),
  addedM,
  ratio: ratioTo('beacon'),
  ...(scripts.baseline ? { baselineRatio: ratioTo('baseline') } : {}),
  cacheRewritten,
  datagrams: { received, expected },
  ...(KEEP ? { callgrindFiles: KEEP } : {}),
};
rmSync(work, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
if (received !== expected) {
  process.stderr.write(`beacon-instructions: ${received} datagrams received, ${expected} expected: a script did not send\n`);
  process.exitCode = 1;
}
