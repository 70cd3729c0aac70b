/** The relay's counters: plain numbers on the hot path, read by the logs and by Prometheus at scrape time. */
export class RelayStats {
  received = 0;
  rateLimited = 0;
  /** Refused before forwarding, by reason (the collector's own reason names). */
  rejected: Record<'oversized' | 'not_json' | 'unknown_protocol', number> = { oversized: 0, not_json: 0, unknown_protocol: 0 };
  duplicates = 0;
  /** Dropped by the kernel: the receive buffer was full. */
  kernelDrops = 0;
  /** Upstream has them. */
  forwarded = 0;
  /** Written to the disk queue (a datagram queued twice over two outages counts twice). */
  queued = 0;
  /** Accepted, then dropped: the queue was full or the disk refused the write. */
  queueDrops = 0;
  /** Refused by upstream as too large even alone. */
  upstreamRefused = 0;
  /** Batches upstream did not take (each one is retried). */
  upstreamFailures = 0;

  line(pending: number, queue: { bytes: number; datagrams: number }, down: boolean): Record<string, unknown> {
    return {
      received: this.received,
      forwarded: this.forwarded,
      duplicates: this.duplicates,
      rateLimited: this.rateLimited,
      kernelDrops: this.kernelDrops,
      rejected: this.rejected,
      queueDrops: this.queueDrops,
      pending,
      queueBytes: queue.bytes,
      queueDatagrams: queue.datagrams,
      upstreamDown: down,
    };
  }
}
