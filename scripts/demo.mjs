// `npm run demo`: the whole product end to end on the embedded default store (SQLite).
//  1. a throwaway SQLite store, seeded with 11 months of synthetic history so the trend has 12 months;
//  2. the real collector daemon (`beacon receive`) on a free UDP port;
//  3. a population of real runs, each wrapped by the real beacon (`beacon run`), sending real UDP —
//     plus a few datagrams in Parsl's own formats and some hostile junk for the data-quality section;
//  4. `reports monthly` as self-contained HTML (written to demo-out/) and as Markdown (printed);
//  5. `reports period` over the last 12 months (its summary paragraph printed) and `reports site`.
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { seedHistory } from './demo/seed.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const beaconCli = join(root, 'dist/cli/beacon.js');
const reportsCli = join(root, 'dist/cli/reports.js');
const workflow = join(root, 'scripts/demo/workflow.mjs');
const work = mkdtempSync(join(tmpdir(), 'usage-beacon-demo-'));
const dbPath = join(work, 'usage.db');
const outDir = join(root, 'demo-out');
let noticeShown = false;
let receiver;
const say = (s) => process.stderr.write(`demo: ${s}\n`);

const now = new Date();
const month = `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, '0')}`;

try {
  const { migrateSqlite } = await import(join(root, 'dist/store/sqlite/migrate.js'));
  const { refreshBookkeeping } = await import(join(root, 'dist/store/sqlite/bookkeeping.js'));
  const db = new Database(dbPath);
  migrateSqlite(db);
  const seeded = seedHistory(db, now);
  // Written straight into run_facts, not through the store: tell the report bookkeeping.
  refreshBookkeeping(db);
  db.close();
  say(`seeded ${seeded.runs} synthetic runs of project "demo-sim" over 12 months into ${dbPath}`);

  receiver = await startReceiver();
  say(`receiver listening on 127.0.0.1:${receiver.port}`);
  const collector = `127.0.0.1:${receiver.port}`;

  const runs = population();
  await runPool(
    runs.map((r) => () => beaconRun(r, collector)),
    4,
  );
  say(`ran ${runs.length} real runs under \`beacon run\` (${new Set(runs.map((r) => r.user)).size} simulated users)`);
  await sendParslAndJunk(receiver.port);
  say('sent 4 Parsl-format datagrams (both wire formats) and 3 hostile ones');
  await waitForRuns(runs.length);

  await receiver.stop();
  say('receiver stopped (SIGTERM): everything accepted is committed');

  mkdirSync(outDir, { recursive: true });
  const html = join(outDir, `usage-report-${month}.html`);
  await exec(process.execPath, [reportsCli, 'monthly', '--db', dbPath, '--month', month, '--format', 'html', '--out', html]);
  say(`HTML report: ${html}`);
  const md = await exec(process.execPath, [reportsCli, 'monthly', '--db', dbPath, '--month', month, '--format', 'md'], true);
  process.stdout.write(md);

  // 5. the last 12 months as one period (distinct users counted once), and the static site.
  const first = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 11, 1));
  const from = `${first.getUTCFullYear()}-${String(first.getUTCMonth() + 1).padStart(2, '0')}`;
  const periodHtml = join(outDir, `usage-report-${from}_${month}.html`);
  await exec(process.execPath, [
    reportsCli,
    'period',
    '--db',
    dbPath,
    '--from',
    from,
    '--to',
    month,
    '--format',
    'html',
    '--out',
    periodHtml,
  ]);
  say(`period report (${from} to ${month}): ${periodHtml}`);
  const period = JSON.parse(
    await exec(process.execPath, [reportsCli, 'period', '--db', dbPath, '--from', from, '--to', month, '--format', 'json'], true),
  );
  say(`period summary, ready to paste into a grant report:\n\n${period.summary_text}\n`);
  const site = join(outDir, 'site');
  await exec(process.execPath, [reportsCli, 'site', '--db', dbPath, '--out', site]);
  say(`static site (every month, the latest period, JSON): ${join(site, 'index.html')}`);
} finally {
  // Never leave the daemon behind, even when a step above failed.
  receiver?.kill();
  rmSync(work, { recursive: true, force: true });
}

function population() {
  // 8 users; every user runs the workflow a few times, some runs fail. Exit codes seen by fewer
  // than 5 users are suppressed in the report, as they would be for a real project.
  const runs = [];
  for (let u = 0; u < 8; u++) {
    const version = u < 5 ? '1.3.0' : '1.2.1';
    runs.push({ user: u, version, exit: '0', ms: 40 + u * 15 });
    runs.push({ user: u, version, exit: '0', ms: 120 + u * 10 });
    if (u < 6) runs.push({ user: u, version, exit: '1', ms: 30 });
    if (u === 7) runs.push({ user: u, version, exit: 'SIGTERM', ms: 20 });
  }
  return runs;
}

