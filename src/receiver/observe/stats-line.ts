import { REJECT_REASONS } from '../../protocol/reject-reasons.js';
import type { Stats } from './stats.js';

/** The totals as one log object: `rejected` grouped by reason, zero reasons left out. */
export function statsLine(stats: Stats, pending: number, unmerged?: number): Record<string, unknown> {
  const t = stats.totals;
  const rejected: Record<string, number> = {};
  for (const r of REJECT_REASONS) if (t[`rejected.${r}`]) rejected[r] = t[`rejected.${r}`];
  return {
    received: t.received,
    stored: t.stored,
    duplicates: t.duplicates,
    rejected,
    kernel_drops: t.kernel_drops,
    overload_drops: t.overload_drops,
    pending,
    ...(unmerged === undefined ? {} : { unmerged }),
  };
}
