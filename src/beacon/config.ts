import { DEFAULT_OPT_OUT_ENV, isTruthy } from './consent.js';
import { joinPath, stateDirFromEnv } from './state-dir.js';
import { DEFAULT_COLLECTOR, DEFAULT_COPIES, MAX_COPIES, parseCollector } from '../protocol/index.js';
import type { CollectorAddress } from '../protocol/index.js';
import type { SitePolicy } from './site-policy.js';

// Re-exported: consent and the state directory live in modules of their own so that the published
// entry point (entry.ts) can use them without loading the rest of the configuration.
export { DEFAULT_OPT_OUT_ENV, envConsent, isTruthy, type EnvConsent } from './consent.js';
export { joinPath, stateDirFromEnv } from './state-dir.js';

/** Options an embedding tool passes to `startBeacon`. Every one is optional except `project`. */
export interface BeaconOptions {
  /** Tool name reported, e.g. "parsl". Falls back to $BEACON_PROJECT, then "unknown". */
  project?: string;
  /** Tool version. Falls back to $BEACON_VERSION, then "unknown". */
  version?: string;
  /** Collector `host:port`. Falls back to $BEACON_COLLECTOR, then 127.0.0.1:50077. */
  collector?: string;
  /** Name of the tool's opt-out variable (set to false/0/no/off to opt out). Default PARSL_TRACKING. */
  optOutEnv?: string;
  /**
   * The command your users run to opt out for good, shown in the first-run notice, e.g.
   * `mytool telemetry off`. Falls back to $BEACON_OPT_OUT_COMMAND, then `npx usage-beacon disable`.
   */
  optOutCommand?: string;
  /** Small description of the configuration, e.g. `{ executors: 2 }` (see docs/protocol.md). */
  components?: Record<string, unknown>;
  /** How many times each datagram is sent (identical bytes). Falls back to $BEACON_COPIES, then 2. */
  copies?: number;
  /** Entry script whose anonymized ID is sent. Default: the real path of process.argv[1]. */
  script?: string;
}

export interface BeaconConfig {
  project: string;
  version: string;
  collectorSpec: string;
  /** Undefined when the spec is unusable: the library then sends nothing (it never throws). */
  collector: CollectorAddress | undefined;
  optOutEnv: string;
  optOutCommand: string;
  copies: number;
  components: Record<string, unknown> | undefined;
  debug: boolean;
  stateDir: string;
  statePath: string;
  script: string | undefined;
}

/**
 * Commands printed for the reader: `npx usage-beacon …` runs this package's own bin wherever npm is,
 * inside a project that depends on it or not (`npx beacon` would fetch an unrelated package there).
 */
export const DEFAULT_OPT_OUT_COMMAND = 'npx usage-beacon disable';
export const PREVIEW_COMMAND = 'npx usage-beacon preview';
export const STATE_FILE_NAME = 'state.json';

function clampCopies(value: unknown): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n)) return DEFAULT_COPIES;
  return Math.min(MAX_COPIES, Math.max(1, n));
}

/**
 * The collector: the tool's option → $BEACON_COLLECTOR → default; a site policy's collector
 * replaces the tool's choice (option and default), but not the user's own $BEACON_COLLECTOR.
 */
export function collectorSpecFor(opts: BeaconOptions, env: NodeJS.ProcessEnv, site?: SitePolicy): string {
  if (site?.status === 'ok' && site.collector) return env.BEACON_COLLECTOR || site.collector;
  return opts.collector || env.BEACON_COLLECTOR || DEFAULT_COLLECTOR;
}

/**
 * Every setting, resolved option → environment variable → default, in this one place. Reads the
 * environment when called (at construction), never when the module loads.
 */
export function resolveConfig(opts: BeaconOptions, env: NodeJS.ProcessEnv, site?: SitePolicy): BeaconConfig {
  const collectorSpec = collectorSpecFor(opts, env, site);
  const stateDir = stateDirFromEnv(env);
  return {
    project: opts.project || env.BEACON_PROJECT || 'unknown',
    version: opts.version || env.BEACON_VERSION || 'unknown',
    collectorSpec,
    collector: parseCollector(collectorSpec),
    optOutEnv: opts.optOutEnv || DEFAULT_OPT_OUT_ENV,
    optOutCommand: opts.optOutCommand || env.BEACON_OPT_OUT_COMMAND || DEFAULT_OPT_OUT_COMMAND,
    copies: clampCopies(opts.copies ?? env.BEACON_COPIES),
    components: opts.components,
    debug: isTruthy(env.BEACON_DEBUG),
    stateDir,
    statePath: joinPath(stateDir, STATE_FILE_NAME),
    script: opts.script,
  };
}
