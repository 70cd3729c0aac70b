import { REJECT_REASONS } from '../../protocol/reject-reasons.js';
import { COUNTER_NAMES } from '../../store/counters.js';
import { dayRange, type Month } from '../month.js';
import { count, type QueryRunner } from '../../store/query-runner.js';

/**
 * The receiver's per-day counters summed over the month's UTC days. They describe the whole
 * collector, not one project: the receiver counts datagrams before it knows which project they
 * belong to (a rejected datagram may not have one).
 */
export interface MonthCounters {
  days: number;
  values: Record<string, number>;
  rejected: Record<string, number>;
}

export async function monthCounters(db: QueryRunner, month: Month): Promise<MonthCounters> {
  const { from, to } = dayRange(month);
  const rows = await db.all(
    `SELECT name, sum(value) AS value FROM daily_counters
     WHERE day >= ? AND day < ? GROUP BY name ORDER BY name`,
    [from, to],
  );
  const [d] = await db.all('SELECT count(DISTINCT day) AS days FROM daily_counters WHERE day >= ? AND day < ?', [from, to]);
  const values: Record<string, number> = {};
  for (const name of COUNTER_NAMES) values[name] = 0;
  for (const r of rows) {
    // Only names this build knows: a counter row is data, and data does not pick JSON keys.
    if ((COUNTER_NAMES as readonly string[]).includes(String(r.name))) values[String(r.name)] = count(r.value);
  }
  const rejected: Record<string, number> = {};
  for (const reason of REJECT_REASONS) rejected[reason] = values[`rejected.${reason}`] ?? 0;
  return { days: count(d?.days), values, rejected };
}
