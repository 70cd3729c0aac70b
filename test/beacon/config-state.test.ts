import { existsSync, readFileSync, realpathSync, statSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { envConsent, resolveConfig, stateDirFromEnv } from '../../src/beacon/config.js';
import { createStateExclusive, readState, writeState } from '../../src/beacon/state-file.js';
import { openSession } from '../../src/beacon/session.js';
import { cachedAddress, rememberAddress } from '../../src/beacon/collector-cache.js';
import { existingFile, existingNonDirectory, keyedId, scriptKeyForProcess } from '../../src/beacon/ids.js';
import { detectCi } from '../../src/beacon/ci-detect.js';
import { tempHome, type TempHome } from './helpers.js';

let home: TempHome;
beforeEach(() => {
  home = tempHome();
});
afterEach(() => home.cleanup());

describe('configuration: option → environment → default', () => {
  it('resolves each setting in that order', () => {
    const env = { BEACON_PROJECT: 'envp', BEACON_VERSION: '9', BEACON_COLLECTOR: '10.0.0.1:1', BEACON_COPIES: '3', BEACON_HOME: home.dir };
    const fromEnv = resolveConfig({}, env);
    expect(fromEnv).toMatchObject({
      project: 'envp',
      version: '9',
      collectorSpec: '10.0.0.1:1',
      copies: 3,
      statePath: join(home.dir, 'state.json'),
    });
    const fromOpts = resolveConfig({ project: 'p', version: '1', collector: '127.0.0.1:2', copies: 1 }, env);
    expect(fromOpts).toMatchObject({ project: 'p', version: '1', collectorSpec: '127.0.0.1:2', copies: 1 });
    const defaults = resolveConfig({}, {});
    expect(defaults).toMatchObject({
      project: 'unknown',
      version: 'unknown',
      collectorSpec: '127.0.0.1:50077',
      copies: 2,
      optOutEnv: 'PARSL_TRACKING',
      debug: false,
    });
    expect(resolveConfig({ copies: 99 }, {}).copies).toBe(5);
    expect(resolveConfig({ collector: 'bad host:x' }, {}).collector).toBeUndefined();
  });

  it('state dir: BEACON_HOME, then XDG_CONFIG_HOME/usage-beacon, then ~/.config/usage-beacon', () => {
    expect(stateDirFromEnv({ BEACON_HOME: '/a', XDG_CONFIG_HOME: '/b' })).toBe('/a');
    expect(stateDirFromEnv({ XDG_CONFIG_HOME: '/b' })).toBe('/b/usage-beacon');
    expect(stateDirFromEnv({})).toMatch(/\/\.config\/usage-beacon$/);
  });

  it('opt-out values: false/0/no/off in any case; DO_NOT_TRACK=1; explicit on', () => {
    for (const v of ['false', 'FALSE', '0', 'no', 'Off', ' off ']) expect(envConsent({ PARSL_TRACKING: v }).choice).toBe('off');
    for (const v of ['true', '1', 'YES', 'on']) expect(envConsent({ PARSL_TRACKING: v }).choice).toBe('on');
    expect(envConsent({ PARSL_TRACKING: 'maybe' }).choice).toBeUndefined();
    expect(envConsent({ DO_NOT_TRACK: '1', PARSL_TRACKING: 'on' })).toEqual({ choice: 'off', reason: 'DO_NOT_TRACK=1 in the environment' });
    expect(envConsent({ DO_NOT_TRACK: '0' }).choice).toBeUndefined();
    expect(envConsent({ TOOL_T: 'no', PARSL_TRACKING: 'on' }, 'TOOL_T').choice).toBe('off');
  });

  it('CI detection', () => {
    expect(detectCi({})).toBe(false);
    expect(detectCi({ CI: 'true' })).toBe(true);
    expect(detectCi({ CI: 'false' })).toBe(false);
    expect(detectCi({ GITLAB_CI: 'true' })).toBe(true);
  });
});

describe('state file', () => {
  const path = () => join(home.dir, 'sub', 'state.json');

  it('atomic writes, 0600, exclusive create loses to an existing file', () => {
    expect(readState(path()).status).toBe('missing');
    writeState(path(), { v: 1, enabled: false });
    expect(statSync(path()).mode & 0o777).toBe(0o600);
    expect(createStateExclusive(path(), { v: 1, secret: 'a'.repeat(64) })).toBe('exists');
    expect(readState(path())).toEqual({ status: 'ok', state: { v: 1, enabled: false } });
    writeFileSync(path(), '[1]');
    expect(readState(path()).status).toBe('invalid');
  });

  it('a session creates the secret once and reuses it; a state file made by `disable` gains one on enable', () => {
    const cfg = resolveConfig({ project: 'p' }, { BEACON_HOME: join(home.dir, 'h') });
    const a = openSession(cfg, envConsent({}));
    const b = openSession(cfg, envConsent({}));
    if (!a.enabled || !b.enabled) throw new Error('expected enabled');
    expect(a).toMatchObject({ eph: false, showNotice: true });
    expect(b).toMatchObject({ eph: false, showNotice: false, secret: a.secret });
    writeState(cfg.statePath, { v: 1, enabled: true });
    const c = openSession(cfg, envConsent({}));
    if (!c.enabled) throw new Error('expected enabled');
    expect(c.eph).toBe(false);
    expect(JSON.parse(readFileSync(cfg.statePath, 'utf8')).secret).toBe(c.secret);
  });

  it('collector address cache: fresh entries used, stale ones ignored, unchanged ones not rewritten', () => {
    mkdirSync(home.dir, { recursive: true });
    const p = join(home.dir, 'state.json');
    rememberAddress(p, 'c.example.org', { address: '10.0.0.1', family: 4 });
    expect(existsSync(p)).toBe(false); // never creates the file
    writeState(p, { v: 1, secret: 'b'.repeat(64) });
    const now = Date.now();
    rememberAddress(p, 'C.example.org', { address: '10.0.0.1', family: 4 }, now);
    const read = readState(p);
    const state = read.status === 'ok' ? read.state : undefined;
    expect(cachedAddress(state, 'c.example.org', now)).toEqual({ address: '10.0.0.1', family: 4 });
    expect(cachedAddress(state, 'c.example.org', now + 8 * 24 * 3600 * 1000)).toBeUndefined();
    const before = readFileSync(p, 'utf8');
    rememberAddress(p, 'c.example.org', { address: '10.0.0.1', family: 4 }, now + 1000);
    expect(readFileSync(p, 'utf8')).toBe(before);
  });
});

describe('keyed IDs', () => {
  it('HMAC-SHA-256 truncated to 32 hex: depends on the key, not reversible without it', () => {
    const k1 = Buffer.alloc(32, 1);
    const k2 = Buffer.alloc(32, 2);
    expect(keyedId(k1, 'user')).toMatch(/^[0-9a-f]{32}$/);
    expect(keyedId(k1, 'user')).toBe(keyedId(k1, 'user'));
    expect(keyedId(k1, 'user')).not.toBe(keyedId(k2, 'user'));
    expect(keyedId(k1, 'script:/a')).not.toBe(keyedId(k1, 'script:/b'));
  });
});

describe('what the script ID is made from', () => {
  it("the library's main script: real path of anything but a directory, as Node runs it; beacon run: regular files only", () => {
    const file = join(home.dir, 'app.mjs');
    writeFileSync(file, '');
    const link = join(home.dir, 'link.mjs');
    symlinkSync(file, link);
    const real = realpathSync.native(file);
    expect(existingNonDirectory(link)).toBe(real);
    expect(existingNonDirectory(file)).toBe(real);
    expect(existingNonDirectory(home.dir)).toBeUndefined();
    expect(existingNonDirectory(join(home.dir, 'missing.mjs'))).toBeUndefined();
    expect(existingNonDirectory(undefined)).toBeUndefined();
    expect(scriptKeyForProcess(link)).toBe(real);
    expect(scriptKeyForProcess(home.dir)).toBe(home.dir); // `node <dir>`: the path as given
    expect(scriptKeyForProcess(undefined)).toBe('[no script]');
    // A character device is something Node can run (`node /dev/stdin` on a terminal)…
    expect(existingNonDirectory('/dev/null')).toBe('/dev/null');
    // …but not a script argument of `beacon run` (`cat /dev/null`).
    expect(existingFile('/dev/null')).toBeUndefined();
    expect(existingFile(link)).toBe(real);
  });
});
