#!/usr/bin/env node
// Receiver throughput benchmark with its own yardsticks (`npm run bench:receiver`, prints JSON).
//
// In one process tree and the same minutes, the same paced C sender (bench/udp-sender.c, pinned
// to core 1) drives, rate by rate and one after the other, receivers each pinned to core 0:
//   statsd         statsd 0.9.0, in-memory counters, nothing durable (bench/lib/peers.mjs)
//   bare           node:dgram + JSON.parse + count: the floor of Node itself
//   beacon_random  `beacon receive` (SQLite, WAL, --flush-ms 100: durable), random-looking run IDs
//   beacon_seq     the same with run IDs sequential in their tail (issue 11's hash-flood pattern)
//   base_random, base_seq  (only when BENCH_BASE_CLI names another build's dist/cli/beacon.js):
//                  that build the same way, for before/after figures from one run
// Every run sends its start and, up to 1000 runs later, its end. A step is lossless when ≥ 99.9%
// of the datagrams sent were kept (for beacon: stored, counted in the SQLite file after the
// commit). Per subject: the highest rate below which every tested rate was lossless (median of
// BENCH_REPS), CPU µs per datagram by thread (/proc/<pid>/task/*/stat: main thread, the store
// thread, the rest: V8's GC helpers, the settle thread, libuv). Absolute rates say little on a
// shared machine; the ratios of one run do (ours ÷ statsd, ours ÷ bare, sequential ÷ random CPU).
// For ours also the highest *sustained* rate: lossless with the intake log's merge keeping up at the
// step's end (SUSTAINED_BACKLOG_S), since a burst can be absorbed by the log and merged after.
//
// Options: --workers N (also `beacon receive --workers N`, unpinned, random IDs: aggregate
// lossless rate and its ratio to N × one core), --postgres (also bench/lib/pg-receivers.mjs: one
// and two receivers on PostgreSQL). Environment: BENCH_RATES (comma list), BENCH_SECONDS (3),
// BENCH_REPS (3), BENCH_WARMUP_SECONDS (2), BENCH_FLUSH_MS (100), BENCH_PIN (1), BENCH_SUBJECTS (comma list of the above),
// BENCH_CLI (another build); BEACON_UDP_READER=dgram measures the node:dgram fallback reader.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { createRunEncoder } from '../dist/protocol/index.js';
import { buildSender, pinning } from './lib/sender.mjs';
import { metrics, settle, sleep, startReceiver, stopReceiver } from './lib/receiver-process.mjs';
import { cpuByThread, startBare, startStatsd, statsdTemplates, threadCpuMs } from './lib/peers.mjs';
import { highestLossless, LOSSLESS, median } from './lib/stats.mjs';

const { values: flags } = parseArgs({ options: { workers: { type: 'string' }, postgres: { type: 'boolean' } } });
const rates = (
  process.env.BENCH_RATES ?? '10000,15000,20000,25000,30000,40000,50000,60000,70000,80000,100000,120000,140000,160000,180000,200000'
)
  .split(',')
  .map(Number);
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const reps = Number(process.env.BENCH_REPS ?? 3);
const flushMs = Number(process.env.BENCH_FLUSH_MS ?? 100);
const SUBJECTS = (
  process.env.BENCH_SUBJECTS ?? `statsd,bare,beacon_random,beacon_seq${process.env.BENCH_BASE_CLI ? ',base_random,base_seq' : ''}`
).split(',');
const workersN = flags.workers === undefined ? 0 : flags.workers === 'cores' ? os.cpus().length : Number(flags.workers);
// Each freshly started receiver first gets this long at the step's rate, not counted: what is
// measured is a running daemon, not V8 compiling its hot paths on the one core (which, on a busy
// machine, cost a fresh `beacon receive` half of its first second's datagrams).
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const TARGET_VS_STATSD = 1.5;
/**
 * A step's rate is sustained (not merely absorbed by the intake log, src/store/sqlite/intake-log.ts)
 * when the log held at most this many seconds of it at the step's end: a flush window plus the
 * merge under way, where a merge that falls behind leaves (rate − merge rate) × the step's length.
 */
const SUSTAINED_BACKLOG_S = 0.2;
const RX_CORE = 0;
const SENDER_CORE = 1;

const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-receiver-'));
const { pinned, pin } = pinning(process.env.BENCH_PIN !== '0');
const unpinned = pinning(false).pin;
const sender = buildSender(dir);
if (sender.kind !== 'c') throw new Error('bench:receiver needs gcc for bench/udp-sender.c (a Node sender cannot pace these rates)');

