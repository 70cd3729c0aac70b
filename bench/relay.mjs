#!/usr/bin/env node
// Relay benchmark (`npm run bench:relay`, prints JSON). Two parts, both in this one run:
//
// 1. Throughput as a ratio. One real receiver (`beacon receive --http-port`, SQLite) and one real
//    relay (`beacon relay --forward http://…/v1/datagrams`) run as child processes. The paced
//    sender (bench/udp-sender.c) sends unique start datagrams at each rate for a few seconds,
//    once straight to the receiver's UDP port (the yardstick) and once to the relay; the rows
//    committed are counted per step. Three ratios, relay ÷ receiver: highest rate with ≥ 99.9%
//    stored; share stored at the same rate; and one-core ceilings from CPU per datagram (the one
//    that holds still when other processes load the machine).
// 2. The outage the default queue bound survives. Bytes per queued datagram are measured (a relay
//    whose upstream is down queues a known number); the bound in datagrams is
//    min(256 MiB / bytes, 1,000,000), and divided by a stated rate it is the longest outage without
//    a drop. Checked by a shorter real outage: a relay with a 1 MiB bound, the computed number of
//    seconds at a stated rate scaled down to it, then 1.5× that, then upstream back: no drop in the
//    first, drops in the second, everything queued stored.
//
// Environment: BENCH_RATES (default 5000,10000,15000,20000,30000,40000), BENCH_SECONDS (default 2).
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import Database from 'better-sqlite3';
import { buildSender, datagramTemplate, pinning, sendPaced, ROOT } from './lib/sender.mjs';
import { cpuMs, sleep } from './lib/receiver-process.mjs';
import { highestLossless, LOSSLESS, median } from './lib/stats.mjs';

const rates = (process.env.BENCH_RATES ?? '5000,10000,15000,20000,30000,40000').split(',').map(Number);
const seconds = Number(process.env.BENCH_SECONDS ?? 2);
const CLI = process.env.BENCH_CLI ?? path.join(ROOT, 'dist/cli/beacon.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-relay-'));
const { pin } = pinning(false); // two cores, three processes: nobody is pinned
const { sample, template } = datagramTemplate();

