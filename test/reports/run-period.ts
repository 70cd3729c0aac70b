import { Writable } from 'node:stream';
import { periodCommand, type PeriodCommandOptions } from '../../src/commands/period.js';

/** Runs the real `reports period` in-process, capturing stdout; `now` defaults to 2026-11-15 UTC. */
export async function runPeriod(opts: Partial<PeriodCommandOptions> & { db: string }): Promise<string> {
  const chunks: Buffer[] = [];
  const stdout = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  await periodCommand({ format: 'json', minUsers: 5, now: () => Date.UTC(2026, 10, 15), stdout, ...opts });
  return Buffer.concat(chunks).toString('utf8');
}

export async function jsonPeriod(opts: Partial<PeriodCommandOptions> & { db: string }): Promise<Record<string, any>> {
  return JSON.parse(await runPeriod({ ...opts, format: 'json' }));
}
