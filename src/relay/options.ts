import { readFileSync } from 'node:fs';
import { getProxyForUrl } from 'proxy-from-env';
import { BeaconError } from '../errors.js';
import { parseCollector } from '../protocol/index.js';
import { LOG_LEVELS } from '../receiver/observe/logger.js';

/** Options as commander hands them over (see src/cli/commands.ts). */
export interface RelayCliOptions {
  forward: string;
  proxy?: string;
  host?: string;
  port?: number;
  queueDir?: string;
  queueMaxMb?: number;
  queueMaxDatagrams?: number;
  tokenFile?: string;
  batchMs?: number;
  rateLimit?: string;
  metricsPort?: number;
  metricsHost?: string;
  logLevel?: string;
}

export type ForwardTarget = { kind: 'http'; url: URL } | { kind: 'udp'; host: string; port: number };

export interface RelayOptions {
  forward: ForwardTarget;
  /** The outbound HTTP(S) proxy the batches go through (CONNECT for https:// upstreams), if any. */
  proxy?: URL;
  host: string;
  port: number;
  queueDir: string;
  queueMaxBytes: number;
  queueMaxDatagrams: number;
  token?: string;
  batchMs: number;
  rateLimit?: number;
  metricsPort?: number;
  metricsHost: string;
  logLevel: string;
  statsIntervalMs: number;
}

export const DEFAULT_QUEUE_MAX_MB = 256;
export const DEFAULT_QUEUE_MAX_DATAGRAMS = 1_000_000;

/** `https://…/v1/datagrams`, `http://…/v1/datagrams` or `udp://host:port`; anything else is a usage error. */
export function parseForward(spec: string): ForwardTarget {
  const bad = (why: string) => new BeaconError('BEACON_ERR_USAGE', `--forward ${why}, got "${spec}"`);
  if (spec.startsWith('udp://')) {
    const c = parseCollector(spec.slice('udp://'.length));
    if (!c || spec.slice(6).includes('/')) throw bad('must be udp://host:port');
    return { kind: 'udp', host: c.host, port: c.port };
  }
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw bad('must be an https://, http:// or udp:// URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw bad('must be an https://, http:// or udp:// URL');
  if (!url.pathname.endsWith('/v1/datagrams')) throw bad("must end in /v1/datagrams (the collector's HTTP ingest path)");
  if (url.username || url.password) throw bad('must not carry credentials (use --token-file)');
  return { kind: 'http', url };
}

/** The relay's own token: the first line that is neither blank nor a `#` comment. */
function readToken(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new BeaconError('BEACON_ERR_USAGE', `cannot read --token-file ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const token = text
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '' && !l.startsWith('#'));
  if (!token || /\s/.test(token)) throw new BeaconError('BEACON_ERR_USAGE', `--token-file ${path} holds no usable token`);
  return token;
}

/** All option, environment and default resolution in one place; bad values are BEACON_ERR_USAGE. */
export function resolveRelayOptions(o: RelayCliOptions, env: NodeJS.ProcessEnv = process.env): RelayOptions {
  if (!o.forward) throw new BeaconError('BEACON_ERR_USAGE', '--forward is required');
  const forward = parseForward(o.forward);
  let rateLimit: number | undefined;
  const rl = String(o.rateLimit ?? '200')
    .trim()
    .toLowerCase();
  if (rl !== 'off') {
    if (!/^\d+$/.test(rl) || Number(rl) < 1)
      throw new BeaconError('BEACON_ERR_USAGE', `--rate-limit must be a positive integer or "off", got "${o.rateLimit}"`);
    rateLimit = Number(rl);
  }
  const level = String(o.logLevel ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new BeaconError('BEACON_ERR_USAGE', `--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${o.logLevel}"`);
  }
  const proxy = resolveProxy(o.proxy, forward);
  const token = o.tokenFile ? readToken(o.tokenFile) : undefined;
  if (token && forward.kind === 'http' && forward.url.protocol === 'http:' && !isLoopback(forward.url.hostname)) {
    // Allowed (an in-site network may be trusted), but the operator should know.
    process.stderr.write(`beacon relay: warning: the token is sent in clear text to ${forward.url.host}; use https://\n`);
  }
  const statsText = env.BEACON_RECEIVER_STATS_MS;
  return {
    forward,
    proxy,
    host: o.host ?? '0.0.0.0',
    port: o.port ?? 50077,
    queueDir: o.queueDir ?? './relay-queue',
    queueMaxBytes: (o.queueMaxMb ?? DEFAULT_QUEUE_MAX_MB) * 1024 * 1024,
    queueMaxDatagrams: o.queueMaxDatagrams ?? DEFAULT_QUEUE_MAX_DATAGRAMS,
    token,
    batchMs: o.batchMs ?? 200,
    rateLimit,
    metricsPort: o.metricsPort,
    metricsHost: o.metricsHost ?? '127.0.0.1',
    logLevel: level,
    statsIntervalMs: statsText && /^\d+$/.test(statsText) && Number(statsText) > 0 ? Number(statsText) : 60_000,
  };
}

/**
 * The proxy for the upstream: `--proxy <url>`, `--proxy none`, or else what the environment says
 * for that URL ($https_proxy / $http_proxy / $all_proxy, either case, minus $no_proxy), as curl,
 * pip and git read them: HPC login nodes often reach the internet only through a site proxy.
 */
function resolveProxy(spec: string | undefined, forward: ForwardTarget): URL | undefined {
  const bad = (why: string) => new BeaconError('BEACON_ERR_USAGE', `--proxy ${why}, got "${redactProxy(spec ?? '')}"`);
  if (spec !== undefined && spec.trim().toLowerCase() === 'none') return undefined;
  if (forward.kind === 'udp') {
    if (spec !== undefined) throw bad('applies to an http(s):// --forward only (UDP cannot cross an HTTP proxy)');
    return undefined;
  }
  const fromEnv = spec === undefined;
  const text = fromEnv ? getProxyForUrl(forward.url.href) : spec;
  if (!text) return undefined;
  const where = fromEnv ? `the proxy in the environment ("${redactProxy(text)}") ` : '';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    if (fromEnv) throw new BeaconError('BEACON_ERR_USAGE', `${where}is not a URL; fix $https_proxy/$http_proxy or pass --proxy`);
    throw bad('must be an http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    const why = `must be an http:// or https:// proxy (${url.protocol.slice(0, -1)} proxies are not supported)`;
    if (fromEnv) throw new BeaconError('BEACON_ERR_USAGE', `${where}${why}; pass --proxy or --proxy none`);
    throw bad(why);
  }
  return url;
}

/** A proxy URL as an error may show it: never its credentials. */
function redactProxy(text: string): string {
  return text.replace(/\/\/[^/@]*@/, '//***@');
}

/** The proxy as a log line may show it: scheme and host, whether it has credentials, never them. */
export function describeProxy(p: URL): string {
  return `${p.protocol}//${p.username || p.password ? '***@' : ''}${p.host}`;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '[::1]';
}

/** The upstream as a log line may show it (no query string: it could hold a secret). */
export function describeForward(f: ForwardTarget): string {
  return f.kind === 'udp'
    ? `udp://${f.host.includes(':') ? `[${f.host}]` : f.host}:${f.port}`
    : `${f.url.protocol}//${f.url.host}${f.url.pathname}`;
}