// What a beacon sends for a run (~450 bytes each), and statsd's equivalent.
const identity = {
  run: '00000000-0000-4000-8000-000000000000',
  project: 'parsl',
  version: '2025.01.13',
  user: randomBytes(16).toString('hex'),
  host: randomBytes(16).toString('hex'),
  script: randomBytes(16).toString('hex'),
  runtime: 'python/3.11.7',
  os: 'linux',
  arch: 'x64',
  ci: false,
  components: { executors: 2, htex: 1, blocks: 4, provider: 'slurm' },
};
const enc = createRunEncoder(identity);
const now = Date.now();
const placeholder = (b) => b.toString().replace(identity.run, '@RUN@');
const BEACON = { start: placeholder(enc.start(now)), end: placeholder(enc.end(now + 60_000, 0, 60_000)) };
const STATSD = statsdTemplates(identity);

/** One paced send of start+end pairs; returns {sent}. */
function send(ports, rate, prefix, ids, templates, core = SENDER_CORE, p = pin, secs = seconds) {
  const [cmd, args] = p(core, sender.cmd, [ports.join(','), String(rate), String(secs), prefix, templates.start, ids, templates.end]);
  return JSON.parse(execFileSync(cmd, args, { encoding: 'utf8' }));
}

/** Polls `kept()` until it stops moving. */
async function settled(kept) {
  let last = -1;
  for (;;) {
    await sleep(300);
    const k = await kept();
    if (k === last) return k;
    last = k;
  }
}

const us = (ms, n) => (n > 0 ? Number(((ms * 1000) / n).toFixed(2)) : null);

function perThread(cpu, n) {
  return Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, us(v, n)]));
}

/** A yardstick (statsd, bare) at one rate: reps steps on one process. */
async function peerSteps(kind, rate) {
  const p = kind === 'statsd' ? await startStatsd(pin, RX_CORE, dir) : await startBare(pin, RX_CORE);
  const runs = [];
  try {
    if (warmupSeconds > 0) {
      send([p.port], rate, randomBytes(4).toString('hex'), 'random', kind === 'statsd' ? STATSD : BEACON, SENDER_CORE, pin, warmupSeconds);
      await settled(p.kept);
    }
    for (let i = 0; i < reps; i++) {
      const before = await p.kept();
      const t0 = threadCpuMs(p.child.pid);
      const { sent } = send([p.port], rate, randomBytes(4).toString('hex'), 'random', kind === 'statsd' ? STATSD : BEACON);
      const kept = (await settled(p.kept)) - before;
      const cpu = cpuByThread(t0, threadCpuMs(p.child.pid), p.child.pid);
      const total = cpu.main + cpu.other;
      runs.push({ sent, kept, ratio: kept / sent, cpuUsPerDatagram: us(total, kept), byThread: perThread(cpu, kept) });
    }
  } finally {
    await p.stop();
  }
  return runs;
}

/** `beacon receive` at one rate, on a fresh SQLite store: reps steps. */
async function beaconSteps(ids, rate) {
  const db = path.join(dir, `usage-${ids}-${rate}.db`);
  const cli = ids.startsWith('base_') ? process.env.BENCH_BASE_CLI : undefined;
  const rx = await startReceiver(['--db', db, '--flush-ms', String(flushMs)], pin, RX_CORE, cli);
  const reader = new Database(db, { readonly: true });
  const pid = rx.child.pid;
  const runs = [];
  try {
    if (warmupSeconds > 0) {
      send(
        [rx.port],
        rate,
        randomBytes(4).toString('hex'),
        ids.endsWith('_seq') ? 'seq' : 'random',
        BEACON,
        SENDER_CORE,
        pin,
        warmupSeconds,
      );
      await settle([rx.metricsPort], flushMs);
    }
    for (let i = 0; i < reps; i++) {
      const prefix = randomBytes(4).toString('hex');
      const before = await metrics(rx.metricsPort);
      const t0 = threadCpuMs(pid);
      const { sent } = send([rx.port], rate, prefix, ids.endsWith('_seq') ? 'seq' : 'random', BEACON);
      // What the step left unmerged when its last datagram was sent: the intake log's backlog.
      const atEnd = await metrics(rx.metricsPort);
      const after = await settle([rx.metricsPort], flushMs);
      const cpu = cpuByThread(t0, threadCpuMs(pid), pid, { store: rx.storeThreadTid });
      const stored = reader
        .prepare('SELECT coalesce(sum(has_start) + sum(has_end), 0) AS n FROM run_facts WHERE run >= ? AND run < ?')
        .get(`${prefix}-`, `${prefix}.`).n;
      const received = after.received - before.received;
      runs.push({
        sent,
        stored,
        ratio: stored / sent,
        received,
        kernelDrops: after.kernelDrops - before.kernelDrops,
        unmergedAtEnd: atEnd.unmerged,
        cpuUsPerDatagram: us(cpu.main + cpu.store + cpu.other, received),
        byThread: perThread(cpu, received),
      });
    }
  } finally {
    reader.close();
    const code = await stopReceiver(rx);
    if (code !== 0) throw new Error(`beacon receive exited ${code}`);
  }
  return { runs, reader: rx.reader, recvBufferBytes: rx.recvBufferBytes };
}

