import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import { openStore } from '../store/open-store.js';
import type { PostgresStore } from '../store/postgres/store.js';
import { startPostgresSettler, startSettler } from '../store/settler.js';
import { SqliteStore } from '../store/sqlite/store.js';
import type { RunStore } from '../store/types.js';
import { Batcher } from './batcher.js';
import { ReceiverClock } from './clock.js';
import { RecentKeys } from './dedupe.js';
import { KernelDrops } from './observe/kernel-drops.js';
import { listenUdp, RECV_BUFFER_BYTES, type Listening } from './listen.js';
import { createLogger } from './observe/logger.js';
import { createMetricsRegistry, serveMetrics } from './observe/metrics.js';
import type { ReceiveOptions } from './options.js';
import { createPipeline } from './pipeline.js';
import { loadCollectorSecret, type CollectorSecret } from './collector-secret.js';
import { bindSecretPostgres, bindSecretSqlite } from '../store/legacy-rekey.js';
import { RateLimiter } from './rate-limit.js';
import { prepareReserve, spillPlace } from './spill.js';
import { commitSpills, spillLeftover } from './spill-recovery.js';
import { Stats } from './observe/stats.js';
import { WorkerStore } from '../store/sqlite/worker-store.js';
import { statsLine } from './observe/stats-line.js';
import { readTokenFile, startHttpIngest, type HttpIngest } from './http-ingest.js';
import type { WorkerListening, WorkerRole } from './cluster/worker-role.js';

/** How often kernel drops are read from /proc (cheap, but not per datagram). */
const KERNEL_POLL_MS = 1000;

/**
 * One receiver: runs until SIGTERM/SIGINT, then stops reading, commits everything accepted,
 * closes the store and resolves 0. Setup failures (bad option, DB, port) throw a BeaconError
 * before anything is received, and release whatever was already opened.
 *
 * With a `role` it is one worker of `--workers N` (src/receiver/cluster/workers.ts): it binds as the
 * primary says, leaves the metrics server to the primary (which asks it for its registry over IPC)
 * and reports "worker listening" instead of "listening".
 */
