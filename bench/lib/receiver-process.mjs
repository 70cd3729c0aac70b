// A real `beacon receive` as a child process, read through its Prometheus metrics.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './sender.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts `beacon receive --port 0 --metrics-port 0 …args`; resolves once its "listening" line is out. */
export function startReceiver(
  args,
  pin = (_core, cmd, a) => [cmd, a],
  core = 0,
  cli = process.env.BENCH_CLI ?? path.join(ROOT, 'dist/cli/beacon.js'),
) {
  const [cmd, argv] = pin(core, process.execPath, [
    cli,
    'receive',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--metrics-port',
    '0',
    '--rate-limit',
    'off',
    ...args,
  ]);
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      // Keep the pipe drained (stats lines) once started.
      if (out.length > 1 << 20) out = out.slice(-4096);
      const line = out.split('\n').find((l) => l.includes('"msg":"listening"'));
      if (line) {
        const j = JSON.parse(line);
        resolve({
          child,
          port: j.port,
          metricsPort: j.metricsPort,
          recvBufferBytes: j.recvBufferBytes,
          reader: j.reader,
          storeThreadTid: j.storeThreadTid,
        });
      }
    });
    child.once('exit', (code) => reject(new Error(`receiver exited ${code}: ${out}`)));
  });
}

export async function stopReceiver(rx) {
  if (rx.child.exitCode !== null || rx.child.signalCode !== null) return rx.child.exitCode;
  const exited = new Promise((r) => rx.child.once('exit', (code) => r(code)));
  rx.child.kill('SIGTERM');
  return exited;
}

export async function metrics(port) {
  const text = await scrape(`http://127.0.0.1:${port}/metrics`);
  const get = (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return {
    received: get('beacon_receiver_datagrams_received_total'),
    kernelDrops: get('beacon_receiver_kernel_drops_total'),
    pending: get('beacon_receiver_pending_records'),
    // Committed to the intake log, not yet merged into run_facts (NaN from builds without one: 0).
    unmerged: get('beacon_receiver_unmerged_records') || 0,
  };
}

/** The metrics of several receivers, summed. */
export async function totalMetrics(ports) {
  const all = await Promise.all(ports.map(metrics));
  return all.reduce((a, m) => ({
    received: a.received + m.received,
    kernelDrops: a.kernelDrops + m.kernelDrops,
    pending: a.pending + m.pending,
    unmerged: a.unmerged + m.unmerged,
  }));
}

/**
 * Waits until the receivers have read, committed and merged everything they will: received stops
 * moving, nothing is pending or unmerged, then one more flush window plus the kernel-drop poll (1 s).
 */
export async function settle(metricsPorts, flushMs) {
  let last = -1;
  for (;;) {
    await sleep(flushMs * 3);
    const m = await totalMetrics(metricsPorts);
    if (m.received === last && m.pending === 0 && m.unmerged === 0) break;
    last = m.received;
  }
  await sleep(1100);
  return totalMetrics(metricsPorts);
}

/** CPU time (user + system, all threads) a process has used, in ms, from /proc/<pid>/stat. */
export function cpuMs(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in USER_HZ (100)
  } catch {
    return NaN;
  }
}

/**
 * GET a metrics page, once more on a dropped connection: fetch reuses a kept-alive socket, and a
 * scrape that comes just as the server's keep-alive timeout (5 s) closes it fails with "other side
 * closed" through no fault of the receiver (it ended a whole benchmark run once).
 */
async function scrape(url) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await (await fetch(url)).text();
    } catch (e) {
      if (attempt >= 3) throw e;
    }
  }
}