/** `beacon receive --workers N`, unpinned, random IDs: aggregate steps. */
async function workersSteps(n, rate) {
  const db = path.join(dir, `usage-workers-${rate}.db`);
  const rx = await startReceiver(['--db', db, '--flush-ms', String(flushMs), '--workers', String(n)], unpinned, RX_CORE);
  const reader = new Database(db, { readonly: true });
  const runs = [];
  try {
    if (warmupSeconds > 0) {
      send([rx.port], rate, randomBytes(4).toString('hex'), 'random', BEACON, SENDER_CORE, unpinned, warmupSeconds);
      await settle([rx.metricsPort], flushMs);
    }
    for (let i = 0; i < reps; i++) {
      const prefix = randomBytes(4).toString('hex');
      const { sent } = send([rx.port], rate, prefix, 'random', BEACON, SENDER_CORE, unpinned);
      await settle([rx.metricsPort], flushMs);
      const stored = reader
        .prepare('SELECT coalesce(sum(has_start) + sum(has_end), 0) AS n FROM run_facts WHERE run >= ? AND run < ?')
        .get(`${prefix}-`, `${prefix}.`).n;
      runs.push({ sent, stored, ratio: stored / sent });
    }
  } finally {
    reader.close();
    await stopReceiver(rx);
  }
  return { runs };
}

function summarize(steps) {
  const cpuSteps = steps.filter((s) => s.lossless);
  const pick = cpuSteps.length > 0 ? cpuSteps : steps;
  const byThread = {};
  for (const key of Object.keys(pick[0]?.medianByThread ?? {})) byThread[key] = median(pick.map((s) => s.medianByThread[key]));
  return {
    highestLosslessRate: highestLossless(steps),
    ...(steps.some((s) => s.sustained !== undefined)
      ? { highestSustainedRate: highestLossless(steps.map((s) => ({ ...s, lossless: s.sustained }))) }
      : {}),
    // Median over the lossless steps (CPU per datagram hardly depends on the rate below saturation).
    cpuUsPerDatagram: pick.length ? median(pick.map((s) => s.medianCpuUsPerDatagram)) : null,
    cpuUsPerDatagramByThread: byThread,
    steps,
  };
}

