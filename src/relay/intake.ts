import { createHash } from 'node:crypto';
import type { DatagramSink } from '../receiver/listen.js';
import { decodeDatagram } from '../protocol/decode.js';
import type { RateLimiter } from '../receiver/rate-limit.js';
import type { RelayStats } from './relay-stats.js';

/**
 * A bounded memory of recently forwarded datagrams, by a digest of their exact bytes: an emitter
 * sends each datagram two or more times with identical bytes, and one copy is enough upstream.
 * Bytes, not (run, kind): the relay forwards any protocol the collector speaks without knowing it.
 */
export class RecentDigests {
  private readonly set = new Set<string>();
  private readonly ring: (string | undefined)[];
  private next = 0;

  constructor(private readonly capacity = 100_000) {
    this.ring = new Array<string | undefined>(capacity).fill(undefined);
  }

  /** true if seen recently; otherwise remembers it. */
  seen(bytes: Buffer): boolean {
    const key = createHash('sha1').update(bytes).digest('base64');
    if (this.set.has(key)) return true;
    const old = this.ring[this.next];
    if (old !== undefined) this.set.delete(old);
    this.ring[this.next] = key;
    this.next = (this.next + 1) % this.capacity;
    this.set.add(key);
    return false;
  }
}

export interface IntakeDeps {
  stats: RelayStats;
  limiter?: RateLimiter;
  recent: RecentDigests;
  forward: (datagram: Buffer) => void;
}

/**
 * One UDP datagram: rate limit per source network → the collector's own size and JSON check (no
 * point queueing what it would refuse) → dedupe → forward. The source address is never seen here,
 * only its network key for the limiter, and nothing about it goes upstream.
 */
export function createIntake(d: IntakeDeps): DatagramSink {
  const { stats, limiter, recent } = d;
  return (buf, start, length, flags, net) => {
    stats.received++;
    if (limiter !== undefined && !limiter.take(net, Date.now())) {
      stats.rateLimited++;
      return;
    }
    const dec = decodeDatagram(buf, start, length, flags);
    if (typeof dec === 'string') {
      if (dec === 'oversized' || dec === 'not_json' || dec === 'unknown_protocol') stats.rejected[dec]++;
      return;
    }
    // A copy: the native reader reuses its buffer for the next datagrams.
    const bytes = Buffer.from(buf.subarray(start, start + length));
    if (recent.seen(bytes)) {
      stats.duplicates++;
      return;
    }
    // The body is newline-delimited: a line break inside a datagram can only be JSON whitespace
    // (JSON strings cannot hold a raw one), so a space means the same and keeps the framing.
    for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) bytes[i] = 0x20;
    d.forward(bytes);
  };
}
