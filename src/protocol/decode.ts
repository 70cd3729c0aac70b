import { isAscii, isUtf8 } from 'node:buffer';
import { RECEIVER_MAX_BYTES } from './limits.js';
import type { RejectReason } from './reject-reasons.js';

/**
 * What the socket reader already knows about a datagram, as bit flags (the native reader in
 * native/udp-batch writes the same values): it was longer than the reader's slot, or it holds a
 * byte above 0x7f.
 */
export const FLAG_TRUNCATED = 1;
export const FLAG_NON_ASCII = 2;

/** What a datagram turned out to be after size → UTF-8 → JSON, before any field is trusted. */
export type Decoded =
  | { format: 'native'; value: Record<string, unknown> }
  | { format: 'parsl-legacy'; value: Record<string, unknown> }
  | { format: 'parsl-1'; value: unknown };

const ASCII_1 = 0x31;
const ASCII_OPEN_BRACE = 0x7b;

/**
 * Size check, UTF-8 check, JSON.parse, and the protocol sniff, on the datagram at
 * buf[start, start + length) (the native reader's datagrams share one buffer). `flags` says what
 * the reader already knows: FLAG_TRUNCATED (it was longer than its slot), FLAG_NON_ASCII.
 * Allocation-light on purpose: an ASCII datagram (every real beacon datagram) is decoded with
 * latin1, the cheapest string conversion; anything else must be valid UTF-8 (simdutf check) or is
 * refused. JSON.parse itself is safe against deep nesting and `__proto__` keys (it creates own
 * data properties, never touches a prototype); nothing here copies the parsed object.
 */
export function decodeDatagram(
  buf: Buffer,
  start = 0,
  length = buf.length - start,
  flags = isAscii(buf.subarray(start, start + length)) ? 0 : FLAG_NON_ASCII,
): Decoded | RejectReason {
  if (length > RECEIVER_MAX_BYTES || flags & FLAG_TRUNCATED) return 'oversized';
  if (length === 0) return 'not_json';
  const end = start + length;
  let text: string;
  if (!(flags & FLAG_NON_ASCII)) text = buf.toString('latin1', start, end);
  else if (isUtf8(buf.subarray(start, end))) text = buf.toString('utf8', start, end);
  else return 'not_json';
  const prefixed = buf[start] === ASCII_1 && length > 1 && buf[start + 1] === ASCII_OPEN_BRACE;
  let value: unknown;
  try {
    value = JSON.parse(prefixed ? text.slice(1) : text);
  } catch {
    return 'not_json';
  }
  if (prefixed) return { format: 'parsl-1', value };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'unknown_protocol';
  const o = value as Record<string, unknown>;
  if (Object.hasOwn(o, 'v')) return o.v === 1 ? { format: 'native', value: o } : 'unknown_protocol';
  if (Object.hasOwn(o, 'uuid')) return { format: 'parsl-legacy', value: o };
  return 'unknown_protocol';
}
