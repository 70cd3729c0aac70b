import cluster from 'node:cluster';
import v8 from 'node:v8';
import { resolveReceiveOptions, type ReceiveCliOptions } from '../receiver/options.js';
import { runReceiver } from '../receiver/receiver.js';
import { currentRole } from '../receiver/cluster/worker-role.js';

/** The options as commander hands them over; resolved (environment, defaults) by the receiver. */
export type ReceiveCommandOptions = ReceiveCliOptions;

/**
 * `beacon receive`: one receiver in this process, or with `--workers N` a primary that runs N
 * receiver processes sharing the port (src/receiver/cluster/workers.ts). A cluster worker re-runs this
 * same command line and finds its role in the environment.
 */
export async function receiveCommand(cli: ReceiveCliOptions): Promise<number> {
  const opts = resolveReceiveOptions(cli);
  youngGeneration();
  const role = currentRole();
  if (role) {
    try {
      return await runReceiver(opts, role);
    } finally {
      // The IPC channel would keep the worker alive; disconnecting first tells the primary this
      // exit is deliberate (the exit code says whether it went well).
      cluster.worker?.disconnect();
    }
  }
  if (opts.workers > 1) return (await import('../receiver/cluster/workers.js')).runWorkers(opts);
  return runReceiver(opts);
}

/**
 * A receiver allocates a few objects per datagram that live until their batch is committed (up to
 * --flush-ms): with V8's default 16 MiB semi-spaces, under load they survive two scavenges and get
 * promoted, and old-generation collections follow. Letting the young generation grow to 32 MiB
 * semi-spaces keeps a batch's garbage young: at 40k datagrams/s, pinned to one core, the CPU per
 * datagram fell by ~20% and the kernel drops went from ~15% to ~0 (bench/receiver.mjs). It is a
 * ceiling, not a reservation: an idle receiver stays small. Set before the receiver allocates;
 * threads started afterwards (the store thread) get it too. $NODE_OPTIONS still wins if it sets
 * its own size.
 */
function youngGeneration(): void {
  const set = process.execArgv.concat(process.env.NODE_OPTIONS?.split(/\s+/) ?? []).some((a) => a.startsWith('--max-semi-space-size'));
  if (!set) v8.setFlagsFromString('--max-semi-space-size=32');
}
