import { isAscii, isUtf8 } from 'node:buffer';
import { RECEIVER_MAX_BYTES } from '../protocol/limits.js';
import type { RejectReason } from '../store/counters.js';

/** What a datagram turned out to be after size → UTF-8 → JSON, before any field is trusted. */
export type Decoded =
  | { format: 'native'; value: Record<string, unknown> }
  | { format: 'parsl-legacy'; value: Record<string, unknown> }
  | { format: 'parsl-1'; value: unknown };

const ASCII_1 = 0x31;
const ASCII_OPEN_BRACE = 0x7b;

/**
 * Size check, UTF-8 check, JSON.parse, and the protocol sniff. Allocation-light on purpose: an
 * ASCII datagram (every real beacon datagram) is decoded with latin1, the cheapest string
 * conversion; anything else must be valid UTF-8 (simdutf check) or is refused. JSON.parse itself
 * is safe against deep nesting and `__proto__` keys (it creates own data properties, never touches
 * a prototype); nothing here copies the parsed object.
 */
export function decodeDatagram(buf: Buffer): Decoded | RejectReason {
  const n = buf.length;
  if (n > RECEIVER_MAX_BYTES) return 'oversized';
  if (n === 0) return 'not_json';
  let text: string;
  if (isAscii(buf)) text = buf.toString('latin1');
  else if (isUtf8(buf)) text = buf.toString('utf8');
  else return 'not_json';
  const prefixed = buf[0] === ASCII_1 && n > 1 && buf[1] === ASCII_OPEN_BRACE;
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
