import type { Logger } from 'pino';
import type { RejectReason } from '../protocol/reject-reasons.js';
import type { OverloadReason } from '../store/counters.js';
import type { IngestRecord } from '../store/types.js';
import type { ReceiverClock } from './clock.js';
import { createClassifier } from './classify.js';
import type { CollectorSecret } from './collector-secret.js';
import type { RecentKeys } from './dedupe.js';
import type { LegacyIdKey } from './normalize.js';
import { fastNativeRecord } from './native-fast.js';
import { FLAG_NON_ASCII, FLAG_TRUNCATED } from '../protocol/decode.js';
import { RECEIVER_MAX_BYTES } from '../protocol/limits.js';
import { networkLabel } from './network-key.js';
import type { RateLimiter } from './rate-limit.js';
import type { DatagramSink } from './listen.js';
import type { Stats } from './observe/stats.js';

export interface PipelineDeps {
  clock: ReceiverClock;
  stats: Stats;
  recent: RecentKeys;
  limiter?: RateLimiter;
  accept: (r: IngestRecord) => void;
  /** false when the store's queue is full. */
  hasRoom: () => boolean;
  /** Why it is full (counted as overload.<reason>); `store_slow` if not given. */
  dropReason?: () => OverloadReason;
  log: Logger;
  /** Re-keys legacy Parsl IDs and tags source networks per day (src/receiver/collector-secret.ts). */
  secret: CollectorSecret;
}

/**
 * Datagram → record or reject reason: size → UTF-8 → JSON → protocol sniff → schema (native) or
 * Parsl decoder → plausibility. `fast: false` skips the native fast path (the reference the
 * fast path is tested against).
 */
export function createRecordReader(opts: {
  fast?: boolean;
  legacyId: LegacyIdKey;
}): (buf: Buffer, start: number, length: number, flags: number, now: number, month: number) => IngestRecord | RejectReason {
  const classify = createClassifier(opts.legacyId);
  const fastPath = opts.fast !== false;
  return (buf, start, length, flags, now, month) => {
    // What every beacon sends takes the fast path (src/receiver/native-fast.ts); it only ever
    // accepts what the full path (the classifier) would accept, and leaves everything else to it.
    if (fastPath && !(flags & (FLAG_NON_ASCII | FLAG_TRUNCATED)) && length <= RECEIVER_MAX_BYTES && length > 0) {
      const fast = fastNativeRecord(buf, start, length, now, month);
      if (fast !== undefined) return fast;
    }
    return classify(buf, start, length, flags, now, month);
  };
}

/**
 * One datagram: rate limit → size → UTF-8 → JSON → protocol sniff → schema (native) or Parsl
 * decoder → plausibility → dedupe → accept. Never throws and never answers the sender; every
 * outcome is a counter. The pipeline never sees a source address, only its network's key: for
 * the rate limit, and at debug level as the network (src/receiver/network-key.ts).
 */
export function createPipeline(d: PipelineDeps): DatagramSink {
  const debug = d.log.isLevelEnabled('debug');
  const { clock, stats, recent, limiter, accept } = d;

  const reject = (reason: RejectReason, day: string, length: number, net: number): void => {
    stats.reject(reason, day);
    if (debug) d.log.debug({ reason, bytes: length, net: networkLabel(net) }, 'rejected');
  };

  const toRecord = createRecordReader({ legacyId: d.secret.legacyId.bind(d.secret) });

  return (buf, start, length, flags, net) => {
    const now = clock.tick();
    const { day, month } = clock.current;
    stats.count('received', day);
    if (limiter !== undefined && !limiter.take(net, now)) return reject('rate_limited', day, length, net);
    let r: IngestRecord | RejectReason;
    try {
      r = toRecord(buf, start, length, flags, now, month);
    } catch {
      // Defensive: no input may crash the daemon. Nothing above is known to throw.
      r = 'schema';
    }
    if (typeof r === 'string') return reject(r, day, length, net);
    // Checked before dedupe, so a dropped datagram's copy can still be accepted later.
    if (!d.hasRoom()) {
      stats.count('overload_drops', day);
      stats.count(`overload.${d.dropReason?.() ?? 'store_slow'}`, day);
      return;
    }
    if (recent.seen(r.run, r.kind)) {
      stats.count('duplicates', day);
      return;
    }
    // Only for records that will be stored (a keyed hash per datagram would be wasted on copies).
    if (net >= 0) r.net_tag = d.secret.netTag(day, net);
    accept(r);
  };
}
