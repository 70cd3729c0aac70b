import { decodeParsl } from '../protocol/parsl.js';
import type { RejectReason } from '../protocol/reject-reasons.js';
import type { IngestRecord } from '../store/types.js';
import { decodeDatagram } from '../protocol/decode.js';
import { fromNative, fromParsl, type LegacyIdKey } from './normalize.js';
import { checkComponents, plausibleClientMs, plausibleDuration } from '../protocol/plausibility.js';
import { compileNativeValidator } from '../protocol/validate.js';

/** One datagram's bytes → the record to store, or why not. */
export type Classify = (
  buf: Buffer,
  start: number,
  length: number,
  flags: number,
  now: number,
  month: number,
) => IngestRecord | RejectReason;

/**
 * size → UTF-8 → JSON → protocol sniff → schema (native) or Parsl decoder → plausibility. Pure
 * (no socket, no store, no clock), so the fuzz tests (test/protocol/fuzz-*.test.ts) drive exactly
 * the code the receiver runs.
 */
export function createClassifier(legacyId: LegacyIdKey): Classify {
  const validate = compileNativeValidator();
  return (buf, start, length, flags, now, month) => {
    const dec = decodeDatagram(buf, start, length, flags);
    if (typeof dec === 'string') return dec;
    if (dec.format === 'native') {
      const m = dec.value;
      if (!validate(m)) return 'schema';
      if (!plausibleClientMs(m.t) || (m.kind === 'end' && !plausibleDuration(m.dur_ms))) return 'implausible';
      const c = checkComponents(m.components);
      if (c !== true) return c;
      return fromNative(m, now, month);
    }
    const p = decodeParsl(dec.value, dec.format === 'parsl-1');
    if (typeof p === 'string') return p;
    if (!plausibleClientMs(p.clientMs) || !plausibleDuration(p.durationMs)) return 'implausible';
    return fromParsl(p, now, month, legacyId);
  };
}
