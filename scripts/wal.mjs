#!/usr/bin/env node
// WAL size under load with readers that never let go (`npm run wal -- --datagrams N`): a real
// receiver stores N datagrams of the soak mix (random run IDs, each datagram twice, Parsl runs,
// some junk) while this process keeps readers on the store the way the settle thread, a report
// and a backup do: one read transaction held for --hold-ms at a time, and short readers that
// overlap so there is always one open (the pattern that starves SQLite's own checkpoints).
// Samples the -wal file every 25 ms and prints JSON: its peak and final size, the store's size,
// and whether the peak stayed under the limit ($BEACON_WAL_LIMIT_MB, 16 by default).
// BENCH_CLI=<path to another build's dist/cli/beacon.js> measures another build the same way.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = process.env.BENCH_CLI ?? path.join(ROOT, 'dist/cli/beacon.js');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const datagrams = opt('datagrams', 200_000);
const rate = opt('rate', 10_000);
const holdMs = opt('hold-ms', 3000);
const limitMB = Number(process.env.BEACON_WAL_LIMIT_MB || 16);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const size = (f) => {
  try {
    return statSync(f).size;
  } catch {
    return 0;
  }
};

const dir = mkdtempSync(path.join(os.tmpdir(), 'beacon-wal-'));
const db = path.join(dir, 'usage.db');
const rx = spawn(process.execPath, [CLI, 'receive', '--host', '127.0.0.1', '--port', '0', '--db', db, '--rate-limit', 'off'], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, BEACON_SETTLE_SECONDS: '5' },
});
let out = '';
const port = await new Promise((resolve, reject) => {
  rx.stdout.on('data', (d) => {
    out += d;
    const l = out.split('\n').find((x) => x.includes('"msg":"listening"'));
    if (l) resolve(JSON.parse(l).port);
    if (out.length > 1 << 16) out = out.slice(-4096);
  });
  rx.stdout.on('end', () => {});
  rx.once('exit', (c) => reject(new Error(`receiver exited ${c}`)));
});

let peak = 0;
const sampler = setInterval(() => {
  peak = Math.max(peak, size(`${db}-wal`));
}, 25);
let reading = true;
// One long reader at a time, held for holdMs, again and again.
const longReader = (async () => {
  const c = new Database(db, { readonly: true });
  while (reading) {
    c.exec('BEGIN');
    c.prepare('SELECT count(*) FROM run_facts').get();
    await sleep(holdMs);
    c.exec('COMMIT');
    await sleep(50);
  }
  c.close();
})();
// Two short readers taking turns, each 300 ms, overlapping: never a moment with no reader.
const shortReaders = [0, 150].map(async (offset) => {
  await sleep(offset);
  const c = new Database(db, { readonly: true });
  while (reading) {
    c.exec('BEGIN');
    c.prepare('SELECT count(*) FROM daily_counters').get();
    await sleep(300);
    c.exec('COMMIT');
  }
  c.close();
});

const traffic = spawn(
  process.execPath,
  [path.join(ROOT, 'scripts/lib/traffic.mjs'), JSON.stringify({ port, rate, seconds: datagrams / rate, mix: 'soak' })],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
let tout = '';
traffic.stdout.on('data', (d) => (tout += d));
await new Promise((r) => traffic.once('exit', r));
await sleep(2000);
reading = false;
await Promise.all([longReader, ...shortReaders]);
await sleep(1500);
const walAfterReaders = size(`${db}-wal`);
clearInterval(sampler);
rx.kill('SIGTERM');
await new Promise((r) => rx.once('exit', r));
const stopped = JSON.parse(out.split('\n').find((l) => l.includes('"msg":"stopped')) ?? '{}');
const storeBytes = size(db);
const c = new Database(db, { readonly: true });
const runs = c.prepare('SELECT count(*) AS n FROM run_facts').get().n;
c.close();
rmSync(dir, { recursive: true, force: true });
const mb = (b) => +(b / 1048576).toFixed(1);
console.log(
  JSON.stringify(
    {
      cli: CLI,
      sent: JSON.parse(tout.trim().split('\n').pop()).sent,
      rate,
      holdMs,
      runs,
      storeMB: mb(storeBytes),
      received: stopped.received,
      stored: stopped.stored,
      overloadDrops: stopped.overload_drops,
      walPeakMB: mb(peak),
      walAfterReadersMB: mb(walAfterReaders),
      walLimitMB: limitMB,
      withinLimit: peak <= limitMB * 1048576,
    },
    null,
    1,
  ),
);
