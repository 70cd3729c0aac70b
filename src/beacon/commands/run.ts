import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import { constants } from 'node:os';
import { BeaconError } from '../../errors.js';
import { parseCollector } from '../../protocol/index.js';
import { existingFile } from '../ids.js';
import { HOOKED_SIGNALS } from '../exit-hooks.js';
import { openRun } from '../open-run.js';

export interface RunOptions {
  project?: string;
  toolVersion?: string;
  collector?: string;
  /** Injectable for tests. */
  env?: NodeJS.ProcessEnv;
}

/** The wrapper may wait this long for its end datagram to leave; the command has already finished. */
const FLUSH_MS = 20;

const INTERPRETER = /^(python|pypy|node|deno|bun|ruby|perl|php|julia|Rscript|R|java|lua|bash|sh|zsh|dash)[0-9.]*$/;

/** A well-known interpreter's name, or "unknown": a command's own name could be a private file name. */
export function runtimeOf(command: string): string {
  const name = basename(command);
  return INTERPRETER.test(name) ? name : 'unknown';
}

/** Script ID source: the first argument that is an existing file (real path), else the command line. */
export function scriptKeyOf(command: string[]): string {
  for (const arg of command) {
    const real = existingFile(arg);
    if (real) return real;
  }
  return command.join(' ');
}

function spawnErrorMessage(command: string, e: NodeJS.ErrnoException): string {
  if (e.code === 'ENOENT') return `cannot run "${command}": command not found`;
  if (e.code === 'EACCES') return `cannot run "${command}": permission denied`;
  return `cannot run "${command}": ${e.code ?? e.message}`;
}

/**
 * `beacon run [--project P] [--collector host:port] -- <command> [args...]`: run any program
 * under the beacon. Stdio is inherited, SIGINT/SIGTERM/SIGHUP are forwarded, and the status is the
 * child's (killed by signal n → 128+n).
 */
export async function runCommand(command: string[], opts: RunOptions = {}): Promise<number> {
  const env = opts.env ?? process.env;
  const [file, ...args] = command;
  if (!file) throw new BeaconError('BEACON_ERR_NO_COMMAND', 'no command given: beacon run -- <command> [args...]');
  const collector = opts.collector ?? env.BEACON_COLLECTOR;
  if (collector !== undefined && !parseCollector(collector)) {
    throw new BeaconError('BEACON_ERR_BAD_COLLECTOR', `--collector must be host:port, got "${collector}"`);
  }

  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(file, args, { stdio: 'inherit', env });
  } catch (e) {
    throw new BeaconError('BEACON_ERR_SPAWN', spawnErrorMessage(file, e as NodeJS.ErrnoException), { cause: e });
  }
  // Forward the signals the wrapper receives, so `kill <wrapper>` reaches the real program.
  const forward = (signal: NodeJS.Signals) => {
    try {
      child.kill(signal);
    } catch {
      // The child is already gone; its exit is on its way.
    }
  };
  for (const s of HOOKED_SIGNALS) process.on(s, forward);

  const opened = openRun(
    { project: opts.project || env.BEACON_PROJECT || basename(file), version: opts.toolVersion, collector },
    env,
    { runtime: runtimeOf(file), scriptKey: () => scriptKeyOf(command), track: true },
  );

  const outcome = await new Promise<{ code: number; error?: NodeJS.ErrnoException }>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => resolve({ code: 127, error }));
    child.once('exit', (code, signal) =>
      resolve({ code: code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0) }),
    );
  });
  for (const s of HOOKED_SIGNALS) process.removeListener(s, forward);

  if (opened.enabled) {
    opened.emitter.end(outcome.code);
    await opened.emitter.flush(FLUSH_MS);
    opened.emitter.close();
  }
  if (outcome.error) {
    throw new BeaconError('BEACON_ERR_SPAWN', spawnErrorMessage(file, outcome.error), { cause: outcome.error });
  }
  return outcome.code;
}