export async function runReceiver(opts: ReceiveOptions, role?: WorkerRole): Promise<number> {
  const log = role ? createLogger(opts.logLevel).child({ worker: role.slot }) : createLogger(opts.logLevel);
  let store: RunStore | undefined;
  let udp: Listening | undefined;
  let metricsServer: Server | undefined;
  // Read before anything is opened: a missing token file is a usage error, not a half-started daemon.
  const tokens = opts.httpPort !== undefined && opts.ingestTokenFile ? readTokenFile(opts.ingestTokenFile) : undefined;
  const place = spillPlace(opts, role?.slot ?? 0);
  const bounds = opts.backlog;
  let secret: CollectorSecret;
  let secretLog: Record<string, unknown>;
  try {
    store = !opts.store && opts.storeThread ? await WorkerStore.open(opts.db) : await openStore({ db: opts.db, store: opts.store });
    secret = loadCollectorSecret(opts.secretFile, (msg) => log.warn(msg));
    // Bound (and raw legacy IDs re-keyed) before spills are committed: a spill holds records that
    // were already re-keyed with this secret, and a store keyed with another must be refused first.
    const bound =
      store.kind === 'postgres' ? await bindSecretPostgres((store as PostgresStore).pool, secret) : bindSecretSqlite(opts.db, secret);
    secretLog = {
      secretFile: secret.path,
      secretCreated: secret.created,
      secretFingerprint: secret.fingerprint,
      legacyIdsRekeyed: bound.rekeyed,
    };
    // What an earlier run could not commit goes in first (one process does it: worker 0 starts alone).
    if (!role || role.slot === 0) await commitSpills(store, place, log);
    const noReserve = prepareReserve(place, bounds.bytes);
    if (noReserve)
      log.warn({ dir: place.dir, err: noReserve }, 'no room for the spill reserve; a backlog left at exit needs free space there');
    udp = await listenUdp(opts.host, role?.port ?? opts.port, RECV_BUFFER_BYTES, role?.bind ?? 'exclusive', opts.udpReader);
  } catch (e) {
    await udp?.close();
    await store?.close();
    throw e;
  }
  const stats = new Stats();
  if (store instanceof WorkerStore) watchStoreThread(store, stats, log);
  const unmerged = (): number | undefined => (store instanceof WorkerStore ? store.unmerged : undefined);
  const clock = new ReceiverClock();
  const batcher = new Batcher(store, stats, log, { flushMs: opts.flushMs, bounds });
  const kernel = role?.countKernelDrops === false ? undefined : new KernelDrops(udp.port);
  let rxQueueBytes = 0;
  let lastDrops = kernel?.read()?.drops ?? 0;
  const pollKernel = (): void => {
    // A store on this thread has its write-ahead log looked after here (the store thread has its own timer).
    if (store instanceof SqliteStore) store.wal?.tick();
    const q = kernel?.read();
    if (!q) return;
    rxQueueBytes = q.rxQueueBytes;
    if (q.drops > lastDrops) stats.count('kernel_drops', clock.current.day || new Date().toISOString().slice(0, 10), q.drops - lastDrops);
    lastDrops = q.drops;
  };

  let registry: ReturnType<typeof createMetricsRegistry> | undefined;
  if (opts.metricsPort !== undefined) {
    registry = createMetricsRegistry({
      stats,
      pending: () => batcher.pending,
      unmerged: () => unmerged() ?? 0,
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

  const pipelineRecent = new RecentKeys();
  const handle = createPipeline({
    clock,
    stats,
    log,
    recent: pipelineRecent,
    limiter: opts.rateLimit === undefined ? undefined : new RateLimiter(opts.rateLimit),
    secret,
    accept: (r) => batcher.add(r),
    hasRoom: () => batcher.hasRoom(),
    dropReason: () => batcher.dropReason(),
  });
  // Installed before the first datagram can be accepted, and before "listening" is logged (a
  // supervisor may signal as soon as it reads that line: without a handler, SIGTERM's default
  // action would kill the process; seen on a loaded machine). They stay installed until the end:
  // a second signal during the (short) shutdown must not kill the process before everything
  // accepted is committed. (A worker usually gets two: the primary forwards one, and systemd or a
  // terminal signals the whole process group.)
  let onSignal: (s: NodeJS.Signals) => void = () => {};
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = (s) => resolve(s);
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  // HTTP ingest (one listener: the primary's first worker with --workers N). The same pipeline, minus
  // the per-source rate limit: its clients are a few relays, each carrying a whole cluster.
  let http: HttpIngest | undefined;
  if (opts.httpPort !== undefined && (!role || role.slot === 0)) {
    try {
      http = await startHttpIngest(
        { host: opts.httpHost, port: opts.httpPort, maxBodyBytes: opts.httpMaxBody, tokens },
        {
          sink: createPipeline({
            clock,
            stats,
            log,
            recent: pipelineRecent,
            secret,
            accept: (r) => batcher.add(r),
            hasRoom: () => batcher.hasRoom(),
            dropReason: () => batcher.dropReason(),
          }),
          stats,
          hasRoom: () => batcher.hasRoom(),
          commit: () => batcher.flush(),
          log,
          registry,
        },
      );
    } catch (e) {
      await udp.close();
      metricsServer?.close();
      await batcher.close();
      await store.close();
      throw e;
    }
  }
  // A UDP socket error after bind (rare: e.g. ENOMEM) must not kill the daemon with datagrams pending.
  udp.start(handle, (err) => log.error({ err }, 'socket error'));
  if (udp.reader === 'dgram' && process.platform === 'linux' && opts.udpReader !== 'dgram' && role?.bind !== 'shared') {
    log.warn('the native batch UDP reader is not built (npm install builds it); reading through node:dgram costs more CPU per datagram');
  }

  if (udp.recvBufferBytes < RECV_BUFFER_BYTES && role?.countKernelDrops !== false) {
    log.warn(
      { asked: RECV_BUFFER_BYTES, granted: udp.recvBufferBytes },
      'kernel granted a smaller receive buffer than asked; raise net.core.rmem_max',
    );
  }
  const metricsPort = metricsServer ? (metricsServer.address() as { port: number }).port : undefined;
  // Settled-run aggregates for reports (one settler per receiver process, not per worker).
  // Started once nothing can fail any more, so no error path has to stop it.
  const settling = !role || role.slot === 0;
  const settler = !settling
    ? null
    : store.kind === 'postgres'
      ? startPostgresSettler((store as PostgresStore).pool, opts.settleSeconds, log)
      : store.kind === 'sqlite'
        ? startSettler(opts.db, opts.settleSeconds, log)
        : null;
  log.info(
    {
      host: opts.host,
      port: udp.port,
      store: store.kind,
      db: store.kind === 'sqlite' ? opts.db : undefined,
      flushMs: opts.flushMs,
      storeThread: store instanceof WorkerStore,
      storeThreadTid: store instanceof WorkerStore ? store.tid : undefined,
      storeThreadNice: store instanceof WorkerStore ? store.nice : undefined,
      reader: udp.reader,
      rateLimit: opts.rateLimit ?? 'off',
      recvBufferBytes: udp.recvBufferBytes,
      metricsPort,
      httpPort: http?.port,
      httpTokens: http ? (tokens?.length ?? 0) : undefined,
      bind: role?.bind,
      ...secretLog,
    },
    role ? 'worker listening' : 'listening',
  );
  if (role)
    process.send?.({
      type: 'beacon:listening',
      port: udp.port,
      store: store.kind,
      recvBufferBytes: udp.recvBufferBytes,
    } satisfies WorkerListening);

  const kernelTimer = setInterval(pollKernel, KERNEL_POLL_MS);
  const statsTimer = setInterval(() => log.info(statsLine(stats, batcher.pending, unmerged()), 'stats'), opts.statsIntervalMs);

  const signal = await signalled;
  // Stop reading first, so "everything accepted" is a fixed set, then commit it all.
  await http?.close();
  await udp.close();
  clearInterval(kernelTimer);
  clearInterval(statsTimer);
  pollKernel();
  if (metricsServer) {
    metricsServer.closeAllConnections();
    metricsServer.close();
  }
  const committed = await batcher.close();
  // The store would not take the backlog: it goes to a spill file the next start commits.
  const left = committed ? undefined : batcher.takeLeftover();
  const lost = left ? spillLeftover(left, place, log) : 0;
  await settler?.stop();
  // The store thread merges what the intake log still holds (bounded; the rest waits for the next start).
  const merged = store instanceof WorkerStore ? await store.closeAndReport() : (await store.close(), true);
  if (!merged) log.warn({ unmerged: unmerged() }, 'intake log not wholly merged at exit; the next start merges the rest');
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  const line = { signal, ...statsLine(stats, batcher.pending), spilled: left && !lost ? left.records : 0, lost };
  log.info(line, committed ? 'stopped' : lost ? 'stopped with uncommitted datagrams' : 'stopped; backlog spilled for the next start');
  return lost ? 1 : 0;
}

/** The store thread's reports: merged counts into the totals, problems into the log (rate-limited). */
function watchStoreThread(store: WorkerStore, stats: Stats, log: Logger): void {
  let lastFailureLog = 0;
  store.on({
    merged: (r) => stats.written(r),
    mergeFailed: (message, code) => {
      const now = Date.now();
      if (now - lastFailureLog < 10_000) return;
      lastFailureLog = now;
      log.error({ err: message, code, unmerged: store.unmerged }, 'merging the intake log into the store failed; will retry');
    },
    damaged: (file, offset, why) =>
      log.error(
        { file, offset, why },
        'intake log damaged past this offset (a kill or power loss during a write); the rest of that file is skipped',
      ),
    adopted: (owner) => log.info({ owner }, 'merging the intake log of a receiver that is gone'),
  });
}
