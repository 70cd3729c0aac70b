import { os, path } from './builtins.js';
import { DEFAULT_COLLECTOR, DEFAULT_COPIES, MAX_COPIES, parseCollector } from '../protocol/index.js';
import type { CollectorAddress } from '../protocol/index.js';
import type { SitePolicy } from './site-policy.js';

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

export const DEFAULT_OPT_OUT_ENV = 'PARSL_TRACKING';
/**
 * Commands printed for the reader: `npx usage-beacon …` runs this package's own bin wherever npm is,
 * inside a project that depends on it or not (`npx beacon` would fetch an unrelated package there).
 */
export const DEFAULT_OPT_OUT_COMMAND = 'npx usage-beacon disable';
export const PREVIEW_COMMAND = 'npx usage-beacon preview';
export const STATE_FILE_NAME = 'state.json';

const FALSY = /^\s*(false|0|no|off)\s*$/i;
const TRUTHY = /^\s*(true|1|yes|on)\s*$/i;

export function isTruthy(value: string | undefined): boolean {
  return value !== undefined && TRUTHY.test(value);
}

/** What the environment alone says about consent. Decided before any file, socket or hash is touched. */
export interface EnvConsent {
  /** 'off': opted out; 'on': explicitly opted in (beats `beacon disable`); undefined: not set. */
  choice: 'on' | 'off' | undefined;
  reason: string;
}

export function envConsent(env: NodeJS.ProcessEnv, optOutEnv = DEFAULT_OPT_OUT_ENV): EnvConsent {
  const dnt = env.DO_NOT_TRACK;
  if (isTruthy(dnt)) return { choice: 'off', reason: `DO_NOT_TRACK=${dnt} in the environment` };
  const own = env[optOutEnv];
  if (own !== undefined && FALSY.test(own)) return { choice: 'off', reason: `${optOutEnv}=${own} in the environment` };
  if (isTruthy(own)) return { choice: 'on', reason: `${optOutEnv}=${own} in the environment` };
  return { choice: undefined, reason: 'default (no opt-out set)' };
}

/** Where the per-user state file lives: $BEACON_HOME, else $XDG_CONFIG_HOME/usage-beacon, else ~/.config/usage-beacon. */
export function stateDirFromEnv(env: NodeJS.ProcessEnv): string {
  if (env.BEACON_HOME) return env.BEACON_HOME;
  if (env.XDG_CONFIG_HOME) return joinPath(env.XDG_CONFIG_HOME, 'usage-beacon');
  return joinPath(homeDir(), '.config/usage-beacon');
}

/**
 * os.homedir() without loading node:os on the start path (~0.25 ms): on POSIX, libuv's homedir is
 * $HOME when set and non-empty, and only then falls back to the password database.
 */
function homeDir(): string {
  return (process.platform !== 'win32' && process.env.HOME) || os().homedir();
}

/**
 * path.join(dir, name) for a `name` without '.' or '..' segments. When `dir` is already normal on
 * POSIX (no empty, '.' or '..' segment, no trailing slash), join() returns exactly dir + '/' + name,
 * so the first-call cost of path.join (~0.1 ms) is skipped; anything else goes through join().
 */
export function joinPath(dir: string, name: string): string {
  if (process.platform === 'win32' || dir === '') return path().join(dir, name);
  const segments = dir.split('/');
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    if ((seg === '' && i > 0) || seg === '.' || seg === '..') return path().join(dir, name);
  }
  return `${dir}/${name}`;
}

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