function start(args) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      if (out.length > 1 << 20) out = out.slice(-4096);
      const line = out.split('\n').find((l) => l.includes('"msg":"listening"'));
      if (line) resolve({ child, ...JSON.parse(line) });
    });
    child.once('exit', (code) => reject(new Error(`${args[0]} exited ${code}: ${out}`)));
  });
}
const stop = (p) => new Promise((r) => (p.child.exitCode !== null ? r() : (p.child.once('exit', () => r()), p.child.kill('SIGTERM'))));
async function metric(port, name) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}
async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}
/** Until the count stops moving for a while (everything in flight has landed). */
async function settleCount(read, quietMs = 1500) {
  let last = -1;
  let since = Date.now();
  for (;;) {
    await sleep(250);
    const n = await read();
    if (n !== last) {
      last = n;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return n;
  }
}

async function throughput() {
  const sender = buildSender(dir);
  const db = path.join(dir, 'usage.db');
  const httpPort = await freePort();
  const rx = await start([
    'receive',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--db',
    db,
    '--metrics-port',
    '0',
    '--rate-limit',
    'off',
    '--http-port',
    String(httpPort),
  ]);
  const relay = await start([
    'relay',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--forward',
    `http://127.0.0.1:${httpPort}/v1/datagrams`,
    '--queue-dir',
    path.join(dir, 'queue'),
    '--rate-limit',
    'off',
    '--metrics-port',
    '0',
  ]);
  const reader = new Database(db, { readonly: true });
  const stored = (prefix) =>
    reader.prepare('SELECT count(*) AS n FROM run_facts WHERE run >= ? AND run < ?').get(`${prefix}-`, `${prefix}.`).n;
  const paths = { receiver: [], relay: [] };
  try {
    for (const rate of rates) {
      for (const [name, port, proc] of [
        ['receiver', rx.port, rx],
        ['relay', relay.port, relay],
      ]) {
        const prefix = randomBytes(4).toString('hex');
        const cpu0 = cpuMs(proc.child.pid);
        const rxCpu0 = cpuMs(rx.child.pid);
        const { sent } = sendPaced(sender, pin, { ports: [port], rate, seconds, prefix, template });
        const n = await settleCount(() => stored(prefix));
        const cpu = cpuMs(proc.child.pid) - cpu0;
        const step = {
          rate,
          sent,
          stored: n,
          ratio: Number((n / sent).toFixed(5)),
          lossless: n / sent >= LOSSLESS,
          cpuUsPerDatagram: Number(((cpu * 1000) / sent).toFixed(1)),
        };
        if (name === 'relay') {
          step.receiverCpuUsPerDatagram = Number((((cpuMs(rx.child.pid) - rxCpu0) * 1000) / sent).toFixed(1));
          step.relayKernelDrops = await metric(relay.metricsPort, 'beacon_relay_kernel_drops_total');
        }
        paths[name].push(step);
        process.stderr.write(`${name} ${rate}/s: stored ${(step.ratio * 100).toFixed(2)}%\n`);
      }
    }
  } finally {
    reader.close();
    await stop(relay);
    await stop(rx);
  }
  const rxHighest = highestLossless(paths.receiver);
  const relayHighest = highestLossless(paths.relay);
  const med = (xs) => Number(median(xs).toFixed(3));
  // On a busy shared machine the lossless edge moves with the neighbours' load; the CPU each
  // process spends per datagram does not much. 1e6 / µs is the rate one idle core would sustain.
  const rxUs = med(paths.receiver.map((s) => s.cpuUsPerDatagram));
  const relayUs = med(paths.relay.map((s) => s.cpuUsPerDatagram));
  return {
    sender: sender.kind,
    // Ratio 1: highest rate with ≥ 99.9% stored, relay path ÷ receiver's own UDP path.
    receiverHighestLosslessRate: rxHighest,
    relayHighestLosslessRate: relayHighest,
    relayToReceiverRatio: rxHighest ? Number((relayHighest / rxHighest).toFixed(3)) : null,
    // Ratio 2: share stored through the relay ÷ share stored directly, per rate (same rate, back to back).
    storedShareRatioByRate: paths.relay.map((s, i) => ({ rate: s.rate, ratio: Number((s.ratio / paths.receiver[i].ratio).toFixed(3)) })),
    medianStoredShareRatio: med(paths.relay.map((s, i) => s.ratio / paths.receiver[i].ratio)),
    // Ratio 3: one-core ceilings from CPU per datagram: the relay's ÷ the receiver's (UDP).
    receiverCpuUsPerDatagram: rxUs,
    relayCpuUsPerDatagram: relayUs,
    receiverViaHttpCpuUsPerDatagram: med(paths.relay.map((s) => s.receiverCpuUsPerDatagram)),
    relayCeilingToReceiverCeilingRatio: Number((rxUs / relayUs).toFixed(3)),
    steps: paths,
  };
}

/** A Node paced sender: `rate` unique start datagrams a second for `ms`; returns how many. */
async function paced(port, rate, ms) {
  const sock = createSocket('udp4');
  const t0 = Date.now();
  let sent = 0;
  while (Date.now() - t0 < ms) {
    const due = Math.floor(((Date.now() - t0) * rate) / 1000);
    for (; sent < due; sent++) sock.send(Buffer.from(template.replace('@RUN@', randomUUID())), port, '127.0.0.1');
    await sleep(5);
  }
  await sleep(50);
  sock.close();
  return sent;
}

async function outage() {
  // Bytes per queued datagram: upstream down, a known number sent.
  const deadPort = await freePort();
  const probeDir = path.join(dir, 'probe-queue');
  const probe = await start([
    'relay',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--forward',
    `http://127.0.0.1:${deadPort}/v1/datagrams`,
    '--queue-dir',
    probeDir,
    '--rate-limit',
    'off',
    '--metrics-port',
    '0',
  ]);
  const sentProbe = await paced(probe.port, 2000, 2000);
  const queued = await settleCount(() => metric(probe.metricsPort, 'beacon_relay_queue_datagrams'), 1000);
  const bytes = await metric(probe.metricsPort, 'beacon_relay_queue_bytes');
  await stop(probe);
  const bytesPerDatagram = bytes / queued;
  const DEFAULT_MB = 256;
  const DEFAULT_DATAGRAMS = 1_000_000;
  const boundDatagrams = Math.min(Math.floor((DEFAULT_MB * 1024 * 1024) / bytesPerDatagram), DEFAULT_DATAGRAMS);
  // An HPC centre's whole cluster: a run sends a start and an end (the relay forwards one copy each).
  const stated = [10, 100, 1000].map((perSecond) => ({
    datagramsPerSecond: perSecond,
    longestOutageHours: Number((boundDatagrams / perSecond / 3600).toFixed(1)),
  }));

  // The check: 1 MiB bound at 400 datagrams/s.
  const checkRate = 400;
  const smallBound = Math.floor((1024 * 1024) / bytesPerDatagram);
  const predictedSeconds = smallBound / checkRate;
  const httpPort = await freePort();
  const db = path.join(dir, 'outage.db');
  const relay = await start([
    'relay',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--forward',
    `http://127.0.0.1:${httpPort}/v1/datagrams`,
    '--queue-dir',
    path.join(dir, 'check-queue'),
    '--queue-max-mb',
    '1',
    '--rate-limit',
    'off',
    '--metrics-port',
    '0',
  ]);
  const within = await paced(relay.port, checkRate, predictedSeconds * 0.8 * 1000);
  await settleCount(() => metric(relay.metricsPort, 'beacon_relay_queue_datagrams'), 800);
  const dropsWithin = await metric(relay.metricsPort, 'beacon_relay_queue_drops_total');
  const beyond = await paced(relay.port, checkRate, predictedSeconds * 0.7 * 1000); // total 1.5× the prediction
  const queuedAtEnd = await settleCount(() => metric(relay.metricsPort, 'beacon_relay_queue_datagrams'), 800);
  const dropsBeyond = await metric(relay.metricsPort, 'beacon_relay_queue_drops_total');
  const rx = await start([
    'receive',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--db',
    db,
    '--metrics-port',
    '0',
    '--rate-limit',
    'off',
    '--http-port',
    String(httpPort),
  ]);
  const t0 = Date.now();
  // The relay retries with a growing pause (up to 30 s), so draining starts within that.
  while ((await metric(relay.metricsPort, 'beacon_relay_queue_datagrams')) > 0 && Date.now() - t0 < 90_000) await sleep(100);
  const drainSeconds = (Date.now() - t0) / 1000;
  await sleep(1000);
  await stop(relay);
  await stop(rx);
  const r = new Database(db, { readonly: true });
  const storedAfter = r.prepare('SELECT count(*) AS n FROM run_facts').get().n;
  r.close();
  return {
    bytesPerQueuedDatagram: Number(bytesPerDatagram.toFixed(1)),
    probe: { sent: sentProbe, queued },
    defaultBound: {
      megabytes: DEFAULT_MB,
      datagrams: DEFAULT_DATAGRAMS,
      effectiveDatagrams: boundDatagrams,
      limitedBy: boundDatagrams < DEFAULT_DATAGRAMS ? 'bytes' : 'datagrams',
    },
    longestOutageAtStatedRates: stated,
    check: {
      queueMaxMb: 1,
      datagramsPerSecond: checkRate,
      predictedBoundDatagrams: smallBound,
      predictedSeconds: Number(predictedSeconds.toFixed(1)),
      outageWithinBound: { seconds: Number((predictedSeconds * 0.8).toFixed(1)), sent: within, drops: dropsWithin },
      outageBeyondBound: { seconds: Number((predictedSeconds * 1.5).toFixed(1)), sent: within + beyond, queuedAtEnd, drops: dropsBeyond },
      // drainSeconds includes the relay's retry pause, which had grown during the outage.
      afterUpstreamReturned: {
        storedRuns: storedAfter,
        equalsQueued: storedAfter === queuedAtEnd,
        drainSeconds: Number(drainSeconds.toFixed(1)),
      },
    },
  };
}

const loadBefore = os.loadavg()[0];
try {
  const t = await throughput();
  const o = await outage();
  console.log(
    JSON.stringify(
      {
        benchmark: 'relay',
        node: process.version,
        cpus: os.cpus().length,
        datagramBytes: Buffer.byteLength(sample),
        secondsPerStep: seconds,
        loadAverage: { before: Number(loadBefore.toFixed(2)), after: Number(os.loadavg()[0].toFixed(2)) },
        throughput: t,
        outage: o,
      },
      null,
      2,
    ),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
