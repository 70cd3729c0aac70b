import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { constants } from 'node:os';
import { BeaconError } from '../errors.js';
import { parseCollector } from '../protocol/index.js';
import { existingFile } from '../beacon/ids.js';
import { HOOKED_SIGNALS } from '../beacon/exit-hooks.js';
import { openRun } from '../beacon/open-run.js';

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

/** Signals a terminal sends to its whole foreground process group. */
const KEYBOARD_SIGNALS: ReadonlySet<string> = new Set(['SIGINT', 'SIGQUIT']);

/** Fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, session, tty_nr, tpgid… */
function procStat(pid: number | 'self'): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * Did the terminal deliver this keyboard signal to the child already? It sends Ctrl-C to its
 * whole foreground process group, which holds both the wrapper and the child unless the child
 * moved to a group of its own: forwarding it too would make the program see two Ctrl-Cs (many
 * treat a second one as "stop cleaning up, die now"). True when the wrapper's group is the
 * terminal's foreground group and the child is still in it. Linux only (/proc); elsewhere, and
 * for a signal sent to the wrapper alone (no terminal, or a background job), it is forwarded.
 */
function terminalDelivered(childPid: number): boolean {
  const self = procStat('self');
  const child = procStat(childPid);
  if (!self || !child) return false;
  const [, , pgrp, , , tpgid] = self;
  return pgrp !== undefined && tpgid === pgrp && child[2] === pgrp;
}

/**
 * `beacon run [--project P] [--collector host:port] -- <command> [args...]`: run any program
 * under the beacon. Stdio is inherited, SIGINT/SIGTERM/SIGHUP are forwarded (a Ctrl-C only if the
 * terminal did not already deliver it), and the status is the child's (killed by signal n →
 * 128+n). A command that cannot start sends nothing.
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
  // Forward the signals the wrapper receives, so `kill <wrapper>` reaches the real program; but
  // not a Ctrl-C (or Ctrl-\) the terminal already delivered to the program itself.
  const forward = (signal: NodeJS.Signals) => {
    if (KEYBOARD_SIGNALS.has(signal) && child.pid !== undefined && terminalDelivered(child.pid)) return;
    try {
      child.kill(signal);
    } catch {
      // The child is already gone; its exit is on its way.
    }
  };
  for (const s of HOOKED_SIGNALS) process.on(s, forward);
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)));
  });
  // A command that never started (not found, not executable) is not a run: nothing is sent.
  const started = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.on('error', (e: NodeJS.ErrnoException) => resolve(e)); // after 'spawn': a failed kill, harmless
  });
  if (started) {
    for (const s of HOOKED_SIGNALS) process.removeListener(s, forward);
    throw new BeaconError('BEACON_ERR_SPAWN', spawnErrorMessage(file, started), { cause: started });
  }

  const opened = openRun({ project: opts.project || env.BEACON_PROJECT || basename(file), version: opts.toolVersion, collector }, env, {
    runtime: runtimeOf(file),
    scriptKey: () => scriptKeyOf(command),
    track: true,
    userCollector: opts.collector !== undefined,
  });

  const code = await exited;
  for (const s of HOOKED_SIGNALS) process.removeListener(s, forward);
  // Recorded before the best-effort flush: when the event loop empties, Node exits with
  // process.exitCode (not 13 for a top-level await left unsettled), so nothing the telemetry does
  // after this point can change the status the wrapper reports for its command.
  process.exitCode = code;

  if (opened.enabled) {
    opened.emitter.end(code);
    await opened.emitter.flush(FLUSH_MS);
    opened.emitter.close();
  }
  return code;
}
