/**
 * What the environment alone says about consent: the first thing every run checks, before any file,
 * socket or hash is touched. No imports, so the published entry point can check it before it loads
 * (or reads the compile cache of) the rest of the beacon.
 */
export const DEFAULT_OPT_OUT_ENV = 'PARSL_TRACKING';

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
