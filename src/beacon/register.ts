/**
 * `node --import usage-beacon/register app.js`: track a Node program without changing its code.
 * Configured from the environment only (BEACON_PROJECT, BEACON_VERSION, BEACON_COLLECTOR,
 * BEACON_COPIES, BEACON_OPT_OUT_ENV; opt-outs as in docs/beacon.md).
 */
import { startBeacon } from './index.js';

// Node runs --import modules again in every worker thread the program starts; a run is the
// process, so only the main thread starts the beacon. A worker is told apart by Node's stub for
// process.chdir there (it throws ERR_WORKER_UNSUPPORTED_OPERATION and is flagged `disabled`), which
// costs nothing, where importing node:worker_threads for `isMainThread` loads ~25 modules (~2 ms).
// Should a future Node drop the flag, each worker would count as a run of its own: visible in the
// failure-mode matrix test, harmless to the program.
const inWorker = (process.chdir as { disabled?: boolean }).disabled === true;

if (!inWorker) startBeacon({ optOutEnv: process.env.BEACON_OPT_OUT_ENV || undefined });
