import { randomUUID } from 'node:crypto';
import { createRunEncoder, formatCollector } from '../protocol/index.js';
import type { CollectorAddress, RunEncoder, RunIdentity } from '../protocol/index.js';
import type { BeaconConfig } from './config.js';
import { detectCi } from './ci-detect.js';
import { deriveIds } from './ids.js';
import { createDebugTransport, createUdpTransport, type HostnameOptions, type Transport } from './transport.js';

export interface IdentityInput {
  secret: string;
  eph: boolean;
  /** e.g. "node/20.20.2"; `beacon run` passes the wrapped interpreter's name. */
  runtime: string;
  /** What the script ID is made from (a real path or a command line); only its keyed hash is sent. */
  scriptKey: string;
}

/** Everything a run's datagrams say, computed once. */
export function buildIdentity(cfg: BeaconConfig, input: IdentityInput, env: NodeJS.ProcessEnv): RunIdentity {
  const ids = deriveIds(input.secret, cfg.project, input.scriptKey);
  const identity: RunIdentity = {
    run: randomUUID(),
    project: cfg.project,
    version: cfg.version,
    ...ids,
    runtime: input.runtime,
    os: process.platform,
    arch: process.arch,
    ci: detectCi(env),
  };
  if (input.eph) identity.eph = true;
  if (cfg.components) identity.components = cfg.components as RunIdentity['components'];
  return identity;
}

/** One run: its start, its single end, and the transport they go through. */
export interface Emitter {
  readonly run: string;
  readonly collector: string;
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

export function createEmitter(
  cfg: BeaconConfig,
  collector: CollectorAddress,
  identity: RunIdentity,
  hostname: HostnameOptions = {},
): Emitter {
  // Built now so the exit path only formats three integers and sends.
  const encoder: RunEncoder = createRunEncoder(identity);
  const transport: Transport = cfg.debug
    ? createDebugTransport(collector, cfg.copies)
    : createUdpTransport(collector, cfg.copies, hostname);
  const t0 = performance.now();
  let ended = false;
  return {
    run: identity.run,
    collector: formatCollector(collector),
    start() {
      transport.send(encoder.start(Date.now()));
    },
    end(code) {
      if (ended) return false;
      ended = true;
      transport.send(encoder.end(Date.now(), exitStatus(code), performance.now() - t0));
      return true;
    },
    flush: (maxMs) => transport.flush(maxMs),
    close: () => transport.close(),
  };
}
