import { envConsent, resolveConfig, type BeaconConfig, type BeaconOptions } from './config.js';
import { createEmitter, buildIdentity, type Emitter } from './emitter.js';
import { noticeText, writeNotice } from './notice.js';
import { openSession } from './session.js';
import { detectCi } from './ci-detect.js';
import { cachedAddress, rememberAddress } from './collector-cache.js';
import { builtinsAvailable } from './builtins.js';
import { readSitePolicy, warnInvalidOnce, withSiteNotice } from './site-policy.js';

export type OpenedRun =
  { enabled: false; reason: string } | { enabled: true; reason: string; eph: boolean; config: BeaconConfig; emitter: Emitter };

export interface RunContext {
  runtime: string;
  /** Called in the deferred preparation: resolving a real path is not worth doing on the start path. */
  scriptKey: () => string;
  /** The caller will flush() before exiting (the CLI wrapper). */
  track?: boolean;
  /** The user chose the collector on the command line (`beacon run --collector`): the site's does not replace it. */
  userCollector?: boolean;
}

/**
 * Decide consent, load the secret, build the run and send its start. Shared by the library and
 * `beacon run`. Order matters for the privacy promise: the environment is checked first, and an
 * opt-out there returns before any file, socket or hash is touched.
 */
export function openRun(options: BeaconOptions, env: NodeJS.ProcessEnv, ctx: RunContext): OpenedRun {
  const consent = envConsent(env, options.optOutEnv);
  if (consent.choice === 'off') return { enabled: false, reason: consent.reason };
  if (!builtinsAvailable()) return { enabled: false, reason: `needs Node.js >= 20.16 (this is ${process.version})` };
  // The site's word comes next: "off" there is an opt-out for every user (no state file, socket or
  // hash), and nothing a user sets turns it back on.
  const site = readSitePolicy(env);
  if (site.status === 'ok' && site.tracking === 'off')
    return { enabled: false, reason: `turned off for all users by the site policy (${site.path})` };
  const config = resolveConfig(options, env, ctx.userCollector ? undefined : site);
  if (!config.collector) return { enabled: false, reason: `unusable collector "${config.collectorSpec}"` };
  const session = openSession(config, consent);
  if (!session.enabled) return session;
  if (site.status === 'invalid') warnInvalidOnce(site, config.stateDir);
  // The environment is read now (the host may change it later); paths and hashing wait.
  const ci = detectCi(env);
  const secret = session.secret;
  const eph = session.eph;
  const collector = config.collector;
  // Only a persistent state file may cache addresses: an eph run has nowhere to keep them.
  const transportOptions =
    collector.family === 0 && !session.eph
      ? {
          cached: cachedAddress(session.state, collector.host),
          onResolved: (r: { address: string; family: 4 | 6 }) => rememberAddress(config.statePath, collector.host, r),
          track: ctx.track,
        }
      : { track: ctx.track };
  const makeIdentity = (run: string) => buildIdentity(config, { secret, eph, runtime: ctx.runtime, scriptKey: ctx.scriptKey(), ci }, run);
  const emitter = createEmitter(config, collector, makeIdentity, transportOptions);
  emitter.start();
  if (session.showNotice)
    writeNotice(withSiteNotice(noticeText(config.project, config.optOutEnv, emitter.collector, config.optOutCommand), site));
  return { enabled: true, reason: session.reason, eph: session.eph, config, emitter };
}
