// The yardsticks bench/receiver.mjs runs beside `beacon receive`, in the same process tree and
// the same minute, each behind the same paced sender and pinned to the same core:
//   statsd   statsd 0.9.0 (devDependency), its UDP server with an 8 MiB receive buffer as the
//            others have (bench/lib/statsd-udp-server.cjs), flushing every 100 ms to a
//            backend that only counts (bench/lib/statsd-count-backend.cjs): in-memory counters,
//            nothing durable. It is sent statsd's own format carrying what a beacon datagram says.
//   bare     node:dgram + JSON.parse + a counter (bench/lib/bare-receiver.mjs): Node's floor.
// Each exposes {port, child, kept()} where kept() resolves the datagrams it has processed so far.
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT } from './sender.mjs';
import { sleep } from './receiver-process.mjs';

async function freeUdpPort() {
  const s = createSocket('udp4');
  await new Promise((r) => s.bind(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

async function freeTcpPort() {
  const srv = createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/**
 * The statsd datagrams of a run's start and end, from the beacon's sample identity: what a statsd
 * deployment would record for the same facts, in its own idiom: the run (and its user, host,
 * script) as set members, the identity and components as tags (`|#k:v`, statsd ≥ 0.8) of one
 * counter, the end's exit code as a tag and its duration as a timer. Four lines a datagram.
 */
export function statsdTemplates(identity) {
  const p = `beacon.${identity.project}`;
  const tags = `version:${identity.version},runtime:${identity.runtime},os:${identity.os},arch:${identity.arch},ci:${identity.ci}`;
  const comps = Object.entries(identity.components)
    .map(([k, v]) => `${k}:${v}`)
    .join(',');
  const who = `${p}.users:${identity.user}|s\n${p}.hosts:${identity.host}|s`;
  return {
    start: `${p}.runs.started:@RUN@|s\n${who}\n${p}.starts:1|c|#${tags},${comps}`,
    end: `${p}.runs.ended:@RUN@|s\n${who}\n${p}.ends:1|c|#${tags},exit:0\n${p}.duration_ms:60000|ms`,
  };
}

export async function startStatsd(pin, core, dir) {
  const port = await freeUdpPort();
  const countFile = path.join(dir, `statsd-count-${port}.json`);
  const config = path.join(dir, `statsd-${port}.js`);
  writeFileSync(
    config,
    JSON.stringify({
      mgmt_port: await freeTcpPort(),
      mgmt_address: '127.0.0.1',
      flushInterval: 100,
      servers: [{ server: path.join(ROOT, 'bench', 'lib', 'statsd-udp-server.cjs'), port, address: '127.0.0.1' }],
      backends: [path.join(ROOT, 'bench', 'lib', 'statsd-count-backend.cjs')],
      countFile,
      deleteIdleStats: true,
    }),
  );
  const [cmd, argv] = pin(core, process.execPath, [path.join(ROOT, 'node_modules', 'statsd', 'stats.js'), config]);
  const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'inherit'], cwd: path.join(ROOT, 'node_modules', 'statsd') });
  for (let i = 0; !existsSync(countFile); i++) {
    if (child.exitCode !== null || i > 200) throw new Error(`statsd did not start (exit ${child.exitCode})`);
    await sleep(50);
  }
  return {
    name: 'statsd',
    port,
    child,
    async kept() {
      // Two flushes later everything read has been counted.
      await sleep(250);
      const t = JSON.parse(readFileSync(countFile, 'utf8'));
      if (t.badLines) throw new Error(`statsd saw ${t.badLines} bad lines`);
      return t.packets;
    },
    stop: () => stopChild(child),
  };
}

export async function startBare(pin, core) {
  const [cmd, argv] = pin(core, process.execPath, [path.join(ROOT, 'bench', 'lib', 'bare-receiver.mjs')]);
  const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const waiting = [];
  let first;
  const ready = new Promise((r) => (first = r));
  lines.on('line', (l) => {
    const j = JSON.parse(l);
    if ('port' in j) first(j.port);
    else waiting.shift()?.(j);
  });
  const port = await ready;
  return {
    name: 'bare',
    port,
    child,
    async kept() {
      const j = await new Promise((r) => {
        waiting.push(r);
        child.stdin.write('count\n');
      });
      if (j.failed) throw new Error(`bare floor failed to parse ${j.failed} datagrams`);
      return j.count;
    },
    stop: () => {
      child.stdin.end();
      return stopChild(child);
    },
  };
}

function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  return exited;
}

/** CPU ms (user + system) of every thread of a process: Map tid → ms, from /proc/<pid>/task/<tid>/stat. */
export function threadCpuMs(pid) {
  const out = new Map();
  let tids = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ');
      out.set(Number(tid), ((Number(f[11]) + Number(f[12])) * 1000) / 100);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/** CPU used between two threadCpuMs snapshots, split into main thread, `named` threads, and the rest. */
export function cpuByThread(before, after, pid, named = {}) {
  // A build that does not log its store thread's id: the busiest thread but the main one is it.
  if ('store' in named && named.store === undefined) {
    let most = -1;
    for (const [tid, ms] of after) {
      const d = ms - (before.get(tid) ?? 0);
      if (tid !== pid && d > most) {
        most = d;
        named = { ...named, store: tid };
      }
    }
  }
  const res = { main: 0, ...Object.fromEntries(Object.keys(named).map((k) => [k, 0])), other: 0 };
  for (const [tid, ms] of after) {
    const d = ms - (before.get(tid) ?? 0);
    const name = tid === pid ? 'main' : (Object.keys(named).find((k) => named[k] === tid) ?? 'other');
    res[name] += d;
  }
  return res;
}
