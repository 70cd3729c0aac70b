import type { BreakdownRow, Cell, ExitCodeRow, HistogramRow, Quality } from './report-types.js';

/**
 * The period report's data object (`reports period`); its JSON format is exactly this object.
 * Like the monthly report, numbers are computed in SQL and suppressed here; renderers only format.
 */
export interface PeriodMonthRow {
  month: string;
  /** The month had not ended when the data was read: its numbers will still grow. */
  partial: boolean;
  source: 'runs' | 'rollups';
  unique_users: Cell;
  new_users: Cell;
  /** Distinct users of the period from its first month up to this one. */
  cumulative_users: Cell;
  runs_started: Cell;
  runs_completed: Cell;
  success_rate: number | null;
  compute_hours: Cell;
}

export interface PeriodReport {
  report: 'usage-beacon period report';
  report_version: 1;
  from: string;
  to: string;
  months: number;
  project: string | null;
  incomplete_months: string[];
  empty: boolean;
  suppression: { min_users: number; applied: boolean };
  source: { months_from_rollups: string[]; months_without_sketch: string[]; breakdown_months: string[] };
  /** How the period's distinct users, hosts and scripts were counted. */
  distinct: {
    method: 'exact' | 'estimate' | 'unknown';
    /** One-sigma relative error of an estimate (HyperLogLog, p = 14); null when exact. */
    relative_error: number | null;
    /** Half-width of the 95% interval, relative (1.96 sigma); null when exact. */
    relative_error_95: number | null;
  };
  unique_users: Cell;
  unique_hosts: Cell;
  unique_scripts: Cell;
  /** Users first seen (ever) in one of the period's months: adds up exactly across months. */
  new_users: Cell;
  runs: Cell;
  runs_started: Cell;
  runs_completed: Cell;
  success_rate: number | null;
  compute_hours: Cell;
  duration_s: { median: number | null; mean: number | null; p90: number | null };
  runs_without_user_id: number;
  /** Monthly active users, first and last complete month of the period (the trend in the summary). */
  growth: { first_month: string | null; last_month: string | null; first: Cell; last: Cell; change_pct: number | null };
  monthly: PeriodMonthRow[];
  exit_codes: ExitCodeRow[];
  breakdowns: Record<string, BreakdownRow[]>;
  components: Record<string, BreakdownRow[]>;
  run_length_histogram: HistogramRow[];
  quality: Quality;
  notes: string[];
  /** One paragraph for a grant report, built from the numbers above (summary-text.ts). */
  summary_text: string;
}
