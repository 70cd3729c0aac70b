import os from 'node:os';
import pg from 'pg';
import { BeaconError } from '../../errors.js';
import { badStoreUrl, POSTGRES_URL } from '../location.js';

/**
 * A pg Pool from a postgres:// URL, checked by one round trip so a wrong URL, a refused
 * connection or a bad password is a one-line BEACON_ERR_DB_OPEN at start rather than a stream of
 * failed writes later. The password is never part of a message (see redactUrl).
 *
 * The URL is libpq-like: postgres://user:pass@host:port/db?sslmode=require&options=-c%20search_path%3Dbeacon
 * (the `options` parameter is how an operator puts the store in its own schema).
 */

export interface PoolOptions {
  /** Connections in the pool; the receiver writes one batch at a time, so 2 is plenty. */
  max?: number;
  /** Give up connecting after this long (default 5 s): an unreachable host must not hang start. */
  connectTimeoutMs?: number;
  /** Errors on idle connections (server restart, network cut); the next query reconnects. */
  onIdleError?: (e: Error) => void;
}

/** The URL with any password replaced by `***`, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    // Not parseable as a URL: say nothing of it beyond the scheme, it may hold a password.
    return `${url.split(':', 1)[0]}://…`;
  }
}

/** `host:port/db` of a URL, the part an operator needs to recognise which server failed. */
function where(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname || '/'}`;
  } catch {
    return redactUrl(url);
  }
}

function reason(e: unknown): string {
  if (e instanceof AggregateError && e.errors.length) return reason(e.errors[0]);
  const err = e as { message?: string; code?: string };
  const msg = (err.message || err.code || String(e)).split('\n', 1)[0]!;
  return msg;
}

export function dbOpenError(url: string, e: unknown): BeaconError {
  return new BeaconError('BEACON_ERR_DB_OPEN', `cannot open PostgreSQL store ${where(url)}: ${reason(e)}`, { cause: e });
}

/**
 * libpq falls back to PGUSER, then the OS user, when the URL names no user; pg only reads $USER,
 * which is unset under systemd and in many containers. Do as libpq does, so
 * postgres://host/db works the same from psql and from usage-beacon.
 */
export function withDefaultUser(url: string): string {
  try {
    const u = new URL(url);
    if (u.username) return url;
    const user = process.env.PGUSER || process.env.USER || os.userInfo().username;
    if (!user) return url;
    u.username = encodeURIComponent(user);
    return u.toString();
  } catch {
    // Leave it to pg, which reports what is wrong with it.
    return url;
  }
}

export async function openPostgresPool(url: string, opts: PoolOptions = {}): Promise<pg.Pool> {
  if (!POSTGRES_URL.test(url)) throw badStoreUrl();
  let pool: pg.Pool;
  try {
    pool = new pg.Pool({
      connectionString: withDefaultUser(url),
      max: opts.max ?? 2,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
      application_name: 'usage-beacon',
    });
  } catch (e) {
    throw dbOpenError(url, e);
  }
  // Without a listener an idle connection's error (server restart) would crash the process.
  pool.on('error', (e) => opts.onIdleError?.(e));
  try {
    await pool.query('SELECT 1');
  } catch (e) {
    await pool.end().catch(() => {});
    throw dbOpenError(url, e);
  }
  return pool;
}
