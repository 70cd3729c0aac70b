/**
 * Why a datagram was refused: the protocol's verdicts, in the order the checks run. The receiver
 * counts each reason per UTC day (`rejected.<reason>` in src/store/counters.ts), logs and exports
 * them; the reports read them back for the data-quality section.
 */
export const REJECT_REASONS = ['oversized', 'not_json', 'schema', 'implausible', 'unknown_protocol', 'rate_limited'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];
