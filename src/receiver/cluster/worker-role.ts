import cluster from 'node:cluster';
import type { BindMode } from '../listen.js';
import { nativeUdp } from '../native-udp.js';

/**
 * What the primary tells a worker it forked (src/receiver/cluster/workers.ts): which slot it fills, how to
 * bind, and whether it is the one that counts kernel drops. Passed in the environment because a
 * cluster worker re-runs the same command line; only honoured inside a cluster worker, so setting
 * the variable by hand changes nothing.
 */
export interface WorkerRole {
  slot: number;
  /** The port to bind: the operator's, or (reuseport) the one the first worker got for port 0. */
  port: number;
  bind: Exclude<BindMode, 'exclusive'>;
  /**
   * With a shared socket every worker sees the same /proc/net/udp drop counter; only one counts
   * it, or kernel_drops would be N times too high. With reuseport each socket has its own.
   */
  countKernelDrops: boolean;
}

const ROLE_ENV = 'BEACON_RECEIVER_WORKER';

export function roleEnv(role: WorkerRole): Record<string, string> {
  return { [ROLE_ENV]: JSON.stringify(role) };
}

export function currentRole(env: NodeJS.ProcessEnv = process.env): WorkerRole | undefined {
  const text = env[ROLE_ENV];
  if (!cluster.isWorker || !text) return undefined;
  return JSON.parse(text) as WorkerRole;
}

/**
 * SO_REUSEPORT: the native batch reader sets it itself; dgram's `reusePort` exists from Node
 * 22.12 and 23.1, and on older versions the option is silently ignored (a second bind gets
 * EADDRINUSE), so there the workers share the primary's socket.
 */
export function portSharing(version: string = process.versions.node, native = nativeUdp() !== undefined): WorkerRole['bind'] {
  if (native) return 'reuseport';
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const reusePort = major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
  return reusePort ? 'reuseport' : 'shared';
}

/** Messages a worker sends the primary over the cluster IPC channel. */
export interface WorkerListening {
  type: 'beacon:listening';
  port: number;
  store: string;
  recvBufferBytes: number;
}
