/**
 * The published entry point: scripts/bundle-beacon.mjs builds dist/beacon/index.js (and register.js)
 * from this file, and the beacon itself (core-exports.ts: index.ts and everything under it, and the
 * compile cache's writer) into one script file, dist/beacon/core.js, that this loads with V8's code
 * cache (code-cache.ts says why). Same API as
 * index.ts; only how the code gets compiled differs. The unbundled tsc output keeps index.ts as the
 * entry, so the CLI and a build without the bundling step work as before.
 */
import type { Beacon, BeaconOptions } from './index.js';
import { DEFAULT_OPT_OUT_ENV, envConsent } from './consent.js';
import { stateDirFromEnv } from './state-dir.js';
import { runCachedScript } from './code-cache.js';
import type { PendingCache } from './code-cache-write.js';

export type { Beacon, BeaconOptions };
export { DEFAULT_OPT_OUT_ENV };

// Set by the bundler: the core script's file name (next to this file), a hash of its text, its length.
declare const BEACON_CORE_FILE: string;
declare const BEACON_CORE_ID: string;
declare const BEACON_CORE_LENGTH: number;

type Core = Pick<typeof import('./core-exports.js'), 'startBeacon' | 'writeCompileCache'>;
let core: Core | undefined;

const disabled = (reason: string): Beacon => ({ enabled: false, reason, run: undefined, end() {} });

export function startBeacon(options: BeaconOptions = {}): Beacon {
  try {
    // An opt-out in the environment ends here, as in the core (open-run.ts), with the same reason:
    // no file of the user's is read (not even the cache), and the core is not even compiled. Parsed
    // only when one of the two variables is set at all (the variable named as envConsent names it):
    // every function a run calls here is compiled for that run (code-cache.ts says what that costs),
    // and nearly every run has neither.
    const env = process.env;
    if (env.DO_NOT_TRACK !== undefined || env[options.optOutEnv === undefined ? DEFAULT_OPT_OUT_ENV : options.optOutEnv] !== undefined) {
      const consent = envConsent(env, options.optOutEnv);
      if (consent.choice === 'off') return disabled(consent.reason);
    }
    // The loader itself needs process.getBuiltinModule; the core would say the same (open-run.ts).
    if (typeof process.getBuiltinModule !== 'function') return disabled(`needs Node.js >= 20.16 (this is ${process.version})`);
    let pending: PendingCache | undefined;
    if (!core) {
      // The file's location is asked for only without a usable cache: import.meta costs (code-cache.ts).
      const src = { id: BEACON_CORE_ID, length: BEACON_CORE_LENGTH, file: () => `${import.meta.dirname}/${BEACON_CORE_FILE}` };
      const loaded = runCachedScript(src, env.BEACON_HOME || stateDirFromEnv(env));
      core = (loaded.value as () => Core)();
      pending = loaded.pending;
    }
    const beacon = core.startBeacon(options);
    // Registered after the core's own exit listener, so it runs after the end datagram went out.
    if (pending && beacon.enabled) {
      const { writeCompileCache } = core;
      const toWrite = pending;
      process.on('exit', () => writeCompileCache(toWrite));
    }
    return beacon;
  } catch (e) {
    // Telemetry must never break the program that embeds it (a missing or damaged core file).
    if (process.env.BEACON_DEBUG) {
      try {
        process.stderr.write(`usage-beacon debug: disabled after an internal error: ${String(e)}\n`);
      } catch {
        /* stderr closed */
      }
    }
    return disabled('internal error');
  }
}