const loadBefore = os.loadavg();
const started = new Date().toISOString();
const nodeStartMs = (() => {
  const t = [];
  for (let i = 0; i < 5; i++) {
    const s = performance.now();
    execFileSync(process.execPath, ['-e', '0']);
    t.push(performance.now() - s);
  }
  return Math.round(median(t));
})();
const steps = Object.fromEntries([...SUBJECTS, ...(workersN ? ['workers'] : [])].map((s) => [s, []]));
const live = new Set(Object.keys(steps));
let readerKind;
let recvBufferBytes;
try {
  // Rates outer, subjects inner: a burst of load from other processes hits every subject alike.
  // A subject stops at its first lossy rate (higher rates cannot raise its result).
  for (const rate of rates) {
    for (const subject of Object.keys(steps)) {
      if (!live.has(subject)) continue;
      let runs;
      if (subject === 'statsd' || subject === 'bare') runs = await peerSteps(subject, rate);
      else if (subject === 'workers') runs = (await workersSteps(workersN, rate)).runs;
      else {
        const r = await beaconSteps(subject, rate);
        runs = r.runs;
        readerKind = r.reader;
        recvBufferBytes = r.recvBufferBytes;
      }
      const ratio = median(runs.map((r) => r.ratio));
      const step = { rate, medianKeptRatio: Number(ratio.toFixed(5)), lossless: ratio >= LOSSLESS, runs };
      if (runs[0].unmergedAtEnd !== undefined) {
        // Sustained, not only absorbed: lossless, and the merge had kept up when the step ended
        // (at most SUSTAINED_BACKLOG_S of the rate left in the intake log).
        step.medianUnmergedAtEnd = median(runs.map((r) => r.unmergedAtEnd));
        step.sustained = step.lossless && step.medianUnmergedAtEnd <= rate * SUSTAINED_BACKLOG_S;
      }
      if (runs[0].cpuUsPerDatagram !== undefined) {
        step.medianCpuUsPerDatagram = median(runs.map((r) => r.cpuUsPerDatagram));
        step.medianByThread = Object.fromEntries(Object.keys(runs[0].byThread).map((k) => [k, median(runs.map((r) => r.byThread[k]))]));
      }
      steps[subject].push(step);
      process.stderr.write(
        `${subject} ${rate}/s: kept ${(ratio * 100).toFixed(3)}%${step.medianCpuUsPerDatagram ? `, ${step.medianCpuUsPerDatagram} µs/datagram` : ''}${step.medianUnmergedAtEnd !== undefined ? `, unmerged at the end ${step.medianUnmergedAtEnd}${step.sustained ? '' : ' (not sustained)'}` : ''}\n`,
      );
      if (!step.lossless) live.delete(subject);
    }
    if (live.size === 0) break;
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const results = Object.fromEntries(Object.entries(steps).map(([k, s]) => [k, summarize(s)]));
const rate = (k) => results[k]?.highestLosslessRate ?? null;
const ratio = (a, b) => (a && b ? Number((a / b).toFixed(2)) : null);
const ours = rate('beacon_random');
const out = {
  benchmark: 'receiver',
  started,
  finished: new Date().toISOString(),
  machine: {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model,
    nodeStartMs,
    node: process.version,
    // Other processes compete for the receivers' core: the load averages (1, 5, 15 min) before and after.
    loadAverage: { before: loadBefore.map((x) => Number(x.toFixed(2))), after: os.loadavg().map((x) => Number(x.toFixed(2))) },
  },
  pinned,
  receiverCore: RX_CORE,
  senderCore: SENDER_CORE,
  sender: sender.kind,
  datagramBytes: {
    beaconStart: BEACON.start.length - 5 + 36,
    beaconEnd: BEACON.end.length - 5 + 36,
    statsdStart: STATSD.start.length - 5 + 36,
    statsdEnd: STATSD.end.length - 5 + 36,
  },
  secondsPerStep: seconds,
  repetitions: reps,
  warmupSeconds,
  flushMs,
  lossless: `≥ ${LOSSLESS * 100}% of sent kept (beacon: stored)`,
  reader: readerKind,
  recvBufferBytes,
  table: Object.fromEntries(
    Object.entries(results).map(([k, r]) => [
      k,
      {
        highestLosslessRate: r.highestLosslessRate,
        highestSustainedRate: r.highestSustainedRate,
        cpuUsPerDatagram: r.cpuUsPerDatagram,
        byThread: r.cpuUsPerDatagramByThread,
      },
    ]),
  ),
  ratios: {
    beaconToStatsd: ratio(ours, rate('statsd')),
    // The same with ours at the highest rate its merge kept up with (see SUSTAINED_BACKLOG_S).
    beaconSustainedToStatsd: ratio(results.beacon_random?.highestSustainedRate, rate('statsd')),
    beaconToBare: ratio(ours, rate('bare')),
    sequentialToRandomCpu: ratio(results.beacon_seq?.cpuUsPerDatagram, results.beacon_random?.cpuUsPerDatagram),
    sequentialToRandomRate: ratio(rate('beacon_seq'), ours),
    ...(results.base_random
      ? {
          beaconToBaseRate: ratio(ours, rate('base_random')),
          baseToStatsd: ratio(rate('base_random'), rate('statsd')),
          baseSequentialToRandomCpu: ratio(results.base_seq?.cpuUsPerDatagram, results.base_random?.cpuUsPerDatagram),
        }
      : {}),
    ...(workersN ? { workersToNTimesOne: ratio(rate('workers'), ours && ours * workersN) } : {}),
  },
  target: { beaconToStatsd: TARGET_VS_STATSD, sequentialToRandomCpuAtMost: 1.2 },
  meetsTarget: ratio(ours, rate('statsd')) >= TARGET_VS_STATSD,
  ...(workersN ? { workers: workersN } : {}),
  results,
};
if (flags.postgres) {
  const { receiversPhase } = await import('./lib/pg-receivers.mjs');
  const pgDir = mkdtempSync(path.join(os.tmpdir(), 'bench-receiver-pg-'));
  try {
    out.postgres = await receiversPhase({ dir: pgDir, rates, seconds, reps, flushMs });
  } finally {
    rmSync(pgDir, { recursive: true, force: true });
  }
}
console.log(JSON.stringify(out, null, 2));
