import cluster from 'node:cluster';
import { resolveReceiveOptions, type ReceiveCliOptions } from './options.js';
import { runReceiver } from './receiver.js';
import { currentRole } from './worker-role.js';

/**
 * `beacon receive`: one receiver in this process, or with `--workers N` a primary that runs N
 * receiver processes sharing the port (src/receiver/workers.ts). A cluster worker re-runs this
 * same command line and finds its role in the environment.
 */
export async function receiveCommand(cli: ReceiveCliOptions): Promise<number> {
  const opts = resolveReceiveOptions(cli);
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
  if (opts.workers > 1) return (await import('./workers.js')).runWorkers(opts);
  return runReceiver(opts);
}
