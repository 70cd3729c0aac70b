import { REJECT_REASONS, type RejectReason } from '../protocol/reject-reasons.js';

/** @deprecated import from src/protocol/reject-reasons.ts (kept while other branches merge). */
export { REJECT_REASONS, type RejectReason };

/**
 * Names of the receiver's counters, shared by the receiver (which increments, logs, exports and
 * persists them per UTC day in `daily_counters`) and the reports (which read them back).
 */

export const COUNTER_NAMES = [
  'received',
  'stored',
  'duplicates',
  ...REJECT_REASONS.map((r) => `rejected.${r}` as const),
  'kernel_drops',
  // Accepted by the kernel but dropped by the receiver because the store fell too far behind
  // (its in-memory queue was full): the daemon cannot keep up, like kernel_drops.
  'overload_drops',
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];

export function rejectCounter(reason: RejectReason): CounterName {
  return `rejected.${reason}`;
}
