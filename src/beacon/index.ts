/**
 * usage-beacon: the emitter. `startBeacon()` sends a start datagram and arranges for exactly one
 * end datagram with the real exit status. Only node:* modules are on this import path, so loading
 * it costs a few milliseconds at most; see docs/beacon.md.
 */
import type { BeaconOptions } from './config.js';
import { installExitHooks } from './exit-hooks.js';
import { scriptKeyForProcess } from './ids.js';
import { openRun } from './open-run.js';

export type { BeaconOptions } from './config.js';
export { DEFAULT_OPT_OUT_ENV } from './config.js';

export interface Beacon {
  /** False when opted out (or the collector is unusable): nothing is or will be sent. */
  readonly enabled: boolean;
  /** Which setting decided `enabled`, e.g. "PARSL_TRACKING=off in the environment". */
  readonly reason: string;
  /** This run's UUID (undefined when disabled). */
  readonly run: string | undefined;
  /**
   * End the run now with this exit status (default 0), for hosts that manage their own
   * lifecycle; the automatic end at exit is then skipped. Only the first end counts.
   */
  end(code?: number): void;
}

function disabled(reason: string): Beacon {
  return { enabled: false, reason, run: undefined, end() {} };
}

export function startBeacon(options: BeaconOptions = {}): Beacon {
  try {
    // argv[1] is captured now: hosts (CLI frameworks) sometimes rewrite process.argv later.
    const script = options.script ?? process.argv[1];
    const opened = openRun(options, process.env, {
      runtime: `node/${process.versions.node}`,
      scriptKey: () => scriptKeyForProcess(script),
    });
    if (!opened.enabled) return disabled(opened.reason);
    const { emitter } = opened;
    const uninstall = installExitHooks((code) => {
      // Runs inside process 'exit' or a signal listener: a throw here would replace the host's
      // own exit status or crash report, so nothing may escape.
      try {
        emitter.end(code);
      } catch {
        /* best-effort telemetry */
      }
    });
    return {
      enabled: true,
      reason: opened.reason,
      get run() {
        return emitter.run;
      },
      end(code = 0) {
        try {
          uninstall();
          // Closed a little later, not now: a datagram the kernel could not take at once waits in
          // the socket's queue, and closing would drop it. Unref'd, so it never delays exit.
          if (emitter.end(code)) setTimeout(() => emitter.close(), 1000).unref();
        } catch {
          // The host called us; it must never pay for a telemetry failure.
        }
      },
    };
  } catch (e) {
    // Telemetry must never break the program that embeds it: any unexpected failure disables it.
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
