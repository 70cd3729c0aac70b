import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { BeaconError } from '../../errors.js';
import { REJECT_REASONS } from '../../protocol/reject-reasons.js';
import type { Stats } from './stats.js';

export interface MetricsSources {
  stats: Stats;
  pending: () => number;
  /** Committed to the intake log, not yet merged into the tables reports read (SQLite store thread). */
  unmerged: () => number;
  rxQueueBytes: () => number;
  recvBufferBytes: number;
  lastFlushMs: () => number;
}

/**
 * Prometheus metrics in their own Registry (nothing global), read from the receiver's plain
 * counters at scrape time: the hot path increments numbers and never calls prom-client.
 */
export function createMetricsRegistry(src: MetricsSources): Registry {
  const registry = new Registry();
  const t = src.stats.totals;
  const counter = (name: string, help: string, read: () => number): void => {
    let exported = 0;
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const v = read();
        if (v > exported) this.inc(v - exported);
        exported = v;
      },
    });
  };
  counter('beacon_receiver_datagrams_received_total', 'Datagrams read from the socket.', () => t.received);
  counter('beacon_receiver_datagrams_stored_total', 'Datagrams that added a start or an end to the store.', () => t.stored);
  counter('beacon_receiver_datagrams_duplicate_total', 'Copies of datagrams already stored (memory or store).', () => t.duplicates);
  counter('beacon_receiver_kernel_drops_total', 'Datagrams the kernel dropped because the receive buffer was full.', () => t.kernel_drops);
  counter('beacon_receiver_overload_drops_total', 'Valid datagrams dropped because the store fell too far behind.', () => t.overload_drops);
  const rejected = new Map(REJECT_REASONS.map((r) => [r, 0]));
  new Counter({
    name: 'beacon_receiver_datagrams_rejected_total',
    help: 'Datagrams refused, by reason.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      for (const r of REJECT_REASONS) {
        const v = t[`rejected.${r}`];
        const before = rejected.get(r) ?? 0;
        this.inc({ reason: r }, v - before);
        rejected.set(r, v);
      }
    },
  });
  // `aggregator` is how the primary combines workers' values (src/receiver/cluster/workers.ts): counts add
  // up; a buffer size or a commit time is per worker, so the largest is reported.
  const gauge = (name: string, help: string, read: () => number, aggregator: 'sum' | 'max' = 'sum'): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      aggregator,
      collect() {
        this.set(read());
      },
    });
  };
  gauge('beacon_receiver_pending_records', 'Accepted datagrams waiting for the next commit.', src.pending);
  gauge('beacon_receiver_unmerged_records', 'Committed datagrams (in the intake log) not yet merged into the store tables.', src.unmerged);
  gauge('beacon_receiver_socket_queue_bytes', 'Bytes queued in the kernel receive buffer.', src.rxQueueBytes);
  gauge('beacon_receiver_recv_buffer_bytes', 'Receive buffer size granted by the kernel.', () => src.recvBufferBytes, 'max');
  gauge('beacon_receiver_last_commit_seconds', 'Duration of the last batch commit.', () => src.lastFlushMs() / 1000, 'max');
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** What /metrics serves: a Registry, or the primary's aggregate over its workers. */
export interface MetricsSource {
  contentType: string;
  metrics(): Promise<string>;
}

/** Serves GET /metrics; a taken port is the same one-line error as a taken UDP port. */
export async function serveMetrics(registry: MetricsSource, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && req.url !== '/')) {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new BeaconError('BEACON_ERR_PORT_IN_USE', `cannot serve metrics on ${host}:${port}: ${e.code ?? e.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
  return server;
}
