import { REJECT_REASONS, type RejectReason } from '../protocol/reject-reasons.js';

/**
 * Names of the receiver's counters, shared by the receiver (which increments, logs, exports and
 * persists them per UTC day in `daily_counters`) and the reports (which read them back).
 */

/** What the store was doing when accepted datagrams had to be dropped (src/receiver/store-fault.ts). */
export const OVERLOAD_REASONS = ['store_slow', 'disk_full', 'read_only', 'locked', 'wal_full', 'unreachable', 'store_error'] as const;
export type OverloadReason = (typeof OVERLOAD_REASONS)[number];

export const COUNTER_NAMES = [
  'received',
  'stored',
  'duplicates',
  ...REJECT_REASONS.map((r) => `rejected.${r}` as const),
  'kernel_drops',
  // Accepted by the kernel but dropped by the receiver because the store fell too far behind
  // (its in-memory queue was full): the daemon cannot keep up, like kernel_drops.
  'overload_drops',
  // The same drops by what the store was doing when the backlog was full (one of these per
  // overload drop): slow, or failing and why.
  ...OVERLOAD_REASONS.map((r) => `overload.${r}` as const),
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];

export function rejectCounter(reason: RejectReason): CounterName {
  return `rejected.${reason}`;
}
