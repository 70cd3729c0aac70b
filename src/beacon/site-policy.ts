import { fs } from './builtins.js';
import { parseCollector } from '../protocol/index.js';
import { readText } from './bytes.js';

/**
 * The site policy: one file an administrator writes for every user of a machine
 * (/etc/usage-beacon/site.json, or $BEACON_SITE_CONFIG). It can turn tracking off for everyone,
 * send every tool's datagrams to the site's own collector or relay, and add the site's words to
 * the first-run notice. Read once per run at start, after the user's own opt-out was checked (an
 * opt-out needs no file at all). The Python emitter reads the same file with the same rules
 * (docs/beacon.md, "Site policy").
 */
export const DEFAULT_SITE_CONFIG = '/etc/usage-beacon/site.json';

/** Longest notice kept; anything longer is cut (the notice is a courtesy, not a document). */
export const MAX_SITE_NOTICE = 1000;

export type SitePolicy =
  /** No file (the common case). */
  | { status: 'none'; path: string }
  | { status: 'ok'; path: string; tracking: 'on' | 'off'; collector?: string; notice?: string }
  /** Unreadable or malformed: ignored, as if absent; `detail` says why, for preview and the one warning. */
  | { status: 'invalid'; path: string; detail: string; mtimeMs: number; size: number };

export function sitePolicyPath(env: NodeJS.ProcessEnv): string {
  return env.BEACON_SITE_CONFIG || DEFAULT_SITE_CONFIG;
}

/**
 * One small synchronous read. The absent file (nearly every machine) costs a single stat that
 * does not throw (`throwIfNoEntry: false`): creating an ENOENT exception with its stack costs more
 * than the system call. Never throws.
 */
export function readSitePolicy(env: NodeJS.ProcessEnv): SitePolicy {
  const path = sitePolicyPath(env);
  let text: string;
  let st: { mtimeMs: number; size: number } | undefined;
  try {
    st = fs().statSync(path, { throwIfNoEntry: false });
    if (!st) return { status: 'none', path };
    text = readText(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { status: 'none', path };
    return invalid(path, `cannot read it (${code ?? String(e)})`, st);
  }
  return parseSitePolicy(path, text, st);
}

function invalid(path: string, detail: string, st: { mtimeMs: number; size: number } | undefined): SitePolicy {
  return { status: 'invalid', path, detail, mtimeMs: st?.mtimeMs ?? 0, size: st?.size ?? 0 };
}

const KEYS = new Set(['tracking', 'collector', 'notice']);

/** The rules, in one place: a file is used whole or not at all, except that "off" always holds. */
export function parseSitePolicy(path: string, text: string, st?: { mtimeMs: number; size: number }): SitePolicy {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return invalid(path, 'not valid JSON', st);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return invalid(path, 'not a JSON object', st);
  const o = raw as Record<string, unknown>;
  // An administrator who wrote "off" meant it: a mistake elsewhere in the file must not turn
  // tracking back on for every user. (Compared after trimming and lower-casing, like a person reads it.)
  const tracking = typeof o.tracking === 'string' ? o.tracking.trim().toLowerCase() : o.tracking;
  if (tracking === 'off' || tracking === false) return { status: 'ok', path, tracking: 'off' };
  if (tracking !== undefined && tracking !== 'on' && tracking !== true) return invalid(path, `"tracking" must be "off" or "on"`, st);
  const unknown = Object.keys(o).filter((k) => !KEYS.has(k));
  if (unknown.length > 0) return invalid(path, `unknown key "${unknown[0]}" (allowed: tracking, collector, notice)`, st);
  const policy: SitePolicy = { status: 'ok', path, tracking: 'on' };
  if (o.collector !== undefined) {
    if (typeof o.collector !== 'string' || !parseCollector(o.collector)) return invalid(path, `"collector" must be "host:port"`, st);
    policy.collector = o.collector.trim();
  }
  if (o.notice !== undefined) {
    if (typeof o.notice !== 'string') return invalid(path, `"notice" must be a string`, st);
    const notice = cleanNotice(o.notice);
    if (notice) policy.notice = notice;
  }
  return policy;
}

/** Terminal escape sequences and control characters removed (newlines kept); cut to MAX_SITE_NOTICE. */
function cleanNotice(s: string): string {
  return (
    s
      .replace(/\r\n?/g, '\n')
      // eslint-disable-next-line no-control-regex
      .replace(/\u001b(\[[0-?]*[ -/]*[@-~]|\][^\u0007\u001b]*(\u0007|\u001b\\)?|[@-_])/g, '')
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, '')
      .trim()
      .slice(0, MAX_SITE_NOTICE)
  );
}

/** The first-run notice with the site's words appended after it. */
export function withSiteNotice(text: string, policy: SitePolicy): string {
  if (policy.status !== 'ok' || !policy.notice) return text;
  const words = policy.notice
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
  const body = text.replace(/\n+$/, '');
  return `${body}\nFrom your site's administrators (${policy.path}):\n${words}\n\n`;
}

/** Name of the marker that remembers, per user, that a malformed policy was reported. */
export const WARNED_MARKER_PREFIX = 'site-policy-warned-';

/** FNV-1a of the file's identity (path, mtime, size): a fixed file is reported once, a re-broken one again. */
function markerKey(p: Extract<SitePolicy, { status: 'invalid' }>): string {
  let h = 0x811c9dc5;
  const s = `${p.path}\0${p.mtimeMs}\0${p.size}`;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/**
 * One line on stderr about a malformed policy, at most once per user and version of the file.
 * "Once" is remembered by creating a marker in the user's state directory with O_EXCL, and the
 * line is written only if that creation succeeded: two programs starting together cannot both
 * print it, and a user whose state directory is not writable never sees it (printing it on every
 * run instead would break the promise; `beacon preview` always shows it). Never throws.
 */
export function warnInvalidOnce(policy: SitePolicy, stateDir: string): boolean {
  if (policy.status !== 'invalid') return false;
  try {
    fs().mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    fs().writeFileSync(`${stateDir}/${WARNED_MARKER_PREFIX}${markerKey(policy)}`, `${policy.path}: ${policy.detail}\n`, {
      flag: 'wx',
      mode: 0o600,
    });
  } catch {
    // Already reported (EEXIST) or nowhere to remember it: stay silent.
    return false;
  }
  try {
    process.stderr.write(`usage-beacon: ignoring the site policy ${policy.path}: ${policy.detail} (reported once)\n`);
  } catch {
    // A closed stderr must not break the host.
  }
  return true;
}
