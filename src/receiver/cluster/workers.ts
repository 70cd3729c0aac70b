import cluster, { type Worker } from 'node:cluster';
import type { Server } from 'node:http';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import { createLogger } from '../observe/logger.js';
import { serveMetrics } from '../observe/metrics.js';
import type { ReceiveOptions } from '../options.js';
import { nativeUdp } from '../native-udp.js';
import { portSharing, roleEnv, type WorkerListening, type WorkerRole } from './worker-role.js';

/** Restart delay after a crash: doubles per crash up to the cap, back to the start once stable. */
const BACKOFF_START_MS = 1000;
const BACKOFF_MAX_MS = 30_000;
const STABLE_AFTER_MS = 30_000;

interface Slot {
  index: number;
  worker?: Worker;
  ready: boolean;
  startedAt: number;
  backoffMs: number;
  timer?: NodeJS.Timeout;
}

type Started = { ok: true; info: WorkerListening } | { ok: false; code: number };

/**
 * `beacon receive --workers N`: this process (the cluster primary) reads nothing itself. It forks N
 * receivers that share the UDP port (reusePort on Node ≥ 22.12, the primary's shared socket on
 * Node 20; see worker-role.ts), each with its own store connection; restarts a worker that dies
 * with backoff; serves the workers' metrics summed; and on SIGTERM/SIGINT has every worker commit
 * and exit, exiting 0 only if they all did.
 *
 * Start-up is all or nothing: the first worker starts alone (it applies store migrations, so the
 * others never race on them, and tells the port it got for `--port 0`), then the rest. If any fails
 * to start (port taken, database down, schema too new) the others are stopped and its exit status
 * is returned: its one-line error is already on stderr, and a restart loop would only repeat it.
 */
export async function runWorkers(opts: ReceiveOptions): Promise<number> {
  const log = createLogger(opts.logLevel).child({ primary: true });
  const bind = portSharing(process.versions.node, nativeUdp(opts.udpReader) !== undefined);
  const slots: Slot[] = Array.from({ length: opts.workers }, (_, index) => ({
    index,
    ready: false,
    startedAt: 0,
    backoffMs: BACKOFF_START_MS,
  }));
  let stopping = false;
  let port = opts.port;
  let onSignal: (s: NodeJS.Signals) => void = () => {};
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = (s) => {
      stopping = true;
      resolve(s);
    };
  });
  // Installed before any fork: a signal during start-up still stops every worker cleanly.
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const restarts = { n: 0 };
  let metricsServer: Server | undefined;
  const finish = async (code: number, signal?: NodeJS.Signals): Promise<number> => {
    stopping = true;
    const codes = await stopAll(slots);
    metricsServer?.closeAllConnections();
    metricsServer?.close();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    const failed = codes.filter((c) => c.code !== 0 && c.ready);
    if (signal) log.info({ signal, workers: codes }, failed.length ? 'stopped; some workers failed to commit' : 'stopped');
    return failed.length ? Math.max(code, 1) : code;
  };

  cluster.setupPrimary({ exec: process.argv[1], args: process.argv.slice(2) });
  if (opts.metricsPort !== undefined) {
    metricsServer = await serveMetrics(primaryMetrics(slots, restarts), opts.metricsHost, opts.metricsPort);
  }

  const start = (slot: Slot): Promise<Started> => {
    const role: WorkerRole = { slot: slot.index, port, bind, countKernelDrops: bind === 'reuseport' || slot.index === 0 };
    const worker = cluster.fork(roleEnv(role));
    slot.worker = worker;
    slot.ready = false;
    slot.startedAt = Date.now();
    return new Promise<Started>((resolve) => {
      worker.on('message', (m: WorkerListening) => {
        if (m?.type !== 'beacon:listening') return;
        slot.ready = true;
        resolve({ ok: true, info: m });
      });
      worker.once('exit', (code, sig) => {
        const wasReady = slot.ready;
        slot.worker = undefined;
        slot.ready = false;
        resolve({ ok: false, code: code ?? 1 });
        if (wasReady && !stopping) restartLater(slot, code, sig);
      });
    });
  };

  const restartLater = (slot: Slot, code: number | null, sig: string | null): void => {
    if (Date.now() - slot.startedAt >= STABLE_AFTER_MS) slot.backoffMs = BACKOFF_START_MS;
    const delayMs = slot.backoffMs;
    slot.backoffMs = Math.min(slot.backoffMs * 2, BACKOFF_MAX_MS);
    log.error({ worker: slot.index, code, signal: sig, restartInMs: delayMs }, 'worker exited unexpectedly; restarting it');
    slot.timer = setTimeout(() => void retry(slot), delayMs);
  };
  // A restart that fails before listening (say the database is down) is retried with more backoff.
  const retry = async (slot: Slot): Promise<void> => {
    slot.timer = undefined;
    if (stopping) return;
    restarts.n++;
    const r = await start(slot);
    if (r.ok) log.info({ worker: slot.index }, 'worker restarted');
    else if (!stopping) restartLater(slot, r.code, null);
  };

  // A stop asked for during start-up is not a failure: nothing was accepted yet.
  const first = await start(slots[0]!);
  if (!first.ok) return finish(stopping ? 0 : first.code);
  // With reuseport each worker binds by itself: the rest must ask for the port the first one got.
  if (bind === 'reuseport') port = first.info.port;
  const rest = await Promise.all(slots.slice(1).map(start));
  const failed = rest.find((r) => !r.ok);
  if (failed && !failed.ok) return finish(stopping ? 0 : failed.code);
  const metricsPort = metricsServer ? (metricsServer.address() as { port: number }).port : undefined;
  log.info(
    {
      host: opts.host,
      port: first.info.port,
      workers: opts.workers,
      bind,
      store: first.info.store,
      recvBufferBytes: first.info.recvBufferBytes,
      metricsPort,
    },
    'listening',
  );

  const signal = await signalled;
  return finish(0, signal);
}

/** SIGTERM to every live worker (each commits what it accepted), then their exit codes. */
async function stopAll(slots: Slot[]): Promise<Array<{ worker: number; code: number | string; ready: boolean }>> {
  return Promise.all(
    slots.map(async (slot) => {
      clearTimeout(slot.timer);
      const w = slot.worker;
      if (!w) return { worker: slot.index, code: 0, ready: false };
      const ready = slot.ready;
      const exited = new Promise<number | string>((r) => w.process.once('exit', (code, sig) => r(code ?? sig ?? 1)));
      if (w.process.exitCode === null && w.process.signalCode === null) w.process.kill('SIGTERM');
      return { worker: slot.index, code: await exited, ready };
    }),
  );
}

/** The workers' registries summed by prom-client (counters add up), plus the primary's own two. */
function primaryMetrics(slots: Slot[], restarts: { n: number }): { contentType: string; metrics(): Promise<string> } {
  const aggregator = new AggregatorRegistry();
  const own = new Registry();
  new Gauge({
    name: 'beacon_receiver_workers',
    help: 'Worker processes currently receiving.',
    registers: [own],
    collect() {
      this.set(slots.filter((s) => s.ready).length);
    },
  });
  let exported = 0;
  new Counter({
    name: 'beacon_receiver_worker_restarts_total',
    help: 'Workers restarted after exiting unexpectedly.',
    registers: [own],
    collect() {
      this.inc(restarts.n - exported);
      exported = restarts.n;
    },
  });
  return {
    contentType: aggregator.contentType,
    metrics: async () => `${await aggregator.clusterMetrics()}\n${await own.metrics()}`,
  };
}
