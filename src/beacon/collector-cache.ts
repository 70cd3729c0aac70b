import { isIPv4Literal, isIPv6Literal } from '../protocol/ip-literal.js';
import type { ResolvedAddress } from './resolve-host.js';
import { readState, writeState, type BeaconState } from './state-file.js';

/**
 * The last address a collector hostname resolved to, kept in the state file. A short program
 * often ends before DNS answers; with the cached address its start and end still go out, while
 * every run re-resolves in the background and refreshes the entry.
 */
export const CACHE_MAX_AGE_MS = 7 * 24 * 3600 * 1000;
/** An unchanged address is rewritten only this often, so the state file is not rewritten on every run. */
export const CACHE_REFRESH_MS = 3600 * 1000;

export function cachedAddress(state: BeaconState | undefined, host: string, now = Date.now()): ResolvedAddress | undefined {
  const entry = state?.collectors?.[host.toLowerCase()];
  if (!entry || typeof entry.address !== 'string') return undefined;
  const family = entry.family === 6 ? (isIPv6Literal(entry.address) ? 6 : 0) : isIPv4Literal(entry.address) ? 4 : 0;
  const age = now - Date.parse(entry.at);
  if (!family || !(age >= 0 && age < CACHE_MAX_AGE_MS)) return undefined;
  return { address: entry.address, family };
}

/** Record a fresh resolution. Called from a DNS callback, so it may never throw. */
export function rememberAddress(statePath: string, host: string, resolved: ResolvedAddress, now = Date.now()): void {
  try {
    const read = readState(statePath);
    if (read.status !== 'ok') return; // never create or overwrite a file over a cache entry
    const key = host.toLowerCase();
    const old = read.state.collectors?.[key];
    if (old && old.address === resolved.address && now - Date.parse(old.at) < CACHE_REFRESH_MS) return;
    const collectors = {
      ...read.state.collectors,
      [key]: { address: resolved.address, family: resolved.family, at: new Date(now).toISOString() },
    };
    writeState(statePath, { ...read.state, collectors });
  } catch {
    // A read-only or vanished state file only costs the next short run its datagrams.
  }
}
