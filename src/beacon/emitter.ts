import { createRunEncoder, formatCollector } from '../protocol/index.js';
import type { CollectorAddress, RunEncoder, RunIdentity } from '../protocol/index.js';
import type { BeaconConfig } from './config.js';
import { deriveIds } from './ids.js';
import { uuidV7 } from './random.js';
import { createDebugTransport, createUdpTransport, type TransportOptions, type Transport } from './transport.js';

export interface IdentityInput {
  secret: string;
  eph: boolean;
  /** e.g. "node/20.20.2"; `beacon run` passes the wrapped interpreter's name. */
  runtime: string;
  /** What the script ID is made from (a real path or a command line); only its keyed hash is sent. */
  scriptKey: string;
  /** A CI environment was detected (see ci-detect.ts). */
  ci: boolean;
}

/** Everything a run's datagrams say, computed once. */
export function buildIdentity(cfg: BeaconConfig, input: IdentityInput, run = uuidV7()): RunIdentity {
  const ids = deriveIds(input.secret, cfg.project, input.scriptKey);
  const identity: RunIdentity = {
    run,
    project: cfg.project,
    version: cfg.version,
    ...ids,
    runtime: input.runtime,
    os: process.platform,
    arch: process.arch,
    ci: input.ci,
  };
  if (input.eph) identity.eph = true;
  if (cfg.components) identity.components = cfg.components as RunIdentity['components'];
  return identity;
}

/** One run: its start, its single end, and the transport they go through. */
export interface Emitter {
  readonly run: string;
  readonly collector: string;
  /** Queue the start: identity, encoder and socket are built just after the caller returns. */
  start(): void;
  /** Sends the end once; later calls return false and send nothing. */
  end(code: number): boolean;
  flush(maxMs: number): Promise<void>;
  close(): void;
}

/** A process exit status as the protocol wants it: 0-255, like the OS truncates it. */
export function exitStatus(code: unknown): number {
  const n = typeof code === 'number' ? code : Number(code);
  return Number.isInteger(n) ? n & 255 : 1;
}

/**
 * The work split: startBeacon() only decides consent and reads the state file (about 1 ms);
 * hashing the IDs, encoding and creating the socket (3-5 ms: loading node:dgram, whose bind()
 * loads node:cluster) run in a process.nextTick right after, when the host's synchronous code that
 * called startBeacon() has finished, so they never delay it; the unref'd socket never keeps the
 * process alive. Once prepared, the exit path only formats three integers and sends. If the program
 * ends before the tick ran (process.exit() in the same tick), the end prepares synchronously
 * first, so start and end still both go out.
 *
 * process.nextTick, not setImmediate: the same work on the same thread either way, but an
 * immediate runs Node's timers code (setImmediate, Immediate, processImmediate, …), compiled in
 * every run: 0.8 M instructions, more than a tenth of what the beacon adds to a process
 * (bench:beacon-instr). The one difference for the host: an I/O callback already due when its
 * event loop first polls now runs after this work instead of before it.
 */
export function createEmitter(
  cfg: BeaconConfig,
  collector: CollectorAddress,
  makeIdentity: (run: string) => RunIdentity,
  transportOptions: TransportOptions = {},
): Emitter {
  let run: string | undefined; // drawn on first use: reading /dev/urandom is not needed to return from start
  const startedAt = Date.now();
  const runId = () => (run ??= uuidV7(startedAt));
  // process.hrtime, not performance.now(): the `performance` global loads perf_hooks (~10 modules) on first use.
  const t0 = process.hrtime.bigint();
  let encoder: RunEncoder | undefined;
  let transport: Transport | undefined;
  let ended = false;
  let closed = false;
  const prepare = (): void => {
    if (encoder || closed) return;
    try {
      encoder = createRunEncoder(makeIdentity(runId()));
      transport = cfg.debug ? createDebugTransport(collector, cfg.copies) : createUdpTransport(collector, cfg.copies, transportOptions);
      transport.send(encoder.start(startedAt));
      // Warm what the exit path calls: V8 compiles each function on its first call (tens of µs
      // here), and that should be paid now, off the critical path, not inside process 'exit'.
      encoder.end(startedAt, exitStatus(0), 0);
    } catch {
      // Runs in a tick of its own or at exit: a throw would surface as the host's uncaught exception.
      encoder = undefined;
      closed = true;
    }
  };
  return {
    get run() {
      return runId();
    },
    collector: formatCollector(collector),
    start() {
      process.nextTick(prepare);
    },
    end(code) {
      if (ended) return false;
      ended = true;
      prepare();
      if (!encoder || !transport) return false;
      transport.send(encoder.end(Date.now(), exitStatus(code), Number(process.hrtime.bigint() - t0) / 1e6));
      return true;
    },
    flush: (maxMs) => transport?.flush(maxMs) ?? Promise.resolve(),
    close: () => {
      closed = true;
      transport?.close();
    },
  };
}
