import type { BeaconConfig, EnvConsent } from './config.js';
import { createStateExclusive, hasValidSecret, newSecret, readState, writeState } from './state-file.js';
import type { BeaconState } from './state-file.js';

/**
 * Consent and the secret for one run, from the environment's verdict plus the state file.
 * Called only when the environment did not opt out (that case touches no file at all).
 */
export type Session =
  | { enabled: false; reason: string }
  | {
      enabled: true;
      reason: string;
      secret: string;
      /** The secret lives in memory only: the state file could not be written (or is not ours to rewrite). */
      eph: boolean;
      showNotice: boolean;
      /** The state as this run left it (undefined when eph). */
      state?: BeaconState;
    };

function enabledReason(cfg: BeaconConfig, consent: EnvConsent, state: BeaconState | undefined): string {
  if (consent.choice === 'on') return consent.reason;
  if (state?.enabled === true) return `enabled by \`beacon enable\` (${cfg.statePath})`;
  return consent.reason;
}

export function openSession(cfg: BeaconConfig, consent: EnvConsent, attempt = 0): Session {
  const read = readState(cfg.statePath);
  const state = read.status === 'ok' ? read.state : undefined;
  if (consent.choice !== 'on' && state?.enabled === false) {
    return { enabled: false, reason: `disabled by \`beacon disable\` (${cfg.statePath})` };
  }
  const reason = enabledReason(cfg, consent, state);
  // Built only when the file is written: the first Date formatting in a process costs ~0.2 ms
  // (time zone set-up), which the usual run (notice already shown) need not pay in startBeacon().
  const noticed = () => ({ ...state?.noticed, [cfg.project]: new Date().toISOString() });

  if (state && hasValidSecret(state)) {
    if (state.noticed?.[cfg.project]) return { enabled: true, reason, secret: state.secret, eph: false, showNotice: false, state };
    try {
      writeState(cfg.statePath, { ...state, noticed: noticed() });
    } catch {
      // Could not record the notice: it will show again next time, which beats never showing it.
    }
    return { enabled: true, reason, secret: state.secret, eph: false, showNotice: true, state };
  }

  // A file we cannot parse or read may be the user's: never overwrite it, run with a throwaway secret.
  if (read.status === 'invalid') return { enabled: true, reason, secret: newSecret(), eph: true, showNotice: true };

  const fresh: BeaconState = { ...state, v: 1, secret: newSecret(), noticed: noticed() };
  try {
    if (read.status === 'missing') {
      if (createStateExclusive(cfg.statePath, fresh) === 'exists') {
        // Another program created it between our read and our create: use its secret.
        if (attempt < 2) return openSession(cfg, consent, attempt + 1);
        return { enabled: true, reason, secret: fresh.secret!, eph: true, showNotice: true };
      }
    } else {
      writeState(cfg.statePath, fresh);
    }
    return { enabled: true, reason, secret: fresh.secret!, eph: false, showNotice: true, state: fresh };
  } catch {
    // Read-only or missing home: still count the run, flagged `eph` so the IDs are known to be unstable.
    return { enabled: true, reason, secret: fresh.secret!, eph: true, showNotice: true };
  }
}
