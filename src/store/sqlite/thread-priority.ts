import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * The receiver's background threads (the store thread's merge, the settle thread) run at a lower
 * CPU priority than the thread reading the socket: on a busy core the reader gets the CPU first
 * and never falls behind the kernel's receive buffer because a settle round or a merge happened
 * to be running; the background work follows in what is left (the intake log holds the difference,
 * bounded). Nice 19, the usual class of background compaction: against the socket's thread (nice
 * 0) such a thread gets ~1.5% of a contended core, so the reader keeps up at up to ~2× the rate
 * it did at nice 10 (measured at 180k–200k datagrams/s, docs/receiver.md#capacity). The price: on
 * a host whose cores other CPU-bound processes keep busy, the merge crawls and the intake log grows
 * towards its bound; there, set $BEACON_BACKGROUND_NICE=10 (~10% of a core) or lower. 0–19; 0
 * turns it off.
 */
export const DEFAULT_BACKGROUND_NICE = 19;

export function backgroundNice(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.BEACON_BACKGROUND_NICE;
  const n = text === undefined || text.trim() === '' ? DEFAULT_BACKGROUND_NICE : Number(text);
  return Number.isInteger(n) && n >= 0 && n <= 19 ? n : DEFAULT_BACKGROUND_NICE;
}

/** This thread's OS id on Linux (/proc/thread-self → <pid>/task/<tid>), else undefined. */
export function osThreadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) ? tid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Lowers the calling thread's priority to `nice` (on Linux a thread id names that thread alone to
 * setpriority(2)). Returns the nice value now in effect, or undefined where it could not be set
 * (not Linux, or not permitted): the thread then runs at the process's priority.
 */
export function lowerThreadPriority(nice = backgroundNice()): number | undefined {
  const tid = osThreadId();
  if (tid === undefined) return undefined;
  try {
    if (nice > 0) setPriority(tid, nice);
    return nice;
  } catch {
    return undefined;
  }
}
