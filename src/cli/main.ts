import { isBeaconError } from '../errors.js';

/**
 * `beacon preview | head -1`: the reader closed our stdout early. What is left to print has nobody
 * to read it, so the program ends quietly with the status it has so far (0 unless set), as `cat`
 * and `ls` effectively do, instead of Node's unhandled-'error' stack trace. Any other write error
 * on stdout is still a real failure and surfaces as before.
 */
export function endQuietlyWhenStdoutCloses(stream: NodeJS.WriteStream = process.stdout): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  });
}

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