function beaconRun(r, collector) {
  const home = join(work, `home-${r.user}`);
  const env = { ...process.env, BEACON_HOME: home, BEACON_PROJECT: 'demo-sim', BEACON_VERSION: r.version };
  delete env.DO_NOT_TRACK;
  delete env.PARSL_TRACKING;
  delete env.BEACON_DEBUG;
  return exec(
    process.execPath,
    [beaconCli, 'run', '--collector', collector, '--', process.execPath, workflow, r.exit, String(r.ms)],
    false,
    env,
    true,
    (err) => {
      // Every simulated user is new, so each gets the first-run notice on stderr; show it once.
      if (err.trim() && !noticeShown) {
        noticeShown = true;
        process.stderr.write(`demo: the first-run notice each new user sees once (stderr):\n${err.replace(/^/gm, '  | ')}\n`);
      }
    },
  );
}

async function runPool(tasks, n) {
  const queue = [...tasks];
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (queue.length) await queue.shift()();
    }),
  );
}

function startReceiver() {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [beaconCli, 'receive', '--host', '127.0.0.1', '--port', '0', '--db', dbPath, '--rate-limit', 'off'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let buf = '';
    let exited = false;
    const exitedP = new Promise((r) =>
      child.on('exit', (code) => {
        exited = true;
        r(code);
      }),
    );
    child.on('error', reject);
    exitedP.then((code) => reject(new Error(`receiver exited early with status ${code}`)));
    // The daemon logs JSON lines (pino) on stdout; the `listening` line carries the bound port.
    child.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let rec;
        try {
          rec = JSON.parse(line);
        } catch {
          continue;
        }
        if (rec.msg === 'listening') {
          resolve({
            port: rec.port,
            kill: () => {
              if (!exited) child.kill('SIGKILL');
            },
            async stop() {
              if (!exited) child.kill('SIGTERM');
              const code = await exitedP;
              if (code !== 0) throw new Error(`receiver exited with status ${code}`);
            },
          });
        }
      }
    });
  });
}

async function waitForRuns(expected) {
  // Datagrams are in flight or batched for up to --flush-ms: wait until every run's end is
  // committed (bounded), so the receiver is stopped only after it has read everything sent.
  const db = new Database(dbPath, { readonly: true });
  try {
    const q = db.prepare("SELECT count(*) AS n FROM runs WHERE project = 'demo-sim' AND has_end = 1 AND first_seen_ms >= ?");
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (q.get(now.getTime()).n >= expected) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    say(`warning: only ${q.get(now.getTime()).n} of ${expected} runs arrived (UDP may drop on a loaded machine)`);
  } finally {
    db.close();
  }
}

function exec(cmd, args, capture = false, env = process.env, allowFailure = false, onStderr = undefined) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', capture ? 'pipe' : 'ignore', onStderr ? 'pipe' : 'inherit'] });
    let out = '';
    let err = '';
    if (capture) child.stdout.on('data', (d) => (out += d));
    if (onStderr) child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (onStderr) onStderr(err);
      if (code === 0 || allowFailure) resolve(out);
      else reject(new Error(`${args[1] ?? cmd} exited with ${code}`));
    });
  });
}

async function sendParslAndJunk(port) {
  const sock = createSocket('udp4');
  const t = Math.floor(Date.now() / 1000);
  const send = (s) => new Promise((r) => sock.send(Buffer.isBuffer(s) ? s : Buffer.from(s), port, '127.0.0.1', () => r()));
  const legacy = '0b7f0d3e-2a4c-4b8e-9a4f-2f2b6f0d9c11';
  const v1 = '5a0c7d7e-1f7e-4a47-b0a5-3f1c7a6b2e90';
  await send(
    JSON.stringify({
      uuid: legacy,
      uname: '3c2b1a0f9e',
      hname: '9d8c7b6a5f',
      test: false,
      parsl_v: '2023.03.20',
      python_v: '3.10.12',
      os: 'Linux',
      os_v: '5.15.0',
      start: t - 120,
    }),
  );
  await send(JSON.stringify({ uuid: legacy, end: t, t_apps: 40, sites: 1, c_time: null, failed: 2, test: false }));
  await send(
    '1' +
      JSON.stringify({
        correlator: v1,
        parsl_v: '2025.01.13',
        python_v: '3.11.7',
        'platform.system': 'Linux',
        tracking_level: 3,
        components: ['parsl.config.Config'],
        start: t - 600,
      }),
  );
  await send(
    '1' +
      JSON.stringify({
        correlator: v1,
        end: t,
        execution_time: 600,
        components: [{ c: 'parsl.dataflow.dflow.DataFlowKernel', app_count: 12, app_fails: 1 }],
      }),
  );
  await send('not json at all');
  await send('{"v":1,"kind":"start","run":"truncated');
  await send(Buffer.alloc(9000, 0x7b));
  sock.close();
}
