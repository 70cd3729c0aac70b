import { BeaconError } from '../errors.js';
import { LOG_LEVELS } from './logger.js';

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
  /** Receiver processes sharing the port (src/receiver/workers.ts); 1 = this process alone. */
  workers: number;
}

/** All option, environment and default resolution in one place; bad values are BEACON_ERR_USAGE. */
export function resolveReceiveOptions(o: ReceiveCliOptions, env: NodeJS.ProcessEnv = process.env): ReceiveOptions {
  let rateLimit: number | undefined;
  const rl = String(o.rateLimit ?? '200').trim().toLowerCase();
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
  const db = o.db ?? './usage.db';
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
    httpPort: o.httpPort,
    httpHost: o.httpHost ?? '127.0.0.1',
    httpMaxBody: o.httpMaxBody ?? 1024 * 1024,
    ingestTokenFile: o.ingestTokenFile,
    spillDir: o.spillDir ?? (env.BEACON_SPILL_DIR || undefined),
  };
}
