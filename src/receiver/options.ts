import { BeaconError } from '../errors.js';
import { DEFAULT_DB } from '../store/location.js';
import { LOG_LEVELS } from './observe/logger.js';
import type { UdpReader } from './native-udp.js';
import { backlogBounds, type BacklogBounds } from './backlog.js';

/** Options as commander hands them over (see src/cli/commands.ts). */
export interface ReceiveCliOptions {
  host: string;
  port: number;
  db: string;
  store?: string;
  flushMs: number;
  metricsPort?: number;
  metricsHost: string;
  rateLimit: string;
  logLevel: string;
  workers?: number;
  /** HTTP ingest (src/receiver/http-ingest.ts): off unless a port is given. */
  httpPort?: number;
  httpHost?: string;
  httpMaxBody?: number;
  ingestTokenFile?: string;
  spillDir?: string;
  secretFile?: string;
}

/** The resolved options: the CLI's, with the rate limit parsed and environment settings added. */
export interface ReceiveOptions extends Omit<ReceiveCliOptions, 'rateLimit' | 'workers' | 'httpHost' | 'httpMaxBody' | 'secretFile'> {
  httpHost: string;
  httpMaxBody: number;
  /**
   * The collector secret (src/receiver/collector-secret.ts). Beside the SQLite file by default; with
   * PostgreSQL in the working directory, and every receiver of one store needs a copy of the same file.
   */
  secretFile: string;
  /** Datagrams per second per source network; undefined = off. */
  rateLimit?: number;
  /** How often totals are logged ($BEACON_RECEIVER_STATS_MS, default one minute). */
  statsIntervalMs: number;
  /** Receiver processes sharing the port (src/receiver/cluster/workers.ts); 1 = this process alone. */
  workers: number;
  /** SQLite store in its own thread ($BEACON_STORE_THREAD, default on): see storeThread(). */
  storeThread: boolean;
  /** Seconds between settle rounds ($BEACON_SETTLE_SECONDS, default 300; 0 turns settling off). */
  settleSeconds: number;
  /** Socket reader ($BEACON_UDP_READER=dgram forces node:dgram; default: native where built). */
  udpReader: UdpReader;
  /** What the receiver holds for a failing store ($BEACON_BACKLOG_RECORDS, $BEACON_BACKLOG_MB). */
  backlog: BacklogBounds;
}

export const DEFAULT_SETTLE_SECONDS = 300;

/**
 * $BEACON_STORE_THREAD=off keeps the store on the main thread. On by default, even on one core:
 * a commit waits on I/O (WAL writes, checkpoint fsyncs) as well as CPU, and in a thread those
 * waits no longer stop the socket from being read; measured with bench/receiver.mjs, pinned to one
 * core on a busy machine, the thread kept more datagrams than the in-process store at every rate.
 */
function storeThread(text: string | undefined): boolean {
  const v = text?.toLowerCase();
  return !(v === 'off' || v === '0' || v === 'false');
}

function settleSeconds(raw: string | undefined): number {
  const n = raw === undefined || raw === '' ? DEFAULT_SETTLE_SECONDS : Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : DEFAULT_SETTLE_SECONDS;
}

/** All option, environment and default resolution in one place; bad values are BEACON_ERR_USAGE. */
export function resolveReceiveOptions(o: ReceiveCliOptions, env: NodeJS.ProcessEnv = process.env): ReceiveOptions {
  let rateLimit: number | undefined;
  const rl = String(o.rateLimit ?? '200')
    .trim()
    .toLowerCase();
  if (rl !== 'off') {
    if (!/^\d+$/.test(rl) || Number(rl) < 1) {
      throw new BeaconError('BEACON_ERR_USAGE', `--rate-limit must be a positive integer or "off", got "${o.rateLimit}"`);
    }
    rateLimit = Number(rl);
  }
  const level = String(o.logLevel ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new BeaconError('BEACON_ERR_USAGE', `--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${o.logLevel}"`);
  }
  const statsText = env.BEACON_RECEIVER_STATS_MS;
  const statsIntervalMs = statsText && /^\d+$/.test(statsText) && Number(statsText) > 0 ? Number(statsText) : 60_000;
  const db = o.db ?? DEFAULT_DB;
  const secretFile = o.secretFile?.trim() || (o.store ? './usage-beacon.secret' : `${db}.secret`);
  return {
    secretFile,
    host: o.host ?? '0.0.0.0',
    port: o.port ?? 50077,
    db,
    store: o.store,
    flushMs: o.flushMs ?? 100,
    metricsPort: o.metricsPort,
    metricsHost: o.metricsHost ?? '127.0.0.1',
    rateLimit,
    logLevel: level,
    statsIntervalMs,
    workers: o.workers ?? 1,
    storeThread: storeThread(env.BEACON_STORE_THREAD),
    settleSeconds: settleSeconds(env.BEACON_SETTLE_SECONDS),
    udpReader: env.BEACON_UDP_READER === 'dgram' ? 'dgram' : 'auto',
    httpPort: o.httpPort,
    httpHost: o.httpHost ?? '127.0.0.1',
    httpMaxBody: o.httpMaxBody ?? 1024 * 1024,
    ingestTokenFile: o.ingestTokenFile,
    spillDir: o.spillDir ?? (env.BEACON_SPILL_DIR || undefined),
    backlog: backlogBounds(env),
  };
}
