import { readlinkSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { isBeaconError } from '../../errors.js';
import { openSqliteStore, type SqliteStore } from './store.js';
import type { CounterDelta, WireBatch } from '../types.js';
import { decodeBatch } from './wire-batch.js';

/**
 * Worker-thread side of WorkerStore: owns the SQLite connection so commits (tens of ms for a big
 * batch) never block the thread that reads the socket. Messages: batch → result or error.
 */
export type ToStoreThread = { type: 'batch'; id: number; batch: WireBatch; counters: readonly CounterDelta[] } | { type: 'close' };

export type FromStoreThread =
  | { type: 'open'; ok: true; tid?: number }
  | { type: 'open'; ok: false; code?: string; message: string }
  | { type: 'done'; id: number; stored: number; duplicates: number }
  | { type: 'failed'; id: number; message: string; code?: string }
  | { type: 'closed' };

if (!parentPort) throw new Error('store-thread.js runs only as a worker thread');
const port = parentPort;
function errorCode(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | undefined)?.code;
  return typeof c === 'string' ? c : undefined;
}

/** This thread's OS id on Linux (/proc/thread-self → <pid>/task/<tid>): lets an operator or the
 * benchmark tell the store thread's CPU apart in /proc/<pid>/task. */
function osThreadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) ? tid : undefined;
  } catch {
    return undefined;
  }
}
let store: SqliteStore | undefined;
try {
  // Off the socket's thread, so waiting out another writer (the settle thread's swap) is harmless.
  store = openSqliteStore((workerData as { path: string }).path, { busyTimeoutMs: 2000 });
  port.postMessage({ type: 'open', ok: true, tid: osThreadId() } satisfies FromStoreThread);
} catch (e) {
  const msg: FromStoreThread = isBeaconError(e)
    ? { type: 'open', ok: false, code: e.code, message: e.message }
    : { type: 'open', ok: false, message: e instanceof Error ? e.message : String(e) };
  port.postMessage(msg);
}

// The log is truncated when readers let go even if no batch comes (src/store/sqlite/wal-bound.ts).
const walTimer = setInterval(() => store?.wal?.tick(), 500);
walTimer.unref();

port.on('message', (m: ToStoreThread) => {
  if (m.type === 'close') {
    clearInterval(walTimer);
    void store?.close().finally(() => {
      port.postMessage({ type: 'closed' } satisfies FromStoreThread);
      port.close();
    });
    return;
  }
  let records;
  try {
    records = decodeBatch(m.batch);
  } catch (e) {
    port.postMessage({ type: 'failed', id: m.id, message: e instanceof Error ? e.message : String(e) } satisfies FromStoreThread);
    return;
  }
  if (!store) {
    // Not reached: the owner closes the thread when the open failed. Answered all the same.
    port.postMessage({ type: 'failed', id: m.id, message: 'the store is not open' } satisfies FromStoreThread);
    return;
  }
  store.writeBatch(records, m.counters).then(
    (r) => port.postMessage({ type: 'done', id: m.id, ...r } satisfies FromStoreThread),
    // The SQLite code (SQLITE_FULL, SQLITE_READONLY, SQLITE_BUSY…) says why: the batcher counts drops by it.
    (e: unknown) =>
      port.postMessage({
        type: 'failed',
        id: m.id,
        message: e instanceof Error ? e.message : String(e),
        code: errorCode(e),
      } satisfies FromStoreThread),
  );
});
