import { isBeaconError } from '../errors.js';

/**
 * The one top-level catch: a BeaconError becomes `<prog>: <message> [CODE]` on stderr and its exit
 * status; anything else is a bug, reported in one line (stack only with BEACON_DEBUG=1).
 */
export async function runMain(prog: string, fn: () => Promise<number | void>): Promise<void> {
  try {
    const code = await fn();
    if (typeof code === 'number') process.exitCode = code;
  } catch (e) {
    if (isBeaconError(e)) {
      process.stderr.write(`${prog}: ${e.message} [${e.code}]\n`);
      process.exitCode = e.exitCode;
    } else {
      const msg = e instanceof Error ? e.message : String(e);
      process.stderr.write(`${prog}: unexpected error: ${msg.split('\n')[0]}\n`);
      if (process.env.BEACON_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
      process.exitCode = 70;
    }
  }
}
