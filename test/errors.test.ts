import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BeaconError, ERROR_CODES, isBeaconError } from '../src/errors.js';

describe('error codes', () => {
  it('docs/errors.md and src/errors.ts list the same codes with the same exit statuses', () => {
    const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\|\s*`(BEACON_ERR_[A-Z_]+)`\s*\|\s*(\d+)\s*\|/gm)].map((m) => [m[1]!, Number(m[2])] as const);
    const documented = Object.fromEntries(rows);
    expect(rows.length).toBe(Object.keys(documented).length); // no duplicates
    const defined = Object.fromEntries(Object.entries(ERROR_CODES).map(([code, v]) => [code, v.exit]));
    expect(documented).toEqual(defined);
  });

  it('BeaconError carries its code and exit status', () => {
    const e = new BeaconError('BEACON_ERR_SPAWN', 'cannot run "x"');
    expect(isBeaconError(e)).toBe(true);
    expect(e.exitCode).toBe(127);
    expect(e.code).toBe('BEACON_ERR_SPAWN');
    expect(isBeaconError(new Error('x'))).toBe(false);
  });
});
