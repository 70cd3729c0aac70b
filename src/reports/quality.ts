import type { MonthCounters } from './queries/counters.js';
import type { MonthSummary } from './queries/summary.js';
import type { Quality } from './report-types.js';
import { DEFAULT_COPIES } from '../protocol/limits.js';
import { int } from './format.js';

/**
 * Data quality and the datagram loss estimate (method in docs/reports.md).
 *
 * A native beacon sends each message DEFAULT_COPIES (2) times. With independent per-datagram loss
 * p, a message is lost only when every copy is: q = p². Among native runs whose end arrived, the
 * share whose start never did estimates q; p = sqrt(q). Ends are the clean side: a start without
 * an end can also be a crash or a run still going, an end without a start can only be loss.
 * Parsl clients send one copy (and, below tracking level 3, no end), so they are left out.
 */
const Z95 = 1.96;

/** Upper end of the 95% Wilson score interval for k successes in n trials. */
export function wilsonUpper(k: number, n: number): number {
  const q = k / n;
  const z2 = Z95 * Z95;
  const centre = q + z2 / (2 * n);
  const spread = Z95 * Math.sqrt((q * (1 - q)) / n + z2 / (4 * n * n));
  return Math.min(1, (centre + spread) / (1 + z2 / n));
}

const round = (x: number, digits = 6) => Math.round(x * 10 ** digits) / 10 ** digits;

function pct(x: number): string {
  if (x === 0) return '0%';
  if (x < 0.000001) return '< 0.0001%';
  if (x < 0.0001) return `${Number((x * 100).toPrecision(1))}%`;
  return `${(x * 100).toFixed(x < 0.01 ? 2 : 1)}%`;
}

function uncertainty(s: MonthSummary, q: number | null, qUp: number | null): Record<string, string> {
  if (q === null || qUp === null) {
    const none = 'unknown: no native-protocol runs completed this month, so datagram loss cannot be estimated';
    return { runs_started: none, runs_completed: none, compute_hours: none, unique_users: none, success_rate: none, run_length: none };
  }
  const missing = (n: number, rate: number) => Math.round((n * rate) / (1 - Math.min(rate, 0.999)));
  return {
    runs_started: `undercounted by about ${pct(q)} (~${int(missing(s.runs_started, q))} runs whose start was lost; 95% bound ${pct(qUp)})`,
    runs_completed: `undercounted by about ${pct(q)} (~${int(missing(s.runs_completed, q))} runs whose end was lost; 95% bound ${pct(qUp)})`,
    compute_hours: `undercounted by about ${pct(q)}, like completed runs (loss does not depend on run length)`,
    unique_users: `a user is missed only if every datagram of every run was lost: for a user with a single run the chance is ${pct(q * q)}, far less for users with several`,
    success_rate: 'not biased by loss (a lost datagram does not depend on the exit code)',
    run_length: 'not biased by loss (a lost datagram does not depend on the run length)',
  };
}

export function buildQuality(s: MonthSummary, c: MonthCounters): Quality {
  const n = s.native_completed;
  const k = s.native_ends_without_start;
  const q = n > 0 ? k / n : null;
  const qUp = n > 0 ? wilsonUpper(k, n) : null;
  const unfinished = q === null ? null : Math.max(0, Math.round(s.unmatched_starts - q * s.runs_started));
  return {
    days_with_counters: c.days,
    datagrams_received: c.values.received ?? 0,
    stored: c.values.stored ?? 0,
    duplicates: c.values.duplicates ?? 0,
    rejected: c.rejected,
    kernel_drops: c.values.kernel_drops ?? 0,
    unmatched_starts: s.unmatched_starts,
    unmatched_ends: s.unmatched_ends,
    estimated_loss_rate: q === null ? null : round(q ** (1 / DEFAULT_COPIES)),
    estimated_message_loss_rate: q === null ? null : round(q),
    message_loss_rate_upper_95: qUp === null ? null : round(qUp),
    loss_rate_basis: { native_runs_completed: n, native_ends_without_start: k },
    estimated_unfinished_runs: unfinished,
    uncertainty: uncertainty(s, q, qUp),
  };
}
