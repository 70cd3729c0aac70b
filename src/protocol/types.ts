/** Wire protocol v1 message types. docs/protocol.md is the prose version of this file. */

export type MessageKind = 'start' | 'end';

/** Small, bounded description of how the tool was configured, e.g. `{ executors: 2 }`. */
export type Components = Record<string, number | string>;

/** Fields that identify a run; sent in both the start and the end so a lost start costs nothing. */
export interface RunIdentity {
  /** UUIDv7 (time-ordered; UUIDv4 also accepted), the same in a run's start and end. */
  run: string;
  /** Tool name, e.g. "parsl". */
  project: string;
  /** Tool version. */
  version: string;
  /** Anonymized IDs: 32 lowercase hex characters each (see docs/PRIVACY.md). */
  user: string;
  host: string;
  script: string;
  /** e.g. "node/20.20.2", "python/3.11.7". */
  runtime: string;
  /** e.g. "linux". */
  os: string;
  /** e.g. "x64". */
  arch: string;
  /** A CI environment was detected. */
  ci: boolean;
  /** True when the IDs come from an in-memory secret because no state file could be written. */
  eph?: boolean;
  components?: Components;
}

export interface StartMessage extends RunIdentity {
  v: 1;
  kind: 'start';
  /** Client epoch milliseconds when the datagram was built. Informational: receivers bucket by their own clock. */
  t: number;
}

export interface EndMessage extends RunIdentity {
  v: 1;
  kind: 'end';
  t: number;
  /** 0-255; killed by signal n → 128 + n. */
  exit: number;
  /** Monotonic milliseconds since the start. */
  dur_ms: number;
}

export type BeaconMessage = StartMessage | EndMessage;
