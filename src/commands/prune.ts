import { BeaconError } from '../errors.js';
import { pruneStore, type MonthOutcome } from '../retention/prune.js';
import { DEFAULT_DB } from '../store/location.js';
import { openQueryRunner } from '../store/open-store.js';
import type { QueryRunner } from '../store/query-runner.js';

/**
 * `beacon prune --older-than 60d [--db path | --store url] [--json]`: migrate the store to this
 * build's schema (v3 holds the rollups), then roll up and delete the raw runs of every month
 * entirely older than now − age (rules in prune.ts and docs/deploy.md). One line per month.
 */
export interface PruneCommandOptions {
  olderThan: string;
  db?: string;
  store?: string;
  json?: boolean;
  /** Injectable for tests. */
  now?: () => number;
  stdout?: NodeJS.WritableStream;
  beforeDelete?: Parameters<typeof pruneStore>[1]['beforeDelete'];
  afterPlan?: Parameters<typeof pruneStore>[1]['afterPlan'];
}

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000 } as const;

/** "60d", "12h", "90m" → milliseconds; anything else (or zero) is BEACON_ERR_BAD_DURATION. */
export function parseAge(text: string): number {
  const m = /^(\d{1,6})([dhm])$/.exec(String(text).trim());
  if (!m || Number(m[1]) === 0) {
    throw new BeaconError(
      'BEACON_ERR_BAD_DURATION',
      `--older-than must be a positive whole number followed by d (days), h (hours) or m (minutes), e.g. 60d; got ${JSON.stringify(String(text).slice(0, 40))}`,
    );
  }
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

async function openForPrune(opts: PruneCommandOptions): Promise<QueryRunner> {
  const runner = await openQueryRunner(opts, { migrate: true });
  if (!runner.writable) {
    await runner.close();
    throw new BeaconError('BEACON_ERR_DB_OPEN', `cannot prune ${opts.db ?? DEFAULT_DB}: the store is read-only for this user`);
  }
  return runner;
}

function line(o: MonthOutcome): string {
  const n = o.runs.toLocaleString('en-US');
  if (o.action === 'pruned') {
    const per =
      o.rollups === 1 ? '1 rollup' : `${o.rollups} rollups (all projects + ${o.rollups - 1} project${o.rollups === 2 ? '' : 's'})`;
    return `${o.month}  pruned  ${n} raw runs deleted, ${per} kept`;
  }
  return `${o.month}  kept    ${n} raw runs: ${o.reason}`;
}

export async function pruneCommand(opts: PruneCommandOptions): Promise<number> {
  const ageMs = parseAge(opts.olderThan);
  const nowMs = (opts.now ?? Date.now)();
  const cutoffMs = nowMs - ageMs;
  const db = await openForPrune(opts);
  let months: MonthOutcome[];
  try {
    months = await pruneStore(db, { cutoffMs, nowMs, beforeDelete: opts.beforeDelete, afterPlan: opts.afterPlan });
  } finally {
    await db.close();
  }
  const cutoff = new Date(cutoffMs).toISOString();
  let text: string;
  if (opts.json) text = `${JSON.stringify({ cutoff, months }, null, 2)}\n`;
  else if (months.length === 0) text = `nothing to prune: no raw runs in months that ended before the cutoff ${cutoff}\n`;
  else text = `${months.map(line).join('\n')}\n`;
  const out = opts.stdout ?? process.stdout;
  await new Promise<void>((resolve, reject) => out.write(text, (e) => (e ? reject(e) : resolve())));
  return 0;
}
