#!/usr/bin/env node
// Soak (`npm run soak -- --minutes N`): a real receiver (`beacon receive`, built in dist/) driven
// for N minutes by another process (scripts/lib/traffic.mjs) with valid native runs (each datagram
// sent twice, as the beacon does), Parsl format-1 and legacy runs, hostile datagrams and a flood
// from one network above the rate limit. Samples the receiver's RSS every second; at the end stops
// it with SIGTERM and prints JSON: sent, stored, duplicates, rejected by reason, rate-limited,
// kernel drops, overload drops, peak RSS, and whether the books balance:
//   sent      = received + kernel drops                      (nothing vanishes on the way in)
//   received  = stored + duplicates + rejected (all reasons, rate-limited included) + overload drops
//   stored    = starts + ends in the store, and the store's daily_counters = the receiver's totals
// Exits 1 if a book does not balance or the peak RSS passed --rss-mb (default 512; docs/receiver.md#memory says where it goes).
//
// Options: --minutes N (1), --rate R datagrams/s of the mix (2000), --rate-limit (500), --rss-mb.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist/cli/beacon.js');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const minutes = opt('minutes', 1);
const rate = opt('rate', 2000);
const rateLimit = opt('rate-limit', 500);
const rssBoundMB = opt('rss-mb', 512);

const dir = mkdtempSync(path.join(os.tmpdir(), 'beacon-soak-'));
const db = path.join(dir, 'usage.db');

function rssKB(pid, field = 'VmRSS') {
  try {
    return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

const rx = spawn(
  process.execPath,
  [CLI, 'receive', '--host', '127.0.0.1', '--port', '0', '--db', db, '--rate-limit', String(rateLimit), '--metrics-port', '0'],
  { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BEACON_RECEIVER_STATS_MS: '60000' } },
);
const lines = [];
let buf = '';
rx.stdout.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\n')) >= 0) {
    const l = buf.slice(0, i);
    buf = buf.slice(i + 1);
    if (l.trim()) lines.push(JSON.parse(l));
  }
});
const rxExit = new Promise((r) => rx.once('exit', (code, sig) => r(code ?? sig)));
for (let t = 0; !lines.some((l) => l.msg === 'listening'); t++) {
  if (t > 300) throw new Error('receiver did not start');
  await new Promise((r) => setTimeout(r, 50));
}
const { port, metricsPort } = lines.find((l) => l.msg === 'listening');
/** The main thread's V8 heap (the store and settle threads have their own, and SQLite its caches). */
async function mainHeapMB() {
  try {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    return +(Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1]) / 1048576).toFixed(1);
  } catch {
    return NaN;
  }
}
const heapMBAtMinute = [];
const heapTimer = setInterval(async () => heapMBAtMinute.push(await mainHeapMB()), 60_000);

let peakRssKB = 0;
const rssSamples = [];
const sampler = setInterval(() => {
  const kb = rssKB(rx.pid);
  if (kb > peakRssKB) peakRssKB = kb;
  rssSamples.push(kb);
}, 1000);

const started = Date.now();
const traffic = spawn(
  process.execPath,
  [path.join(ROOT, 'scripts/lib/traffic.mjs'), JSON.stringify({ port, rate, rateLimit, seconds: minutes * 60, mix: 'soak' })],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
let tout = '';
traffic.stdout.on('data', (d) => (tout += d));
await new Promise((r) => traffic.once('exit', r));
const sent = JSON.parse(tout.trim().split('\n').pop());
// Let the receiver read what is queued and poll the kernel's drop counter (every second).
await new Promise((r) => setTimeout(r, 2500));
const hwmKB = rssKB(rx.pid, 'VmHWM');
clearInterval(sampler);
clearInterval(heapTimer);
rx.kill('SIGTERM');
const exitCode = await rxExit;
const stopped = lines.find((l) => l.msg === 'stopped') ?? {};

const store = new Database(db, { readonly: true });
const rows = store.prepare('SELECT sum(has_start) + sum(has_end) AS n, count(*) AS runs FROM run_facts').get();
const persisted = Object.fromEntries(
  store
    .prepare('SELECT name, sum(value) AS v FROM daily_counters GROUP BY name')
    .all()
    .map((r) => [r.name, r.v]),
);
const integrity = store.pragma('integrity_check', { simple: true });
store.close();
rmSync(dir, { recursive: true, force: true });

const rejected = stopped.rejected ?? {};
const rejectedTotal = Object.values(rejected).reduce((a, b) => a + b, 0);
const books = {
  wire: sent.sent === stopped.received + stopped.kernel_drops,
  receiver: stopped.received === stopped.stored + stopped.duplicates + rejectedTotal + stopped.overload_drops,
  store:
    rows.n === stopped.stored &&
    ['received', 'stored', 'duplicates', 'kernel_drops', 'overload_drops'].every((k) => (persisted[k] ?? 0) === stopped[k]),
};
const result = {
  minutes,
  rate,
  rateLimit,
  seconds: Math.round((Date.now() - started) / 1000),
  sent: sent.sent,
  sentByKind: sent.byKind,
  received: stopped.received,
  stored: stopped.stored,
  duplicates: stopped.duplicates,
  rejected,
  rateLimited: rejected.rate_limited ?? 0,
  kernelDrops: stopped.kernel_drops,
  overloadDrops: stopped.overload_drops,
  runsInStore: rows.runs,
  integrity,
  exitCode,
  peakRssMB: +(Math.max(peakRssKB, hwmKB) / 1024).toFixed(1),
  rssMBAtMinute: rssSamples.filter((_, i) => i % 60 === 59).map((kb) => +(kb / 1024).toFixed(1)),
  mainHeapMBAtMinute: heapMBAtMinute,
  rssBoundMB,
  rssWithinBound: Math.max(peakRssKB, hwmKB) / 1024 <= rssBoundMB,
  books,
  balanced: books.wire && books.receiver && books.store,
};
console.log(JSON.stringify(result, null, 1));
process.exitCode = result.balanced && result.rssWithinBound && exitCode === 0 && integrity === 'ok' ? 0 : 1;
