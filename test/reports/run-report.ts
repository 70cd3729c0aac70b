import { Writable } from 'node:stream';
import { monthlyCommand, type MonthlyOptions } from '../../src/commands/monthly.js';

/** Runs the real command in-process, capturing stdout; `now` defaults to 2026-11-15 UTC. */
export async function runReport(opts: Partial<MonthlyOptions> & { db: string }): Promise<string> {
  const chunks: Buffer[] = [];
  const stdout = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  await monthlyCommand({ format: 'json', minUsers: 5, now: () => Date.UTC(2026, 10, 15), stdout, ...opts });
  return Buffer.concat(chunks).toString('utf8');
}

export async function jsonReport(opts: Partial<MonthlyOptions> & { db: string }): Promise<Record<string, any>> {
  return JSON.parse(await runReport({ ...opts, format: 'json' }));
}
