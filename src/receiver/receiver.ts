import type { Server } from 'node:http';
import { AggregatorRegistry } from 'prom-client';
import { openStore } from '../store/open-store.js';
import type { PostgresStore } from '../store/postgres-store.js';
import { settleSeconds, startPostgresSettler, startSettler } from '../store/settler.js';
import type { RunStore } from '../store/types.js';
import { Batcher } from './batcher.js';
import { ReceiverClock } from './clock.js';
import { RecentKeys } from './dedupe.js';
import { KernelDrops } from './kernel-drops.js';
import { listenUdp, RECV_BUFFER_BYTES, type Listening } from './listen.js';
import { createLogger } from './logger.js';
import { createMetricsRegistry, serveMetrics } from './metrics.js';
import type { ReceiveOptions } from './options.js';
import { createPipeline } from './pipeline.js';
import { loadCollectorSecret, type CollectorSecret } from './collector-secret.js';
import { bindSecretPostgres, bindSecretSqlite } from '../store/legacy-rekey.js';
import { RateLimiter } from './rate-limit.js';
import { Stats } from './stats.js';
import { useStoreThread, WorkerStore } from './worker-store.js';
import { statsLine } from './stats-line.js';
import type { WorkerListening, WorkerRole } from './worker-role.js';

/** How often kernel drops are read from /proc (cheap, but not per datagram). */
const KERNEL_POLL_MS = 1000;

/**
 * One receiver: runs until SIGTERM/SIGINT, then stops reading, commits everything accepted,
 * closes the store and resolves 0. Setup failures (bad option, DB, port) throw a BeaconError
 * before anything is received, and release whatever was already opened.
 *
 * With a `role` it is one worker of `--workers N` (src/receiver/workers.ts): it binds as the
 * primary says, leaves the metrics server to the primary (which asks it for its registry over IPC)
 * and reports "worker listening" instead of "listening".
 */
