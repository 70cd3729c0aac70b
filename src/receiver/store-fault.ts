/**
 * Why the store refused a batch, in the few words an operator acts on. The batcher logs it and
 * counts the datagrams it had to drop under it (`overload.<reason>`), so "we lost 3,000 runs
 * because the disk was full on the 4th" can be read from the store afterwards.
 */
import { OVERLOAD_REASONS, type OverloadReason } from '../store/counters.js';

export const FAULT_REASONS = OVERLOAD_REASONS;
export type FaultReason = OverloadReason;

/**
 * SQLite result codes (better-sqlite3 puts them in `code`; the store thread forwards them),
 * PostgreSQL SQLSTATEs and Node socket errors. Anything else is `store_error`.
 */
export function faultReason(e: unknown): FaultReason {
  const err = e as { code?: unknown; message?: unknown } | undefined;
  const code = typeof err?.code === 'string' ? err.code : '';
  const msg = typeof err?.message === 'string' ? err.message : String(e);
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === '53100' || /database or disk is full|no space left/i.test(msg))
    return 'disk_full';
  if (code.startsWith('SQLITE_READONLY') || code === 'EROFS' || code === '25006' || /readonly|read-only/i.test(msg)) return 'read_only';
  if (code === 'BEACON_WAL_FULL') return 'wal_full';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED') || /database is locked/i.test(msg)) return 'locked';
  if (
    code.startsWith('08') ||
    code === '57P01' ||
    code === '57P02' ||
    code === '57P03' ||
    /^E(CONNREFUSED|CONNRESET|PIPE|HOSTUNREACH|NETUNREACH|TIMEDOUT)$/.test(code) ||
    /connect|terminat|shutting down|Connection/i.test(msg)
  )
    return 'unreachable';
  return 'store_error';
}
