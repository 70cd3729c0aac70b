import type { Server } from 'node:http';
import { KernelDrops } from '../receiver/observe/kernel-drops.js';
import { createLogger } from '../receiver/observe/logger.js';
import { listenUdp, RECV_BUFFER_BYTES, type Listening } from '../receiver/listen.js';
import { serveMetrics } from '../receiver/observe/metrics.js';
import { RateLimiter } from '../receiver/rate-limit.js';
import { DiskQueue } from './disk-queue.js';
import { Forwarder } from './forwarder.js';
import { createIntake, RecentDigests } from './intake.js';
import { createRelayMetrics } from './metrics.js';
import { describeForward, describeProxy, type RelayOptions } from './options.js';
import { RelayStats } from './relay-stats.js';
import { createUpstream } from './upstream.js';

/**
 * One relay: runs until SIGTERM/SIGINT, then stops reading, forwards what it holds in memory if
 * upstream answers within a few seconds and queues the rest on disk, and resolves 0. Setup
 * failures (bad option, queue directory, port) throw a BeaconError before anything is received.
 */
export async function runRelay(opts: RelayOptions): Promise<number> {
  const log = createLogger(opts.logLevel);
  const queue = new DiskQueue(opts.queueDir, opts.queueMaxBytes, opts.queueMaxDatagrams);
  queue.open();
  const udp: Listening = await listenUdp(opts.host, opts.port, RECV_BUFFER_BYTES);
  const stats = new RelayStats();
  // Datagrams the kernel dropped because the relay did not read them fast enough: counted, as the receiver does.
  const kernel = new KernelDrops(udp.port);
  let lastDrops = kernel.read()?.drops ?? 0;
  const pollKernel = (): void => {
    const q = kernel.read();
    if (!q) return;
    if (q.drops > lastDrops) stats.kernelDrops += q.drops - lastDrops;
    lastDrops = q.drops;
  };
  const kernelTimer = setInterval(pollKernel, 1000);
  const forwarder = new Forwarder(createUpstream(opts.forward, opts.token, opts.proxy), queue, stats, log, opts.batchMs);
  let metricsServer: Server | undefined;
  if (opts.metricsPort !== undefined) {
    const registry = createRelayMetrics({ stats, pending: () => forwarder.pending, queue, down: () => forwarder.down });
    try {
      metricsServer = await serveMetrics(registry, opts.metricsHost, opts.metricsPort);
    } catch (e) {
      clearInterval(kernelTimer);
      await udp.close();
      await forwarder.stop(0);
      throw e;
    }
  }
  udp.start(
    createIntake({
      stats,
      recent: new RecentDigests(),
      limiter: opts.rateLimit === undefined ? undefined : new RateLimiter(opts.rateLimit),
      forward: (d) => forwarder.add(d),
    }),
    (err) => log.error({ err }, 'socket error'),
  );
  const metricsPort = metricsServer ? (metricsServer.address() as { port: number }).port : undefined;
  log.info(
    {
      host: opts.host,
      port: udp.port,
      forward: describeForward(opts.forward),
      proxy: opts.proxy ? describeProxy(opts.proxy) : 'none',
      token: opts.token !== undefined,
      queueDir: opts.queueDir,
      queueMaxBytes: opts.queueMaxBytes,
      queueMaxDatagrams: opts.queueMaxDatagrams,
      queued: queue.datagrams,
      rateLimit: opts.rateLimit ?? 'off',
      reader: udp.reader,
      metricsPort,
    },
    'listening',
  );
  const statsTimer = setInterval(() => log.info(stats.line(forwarder.pending, queue, forwarder.down), 'stats'), opts.statsIntervalMs);

  // Installed until the end: a second signal during shutdown must not cut it short.
  let onSignal: (s: NodeJS.Signals) => void = () => {};
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    onSignal = (s) => resolve(s);
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  // Stop reading first, so "everything accepted" is a fixed set.
  pollKernel();
  await udp.close();
  clearInterval(statsTimer);
  clearInterval(kernelTimer);
  await forwarder.stop();
  if (metricsServer) {
    metricsServer.closeAllConnections();
    metricsServer.close();
  }
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  log.info({ signal, ...stats.line(forwarder.pending, queue, forwarder.down) }, 'stopped');
  return 0;
}
