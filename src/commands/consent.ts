import { BeaconError } from '../errors.js';
import { DEFAULT_OPT_OUT_ENV, envConsent, stateDirFromEnv, STATE_FILE_NAME } from '../beacon/config.js';
import { readState, writeState } from '../beacon/state-file.js';
import { readSitePolicy } from '../beacon/site-policy.js';
import { CACHE_SUBDIR } from '../beacon/code-cache.js';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

export interface ConsentOptions {
  env?: NodeJS.ProcessEnv;
  out?: (line: string) => void;
}

/** `beacon enable` / `beacon disable`: persist the choice for this user. The environment still wins. */
export async function consentCommand(enabled: boolean, opts: ConsentOptions = {}): Promise<number> {
  const env = opts.env ?? process.env;
  const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const path = join(stateDirFromEnv(env), STATE_FILE_NAME);
  const read = readState(path);
  if (read.status === 'invalid') {
    throw new BeaconError('BEACON_ERR_STATE_FILE', `cannot use the state file ${path} (${read.detail}); fix or delete it`);
  }
  const state = read.status === 'ok' ? read.state : { v: 1 as const };
  try {
    writeState(path, { ...state, enabled });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new BeaconError('BEACON_ERR_STATE_FILE', `cannot write the state file ${path} (${code})`, { cause: e });
  }
  // The compile cache is the beacon's own code, but a disabled user's runs should find nothing of
  // the beacon's to read beyond the state file (docs/PRIVACY.md): it is rebuilt after `enable`.
  if (!enabled) {
    try {
      rmSync(join(stateDirFromEnv(env), CACHE_SUBDIR), { recursive: true, force: true });
    } catch {
      // One we cannot remove holds only compiled code: the choice itself is saved, which is what counts.
    }
  }
  out(`usage tracking ${enabled ? 'enabled' : 'disabled'} for this user (${path})`);
  const consent = envConsent(env, DEFAULT_OPT_OUT_ENV);
  if (consent.choice && (consent.choice === 'on') !== enabled) {
    out(`note: ${consent.reason} overrides this choice while it is set`);
  }
  const site = readSitePolicy(env);
  if (enabled && site.status === 'ok' && site.tracking === 'off') {
    out(`note: the site policy ${site.path} turns tracking off for all users of this machine; it stays off`);
  }
  return 0;
}
