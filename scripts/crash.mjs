#!/usr/bin/env node
// Crash test (`npm run crash -- --kills N`): a real receiver under load is killed with SIGKILL at a
// random moment N times and restarted each time. After every kill: PRAGMA integrity_check must
// pass, every run the store showed committed just before the kill must still be there, and the
// runs lost are measured as a window: kill time − send time of the oldest run that was sent but
// is missing after the restart. Prints JSON; exits 1 if a check failed.
//
// Options: --kills N (20), --rate R datagrams/s (2000), --flush-ms (100), --min-ms/--max-ms: the
// random time between a start and its kill (500 / 3000), --keep (keep the temp dir).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { uuidv7Ms } from './lib/traffic.mjs';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist/cli/beacon.js');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const kills = opt('kills', 20);
const rate = opt('rate', 2000);
const flushMs = opt('flush-ms', 100);
const minMs = opt('min-ms', 500);
const maxMs = opt('max-ms', 3000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function startReceiver(db) {
  const child = spawn(
    process.execPath,
    [
      CLI,
      'receive',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--db',
      db,
      '--flush-ms',
      String(flushMs),
      '--rate-limit',
      'off',
      '--metrics-port',
      '0',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BEACON_SETTLE_SECONDS: '2' } },
  );
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.includes('"msg":"listening"'));
      if (line && !child.port) {
        child.port = JSON.parse(line).port;
        child.metricsPort = JSON.parse(line).metricsPort;
        resolve(child);
      }
      if (out.length > 1 << 16) out = out.slice(-4096);
    });
    child.once('exit', (code, sig) => reject(new Error(`receiver exited ${code ?? sig} before listening`)));
  });
}

function startTraffic(port) {
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts/lib/traffic.mjs'), JSON.stringify({ port, rate, mix: 'crash' })], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ids = [];
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.startsWith('ids ')) for (const id of line.slice(4).split(' ')) if (id) ids.push(id);
    }
  });
  const done = new Promise((r) => child.once('exit', r));
  return { child, ids, done };
}

function committedRuns(db) {
  const c = new Database(db, { readonly: true });
  try {
    return new Set(c.prepare('SELECT run FROM run_facts').pluck().all());
  } finally {
    c.close();
  }
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'beacon-crash-'));
const db = path.join(dir, 'usage.db');
const rounds = [];
let ok = true;
try {
  for (let k = 0; k < kills; k++) {
    const rx = await startReceiver(db);
    const traffic = startTraffic(rx.port);
    // The random moment is counted from when the load is flowing (a node process takes a while to start).
    while (traffic.ids.length === 0) await sleep(10);
    await sleep(minMs + Math.random() * (maxMs - minMs));
    // How many datagrams the receiver has read so far (the rest sent are still in its socket).
    const text = await (await fetch(`http://127.0.0.1:${rx.metricsPort}/metrics`)).text();
    const read = Number(/^beacon_receiver_datagrams_received_total (\S+)$/m.exec(text)?.[1]);
    // What the store shows committed now: all of it must survive the kill that follows.
    const before = committedRuns(db);
    const killedAt = Date.now();
    rx.kill('SIGKILL');
    await new Promise((r) => rx.once('exit', r));
    traffic.child.kill('SIGTERM');
    await traffic.done;
    const check = new Database(db);
    const integrity = check.pragma('integrity_check', { simple: true });
    check.close();
    const after = committedRuns(db);
    let vanished = 0;
    for (const r of before) if (!after.has(r)) vanished++;
    // Sent before the kill and not stored: lost with the process (its backlog, its socket queue).
    const sentBefore = traffic.ids.filter((id) => uuidv7Ms(id) < killedAt);
    const missing = sentBefore.filter((id) => !after.has(id));
    const oldestMissing = missing.length ? Math.min(...missing.map(uuidv7Ms)) : undefined;
    // Loopback keeps the order: the first `read` runs sent are the ones the receiver had read
    // (a moment before the kill, so a lower bound); of those, the missing ones it had accepted
    // and not committed. The rest of the loss was still queued in the socket.
    const readIds = new Set(traffic.ids.slice(0, read));
    const lostAfterRead = missing.filter((id) => readIds.has(id)).length;
    const round = {
      kill: k + 1,
      integrity,
      committedBefore: before.size,
      vanished,
      sent: sentBefore.length,
      lost: missing.length,
      lostAfterRead,
      lossWindowMs: oldestMissing === undefined ? 0 : killedAt - oldestMissing,
    };
    rounds.push(round);
    if (integrity !== 'ok' || vanished > 0) ok = false;
    process.stderr.write(`${JSON.stringify(round)}\n`);
  }
  // A last clean start must open the store and stop cleanly.
  const rx = await startReceiver(db);
  rx.kill('SIGTERM');
  const code = await new Promise((r) => rx.once('exit', (c) => r(c)));
  if (code !== 0) ok = false;
  const worst = rounds.reduce((a, r) => (r.lossWindowMs > a.lossWindowMs ? r : a), rounds[0] ?? { lossWindowMs: 0 });
  console.log(
    JSON.stringify(
      {
        kills,
        rate,
        flushMs,
        ok,
        integrityChecksPassed: rounds.filter((r) => r.integrity === 'ok').length,
        committedRunsVanished: rounds.reduce((n, r) => n + r.vanished, 0),
        sent: rounds.reduce((n, r) => n + r.sent, 0),
        lost: rounds.reduce((n, r) => n + r.lost, 0),
        lostAfterRead: rounds.reduce((n, r) => n + r.lostAfterRead, 0),
        worstLostAfterRead: Math.max(...rounds.map((r) => r.lostAfterRead)),
        worstLossWindowMs: worst.lossWindowMs,
        worstLossRound: worst.kill,
        lossWindowsMs: rounds.map((r) => r.lossWindowMs),
        finalCleanStopExit: code,
      },
      null,
      1,
    ),
  );
} finally {
  if (!args.includes('--keep')) rmSync(dir, { recursive: true, force: true });
}
process.exitCode = ok ? 0 : 1;