export async function runReceiver(opts: ReceiveOptions, role?: WorkerRole): Promise<number> {
  const log = role ? createLogger(opts.logLevel).child({ worker: role.slot }) : createLogger(opts.logLevel);
  let store: RunStore | undefined;
  let udp: Listening | undefined;
  let metricsServer: Server | undefined;
  let secret: CollectorSecret;
  let secretLog: Record<string, unknown>;
  try {
    store = !opts.store && useStoreThread() ? await WorkerStore.open(opts.db) : await openStore({ db: opts.db, store: opts.store });
    secret = loadCollectorSecret(opts.secretFile, (msg) => log.warn(msg));
    const bound = store.kind === 'postgres' ? await bindSecretPostgres((store as PostgresStore).pool, secret) : bindSecretSqlite(opts.db, secret);
    secretLog = { secretFile: secret.path, secretCreated: secret.created, secretFingerprint: secret.fingerprint, legacyIdsRekeyed: bound.rekeyed };
    udp = await listenUdp(opts.host, role?.port ?? opts.port, RECV_BUFFER_BYTES, role?.bind ?? 'exclusive');
  } catch (e) {
    await udp?.close();
    await store?.close();
    throw e;
  }
  const stats = new Stats();
  const clock = new ReceiverClock();
  const batcher = new Batcher(store, stats, log, { flushMs: opts.flushMs });
  const kernel = role?.countKernelDrops === false ? undefined : new KernelDrops(udp.port);
  let rxQueueBytes = 0;
  let lastDrops = kernel?.read()?.drops ?? 0;
  const pollKernel = (): void => {
    const q = kernel?.read();
    if (!q) return;
    rxQueueBytes = q.rxQueueBytes;
    if (q.drops > lastDrops) stats.count('kernel_drops', clock.current.day || new Date().toISOString().slice(0, 10), q.drops - lastDrops);
    lastDrops = q.drops;
  };

  if (opts.metricsPort !== undefined) {
    const registry = createMetricsRegistry({
      stats,
      pending: () => batcher.pending,
      rxQueueBytes: () => rxQueueBytes,
      recvBufferBytes: udp.recvBufferBytes,
      lastFlushMs: () => batcher.lastFlushMs,
    });
    if (role) {
      // Constructing one installs prom-client's IPC responder in this worker; the primary serves.
      new AggregatorRegistry();
      AggregatorRegistry.setRegistries([registry]);
    } else {
      try {
        metricsServer = await serveMetrics(registry, opts.metricsHost, opts.metricsPort);
      } catch (e) {
        await udp.close();
        await batcher.close();
        await store.close();
        throw e;
      }
    }
  }

  const handle = createPipeline({
    clock, stats, log,
    recent: new RecentKeys(),
    limiter: opts.rateLimit === undefined ? undefined : new RateLimiter(opts.rateLimit),
    secret,
    accept: (r) => batcher.add(r),
    hasRoom: () => batcher.hasRoom(),
  });
  // A UDP socket error after bind (rare: e.g. ENOMEM) must not kill the daemon with datagrams pending.
  udp.start(handle, (err) => log.error({ err }, 'socket error'));
  if (udp.reader === 'dgram' && process.platform === 'linux' && process.env.BEACON_UDP_READER !== 'dgram' && role?.bind !== 'shared') {
    log.warn('the native batch UDP reader is not built (npm install builds it); reading through node:dgram costs more CPU per datagram');
  }

  if (udp.recvBufferBytes < RECV_BUFFER_BYTES && role?.countKernelDrops !== false) {
    log.warn({ asked: RECV_BUFFER_BYTES, granted: udp.recvBufferBytes }, 'kernel granted a smaller receive buffer than asked; raise net.core.rmem_max');
  }
  const metricsPort = metricsServer ? (metricsServer.address() as { port: number }).port : undefined;
  // Settled-run aggregates for reports (one settler per receiver process, not per worker).
  // Started once nothing can fail any more, so no error path has to stop it.
  const settling = !role || role.slot === 0;
  const settler = !settling ? null
    : store.kind === 'postgres' ? startPostgresSettler((store as PostgresStore).pool, settleSeconds(), log)
    : store.kind === 'sqlite' ? startSettler(opts.db, settleSeconds(), log) : null;
  log.info(
    { host: opts.host, port: udp.port, store: store.kind, db: store.kind === 'sqlite' ? opts.db : undefined, flushMs: opts.flushMs,
      storeThread: store instanceof WorkerStore, reader: udp.reader, rateLimit: opts.rateLimit ?? 'off', recvBufferBytes: udp.recvBufferBytes, metricsPort,
      bind: role?.bind, ...secretLog },
    role ? 'worker listening' : 'listening',
  );
  if (role) process.send?.({ type: 'beacon:listening', port: udp.port, store: store.kind, recvBufferBytes: udp.recvBufferBytes } satisfies WorkerListening);

  const kernelTimer = setInterval(pollKernel, KERNEL_POLL_MS);
  const statsTimer = setInterval(() => log.info(statsLine(stats, batcher.pending), 'stats'), opts.statsIntervalMs);

  // The handlers stay installed until the end: a second signal during the (short) shutdown must
  // not kill the process before everything accepted is committed. (A worker usually gets two: the
  // primary forwards one, and systemd or a terminal signals the whole process group.)
  let onSignal: (s: NodeJS.Signals) => void = () => {};
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    onSignal = (s) => resolve(s);
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  // Stop reading first, so "everything accepted" is a fixed set, then commit it all.
  await udp.close();
  clearInterval(kernelTimer);
  clearInterval(statsTimer);
  pollKernel();
  if (metricsServer) {
    metricsServer.closeAllConnections();
    metricsServer.close();
  }
  const committed = await batcher.close();
  await settler?.stop();
  await store.close();
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  log.info({ signal, ...statsLine(stats, batcher.pending) }, committed ? 'stopped' : 'stopped with uncommitted datagrams');
  return committed ? 0 : 1;
}
