#!/usr/bin/env node
// Receiver throughput benchmark (`npm run bench:receiver`, prints JSON).
//
// The real receiver (`beacon receive`, built in dist/) runs pinned to core 0; a paced C sender
// (bench/udp-sender.c, built with gcc; a Node sender if gcc is missing) runs pinned to core 1 and
// sends valid start datagrams of unique runs at fixed rates. Their run IDs are in time order, as
// the beacon's UUIDv7 run IDs are (Parsl's random UUIDv4 cost the store more: docs/receiver.md). After each step the rows actually
// committed are counted in the SQLite file and compared to the datagrams sent. The result is the
// highest rate at which ≥ 99.9% were stored (median of BENCH_REPS repetitions per rate).
//
// Environment: BENCH_RATES (comma list, default 10000,…,100000), BENCH_SECONDS (default 3),
// BENCH_REPS (default 3), BENCH_FLUSH_MS (default 100), BENCH_PIN (default 1), BENCH_CLI (another build);
// BEACON_UDP_READER=dgram measures the node:dgram fallback reader.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { buildSender, datagramTemplate, pinning, sendPaced } from './lib/sender.mjs';
import { cpuMs, metrics, settle, startReceiver, stopReceiver } from './lib/receiver-process.mjs';
import { highestLossless, LOSSLESS, median } from './lib/stats.mjs';

const rates = (process.env.BENCH_RATES ?? '10000,20000,40000,60000,80000,100000').split(',').map(Number);
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const reps = Number(process.env.BENCH_REPS ?? 3);
const flushMs = Number(process.env.BENCH_FLUSH_MS ?? 100);
const TARGET = 60_000;

const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-receiver-'));
// BENCH_PIN=0 runs both unpinned (then the receiver commits from its store thread).
const { pinned, pin } = pinning(process.env.BENCH_PIN !== '0');
const cpus = os.cpus().length;
const { sample, template } = datagramTemplate();

async function step(rx, sender, reader, rate) {
  const prefix = randomBytes(4).toString('hex');
  const before = await metrics(rx.metricsPort);
  const cpuBefore = cpuMs(rx.child.pid);
  const { sent } = sendPaced(sender, pin, { ports: [rx.port], rate, seconds, prefix, template });
  const after = await settle([rx.metricsPort], flushMs);
  // Minus the ~1.5 s of idle polling after the send, which costs the receiver next to nothing.
  const cpu = cpuMs(rx.child.pid) - cpuBefore;
  const stored = reader.prepare('SELECT count(*) AS n FROM run_facts WHERE run >= ? AND run < ?').get(`${prefix}-`, `${prefix}.`).n;
  const received = after.received - before.received;
  return { rate, sent, stored, ratio: stored / sent, received, kernelDrops: after.kernelDrops - before.kernelDrops,
    cpuUsPerDatagram: Number(((cpu * 1000) / received).toFixed(1)) };
}


const sender = buildSender(dir);
const loadBefore = os.loadavg()[0];
const results = [];
let recvBufferBytes;
let socketReader;
try {
  // A fresh store per rate, so every rate starts from the same (empty) database.
  for (const rate of rates) {
    const db = path.join(dir, `usage-${rate}.db`);
    const rx = await startReceiver(['--db', db, '--flush-ms', String(flushMs)], pin, 0);
    recvBufferBytes = rx.recvBufferBytes;
    socketReader = rx.reader;
    const reader = new Database(db, { readonly: true });
    const runs = [];
    try {
      for (let i = 0; i < reps; i++) runs.push(await step(rx, sender, reader, rate));
    } finally {
      reader.close();
      await stopReceiver(rx);
    }
    const ratio = median(runs.map((r) => r.ratio));
    const cpuUs = median(runs.map((r) => r.cpuUsPerDatagram));
    results.push({ rate, medianStoredRatio: Number(ratio.toFixed(5)), lossless: ratio >= LOSSLESS, medianCpuUsPerDatagram: cpuUs, runs });
    process.stderr.write(`rate ${rate}/s: median stored ${(ratio * 100).toFixed(3)}%\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const ok = results.filter((r) => r.lossless).map((r) => r.rate);
// The highest rate below which every tested rate was also lossless.
const highest = highestLossless(results);
console.log(JSON.stringify({
  benchmark: 'receiver',
  node: process.version, cpus, pinned, sender: sender.kind,
  datagramBytes: Buffer.byteLength(sample), secondsPerStep: seconds, repetitions: reps, flushMs,
  recvBufferBytes,
  // `recvmmsg`: the native batch reader (native/udp-batch); `dgram`: node:dgram (BEACON_UDP_READER=dgram).
  reader: socketReader,
  // Other processes on the machine compete for the receiver's core: the 1-minute load average
  // before and after says how noisy this run was.
  loadAverage: { before: Number(loadBefore.toFixed(2)), after: Number(os.loadavg()[0].toFixed(2)) },
  highestLosslessRate: highest, losslessRates: ok, target: TARGET, meetsTarget: highest >= TARGET,
  // Receiver CPU (all threads) per datagram it read, median over steps: 1e6 / this is the rate one
  // otherwise idle core could sustain, whatever the noise from other processes.
  cpuUsPerDatagram: median(results.map((r) => r.medianCpuUsPerDatagram)),
  oneCoreCeilingPerSecond: Math.round(1e6 / median(results.map((r) => r.medianCpuUsPerDatagram))),
  steps: results,
}, null, 2));
