/**
 * `node --import usage-beacon/register app.js`: track a Node program without changing its code.
 * Configured from the environment only (BEACON_PROJECT, BEACON_VERSION, BEACON_COLLECTOR,
 * BEACON_COPIES, BEACON_OPT_OUT_ENV; opt-outs as in docs/beacon.md).
 */
import { startBeacon } from './index.js';

startBeacon({ optOutEnv: process.env.BEACON_OPT_OUT_ENV || undefined });
