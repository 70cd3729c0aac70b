import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { RelayStats } from './relay-stats.js';

export interface RelayMetricsSources {
  stats: RelayStats;
  pending: () => number;
  queue: { bytes: number; datagrams: number; maxBytes: number; maxDatagrams: number };
  down: () => boolean;
}

/** Prometheus metrics in their own Registry, read from the relay's plain counters at scrape time. */
export function createRelayMetrics(src: RelayMetricsSources): Registry {
  const registry = new Registry();
  const s = src.stats;
  const counter = (name: string, help: string, read: () => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  };
  counter('beacon_relay_datagrams_received_total', 'Datagrams read from the socket.', () => s.received);
  counter('beacon_relay_datagrams_forwarded_total', 'Datagrams upstream has taken.', () => s.forwarded);
  counter('beacon_relay_datagrams_duplicate_total', 'Copies of datagrams already forwarded.', () => s.duplicates);
  counter('beacon_relay_kernel_drops_total', 'Datagrams the kernel dropped because the receive buffer was full.', () => s.kernelDrops);
  counter('beacon_relay_datagrams_queued_total', 'Datagrams written to the disk queue while upstream was unreachable.', () => s.queued);
  counter(
    'beacon_relay_queue_drops_total',
    'Accepted datagrams dropped: the queue was full or the disk refused the write.',
    () => s.queueDrops,
  );
  counter('beacon_relay_upstream_refused_total', 'Datagrams upstream refused as too large.', () => s.upstreamRefused);
  counter('beacon_relay_upstream_failures_total', 'Batches upstream did not take (each is retried).', () => s.upstreamFailures);
  new Counter({
    name: 'beacon_relay_datagrams_rejected_total',
    help: 'Datagrams refused before forwarding, by reason.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ reason: 'rate_limited' }, s.rateLimited);
      for (const [reason, n] of Object.entries(s.rejected)) this.inc({ reason }, n);
    },
  });
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  };
  gauge('beacon_relay_pending_datagrams', 'Accepted and not yet forwarded (memory and disk).', src.pending);
  gauge('beacon_relay_queue_bytes', 'Bytes in the disk queue.', () => src.queue.bytes);
  gauge('beacon_relay_queue_datagrams', 'Datagrams in the disk queue.', () => src.queue.datagrams);
  gauge('beacon_relay_queue_max_bytes', 'Bound of the disk queue in bytes.', () => src.queue.maxBytes);
  gauge('beacon_relay_queue_max_datagrams', 'Bound of the disk queue in datagrams.', () => src.queue.maxDatagrams);
  gauge('beacon_relay_upstream_up', '1 while upstream takes batches, 0 after a failure until it does again.', () => (src.down() ? 0 : 1));
  collectDefaultMetrics({ register: registry });
  return registry;
}
