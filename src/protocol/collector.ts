import { ipFamily } from './ip-literal.js';
import { DEFAULT_PORT } from './limits.js';

export interface CollectorAddress {
  host: string;
  port: number;
  /** 0 for a hostname that needs resolving, else 4 or 6. */
  family: 0 | 4 | 6;
}

function isDigits(s: string, maxLength: number): boolean {
  if (s.length < 1 || s.length > maxLength) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** True for '/' or any character JavaScript's \s matches (ECMAScript WhiteSpace and LineTerminator). */
function hasSpaceOrSlash(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 47 || (c >= 9 && c <= 13) || c === 32 || c === 0xa0 || c === 0x1680) return true;
    if ((c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff)
      return true;
  }
  return false;
}

/** `[v6]` or `[v6]:port` (what /^\[([^\]]+)\](?::(\d+))?$/ matches), else undefined. */
function splitBracketed(s: string): { host: string; portText: string | undefined } | undefined {
  if (s.charCodeAt(0) !== 91 /* [ */) return undefined;
  const close = s.indexOf(']');
  if (close < 2) return undefined;
  const rest = s.slice(close + 1);
  if (rest === '') return { host: s.slice(1, close), portText: undefined };
  if (rest.charCodeAt(0) !== 58 /* : */ || !isDigits(rest.slice(1), Infinity)) return undefined;
  return { host: s.slice(1, close), portText: rest.slice(1) };
}

/**
 * Parse `host:port`, `[v6]:port`, `host` (default port) or a bare IPv6 literal.
 * Returns undefined for anything unusable; callers decide whether that is an error (CLI) or a
 * silent no-op (library, which must never throw into its host).
 * No regular expressions and no node:net: this runs inside startBeacon(), where compiling a regex
 * the first time costs tens of microseconds each and node:net milliseconds (see ip-literal.ts).
 * test/protocol/collector.test.ts checks it against the earlier regex version.
 */
export function parseCollector(spec: string | undefined): CollectorAddress | undefined {
  if (!spec) return undefined;
  const s = spec.trim();
  let host: string;
  let portText: string | undefined;
  const bracket = splitBracketed(s);
  if (bracket) {
    host = bracket.host;
    portText = bracket.portText;
  } else if (ipFamily(s) === 6) {
    host = s;
  } else {
    const i = s.lastIndexOf(':');
    if (i >= 0) {
      host = s.slice(0, i);
      portText = s.slice(i + 1);
    } else {
      host = s;
    }
  }
  if (!host || hasSpaceOrSlash(host)) return undefined;
  let port = DEFAULT_PORT;
  if (portText !== undefined) {
    if (!isDigits(portText, 5)) return undefined;
    port = Number(portText);
    if (port < 1 || port > 65535) return undefined;
  }
  return { host, port, family: ipFamily(host) };
}

export function formatCollector(c: CollectorAddress): string {
  return c.family === 6 ? `[${c.host}]:${c.port}` : `${c.host}:${c.port}`;
}
