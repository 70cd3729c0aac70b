import { isIP, isIPv4 } from 'node:net';
import { DEFAULT_PORT } from './limits.js';

export interface CollectorAddress {
  host: string;
  port: number;
  /** 0 for a hostname that needs resolving, else 4 or 6. */
  family: 0 | 4 | 6;
}

/**
 * Node's isIP() runs a large IPv6 regex on anything that is not IPv4; compiling it costs 1-5 ms the
 * first time, on the beacon's start path. An IPv6 literal has at least two colons: check that first.
 */
function mayBeIPv6(s: string): boolean {
  return s.indexOf(':') !== s.lastIndexOf(':');
}

/**
 * Parse `host:port`, `[v6]:port`, `host` (default port) or a bare IPv6 literal.
 * Returns undefined for anything unusable; callers decide whether that is an error (CLI) or a
 * silent no-op (library, which must never throw into its host).
 */
export function parseCollector(spec: string | undefined): CollectorAddress | undefined {
  if (!spec) return undefined;
  const s = spec.trim();
  let host: string;
  let portText: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracket) {
    host = bracket[1]!;
    portText = bracket[2];
  } else if (mayBeIPv6(s) && isIP(s) === 6) {
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
  if (!host || /[\s/]/.test(host)) return undefined;
  let port = DEFAULT_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) return undefined;
    port = Number(portText);
    if (port < 1 || port > 65535) return undefined;
  }
  const family = isIPv4(host) ? 4 : mayBeIPv6(host) && isIP(host) === 6 ? 6 : 0;
  return { host, port, family };
}

export function formatCollector(c: CollectorAddress): string {
  return c.family === 6 ? `[${c.host}]:${c.port}` : `${c.host}:${c.port}`;
}
