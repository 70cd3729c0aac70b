import { MAX_PLAUSIBLE_DURATION_MS } from './limits.js';
import type { Components } from './types.js';

/**
 * Checks the schema cannot express. JSON Schema's `integer` accepts 1e300, so client times and
 * durations are bounded here, and component keys that name Object.prototype members are refused
 * so no later consumer that merges components into an object can be polluted.
 */

export function plausibleDuration(ms: number | null): boolean {
  return ms === null || (Number.isSafeInteger(ms) && ms >= 0 && ms <= MAX_PLAUSIBLE_DURATION_MS);
}

/** Client clocks are informational, but must still fit an INTEGER column. */
export function plausibleClientMs(ms: number | null): boolean {
  return ms === null || (Number.isSafeInteger(ms) && ms >= 0);
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** false: a forbidden key (a schema matter); 'implausible': an out-of-range number. */
export function checkComponents(c: Components | undefined): true | 'schema' | 'implausible' {
  if (c === undefined) return true;
  for (const key of Object.keys(c)) {
    if (FORBIDDEN_KEYS.has(key)) return 'schema';
    const v = c[key];
    if (typeof v === 'number' && !(Number.isFinite(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER)) return 'implausible';
  }
  return true;
}
