/**
 * The report's data object. The JSON format is exactly this object (JSON.stringify with 2-space
 * indent); md, html and csv are renderings of it. Numbers are computed in SQL; renderers only
 * format. A count that small-count suppression hides is the string "< K" (see suppress.ts).
 */
/** A count: a number, "< K" when suppressed, null when it cannot be known (no user IDs). */
export type Cell = number | string | null;

export interface Change {
  previous: number | null;
  /** This month minus the previous; null when either side is unknown or suppressed. */
  change: number | null;
  /** Relative change in percent, one decimal; null when the previous value is 0 or unknown. */
  change_pct: number | null;
}

export interface BreakdownRow {
  value: string;
  runs: Cell;
  users: Cell;
  /** Share of the section's runs, 0-1 (null when suppressed). */
  share: number | null;
}

export interface ExitCodeRow {
  code: number | 'other';
  runs: Cell;
  users: Cell;
  share: number | null;
}

export interface TrendPoint {
  month: string;
  unique_users: Cell;
  runs_started: Cell;
  compute_hours: Cell;
}

export interface HistogramRow {
  from_s: number;
  to_s: number | null;
  label: string;
  runs: number;
}

export interface Quality {
  days_with_counters: number;
  datagrams_received: number;
  stored: number;
  duplicates: number;
  rejected: Record<string, number>;
  kernel_drops: number;
  unmatched_starts: number;
  unmatched_ends: number;
  /** Per-datagram loss probability p estimated from native ends that arrived without their start. */
  estimated_loss_rate: number | null;
  /** Probability that both copies of a message were lost (p²): the share of runs missing a start or an end. */
  estimated_message_loss_rate: number | null;
  /** 95% upper bound of estimated_message_loss_rate (Wilson score interval). */
  message_loss_rate_upper_95: number | null;
  loss_rate_basis: { native_runs_completed: number; native_ends_without_start: number };
  /** Estimated crashed or still running: starts without end beyond what loss explains. */
  estimated_unfinished_runs: number | null;
  /** How far each headline number could be off because of datagram loss. */
  uncertainty: Record<string, string>;
  /** What could inflate the headline numbers (src/reports/poisoning.ts); null for a month read from rollups. */
  poisoning?: Poisoning | null;
}

export interface Headline {
  unique_users: Cell;
  unique_hosts: Cell;
  unique_scripts: Cell;
  new_users: Cell;
  returning_users: Cell;
  runs_started: Cell;
  runs_completed: Cell;
  success_rate: number | null;
  compute_hours: Cell;
  duration_s: { median: number | null; mean: number | null; p90: number | null };
}

export interface Report extends Headline {
  report: 'usage-beacon monthly report';
  report_version: 1;
  month: string;
  previous_month: string;
  project: string | null;
  /** True while the month had not ended when the data was read (numbers may still grow). */
  incomplete_month: boolean;
  empty: boolean;
  suppression: { min_users: number; applied: boolean };
  /** Where the numbers come from: raw runs, or the monthly rollups of months `beacon prune` pruned. */
  source: { month: 'runs' | 'rollups'; months_from_rollups: string[] };
  runs: Cell;
  runs_without_user_id: Cell;
  runs_weak_ids: Cell;
  runs_ephemeral_ids: Cell;
  changes: Record<string, Change>;
  exit_codes: ExitCodeRow[];
  breakdowns: Record<string, BreakdownRow[]>;
  components: Record<string, BreakdownRow[]>;
  run_length_histogram: HistogramRow[];
  trend: TrendPoint[];
  quality: Quality;
  notes: string[];
  /** One paragraph for a grant report, built from the numbers above (summary-text.ts). */
  summary_text: string;
}

/** The data-quality section's poisoning checks (built by src/reports/poisoning.ts). */
export interface PoisoningHeadline {
  runs_started: Cell;
  runs_completed: Cell;
  compute_hours: Cell;
  unique_users: Cell;
  new_users: Cell;
}

export interface Poisoning {
  /** True when any check flagged something: the headline numbers may be inflated. */
  flagged: boolean;
  heavy_ids: { ids: number; runs: number; share_of_runs: number | null; threshold: string };
  one_off_bursts: { days: { day: string; one_off_users: number }[]; median_per_day: number; threshold: string };
  /** runs_tagged 0: no run carries a network tag (a store from before them, or runs written by other tools): not checked. */
  one_network: {
    networks: { day: string; new_users: number; share_of_new_users: number | null }[];
    flagged: number;
    runs_tagged: number;
    threshold: string;
  };
  flagged_users: number;
  /** The headline numbers as they are, and without the flagged users and networks' runs. */
  headline: PoisoningHeadline;
  without_flagged: PoisoningHeadline;
}
