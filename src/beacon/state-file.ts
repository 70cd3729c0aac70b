import { fs, path as nodePath } from './builtins.js';
import { randomBytesFast } from './random.js';
import { isLowerHex, readText, toHex } from './bytes.js';

/**
 * The per-user state file (0600 JSON): the 256-bit secret the IDs are keyed with, the
 * `beacon enable/disable` choice, and which projects have shown their first-run notice.
 * It never leaves the machine.
 */
export interface BeaconState {
  v: 1;
  /** 64 lowercase hex characters (256 bits). Absent until the first tracked run. */
  secret?: string;
  /** Set by `beacon enable` / `beacon disable`; absent means the default (on). */
  enabled?: boolean;
  /** Project name → ISO time its first-run notice was shown. */
  noticed?: Record<string, string>;
  /** Collector hostname → last address it resolved to, so short runs can send before DNS answers. */
  collectors?: Record<string, CachedAddress>;
}

export interface CachedAddress {
  address: string;
  family: 4 | 6;
  /** ISO time of the resolution. */
  at: string;
}

export type StateRead =
  | { status: 'ok'; state: BeaconState }
  | { status: 'missing' }
  /** Exists but is not ours to overwrite (unparseable, or unreadable): left untouched. */
  | { status: 'invalid'; detail: string };

export function newSecret(): string {
  return toHex(randomBytesFast(32));
}

export function hasValidSecret(state: BeaconState): state is BeaconState & { secret: string } {
  return typeof state.secret === 'string' && isLowerHex(state.secret, 64); // 256 bits
}

export function readState(path: string): StateRead {
  let text: string;
  try {
    text = readText(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { status: 'missing' };
    return { status: 'invalid', detail: code ?? String(e) };
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      return { status: 'invalid', detail: 'not a JSON object' };
    }
    const raw = parsed as Record<string, unknown>;
    const state: BeaconState = { v: 1 };
    if (typeof raw.secret === 'string') state.secret = raw.secret;
    if (typeof raw.enabled === 'boolean') state.enabled = raw.enabled;
    if (raw.noticed && typeof raw.noticed === 'object' && !Array.isArray(raw.noticed)) {
      state.noticed = { ...(raw.noticed as Record<string, string>) };
    }
    if (raw.collectors && typeof raw.collectors === 'object' && !Array.isArray(raw.collectors)) {
      state.collectors = { ...(raw.collectors as Record<string, CachedAddress>) };
    }
    return { status: 'ok', state };
  } catch {
    return { status: 'invalid', detail: 'not valid JSON' };
  }
}

function tmpPath(path: string): string {
  return `${path}.${process.pid}.${toHex(randomBytesFast(4))}.tmp`;
}

function writeTmp(path: string, state: BeaconState): string {
  fs().mkdirSync(nodePath().dirname(path), { recursive: true, mode: 0o700 });
  const tmp = tmpPath(path);
  // 'wx' + 0600: the secret is never readable by others, not even for a moment.
  fs().writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  return tmp;
}

/** Replace the file atomically (tmp + rename): a crash leaves the old or the new file, never half of one. Throws on failure. */
export function writeState(path: string, state: BeaconState): void {
  const tmp = writeTmp(path, state);
  try {
    fs().renameSync(tmp, path);
  } catch (e) {
    safeUnlink(tmp);
    throw e;
  }
}

/**
 * Create the file only if it does not exist yet (link() fails on an existing target), so two
 * programs starting at once for the first time agree on one secret: the loser reads the winner's.
 */
export function createStateExclusive(path: string, state: BeaconState): 'created' | 'exists' {
  const tmp = writeTmp(path, state);
  try {
    fs().linkSync(tmp, path);
    return 'created';
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
    throw e;
  } finally {
    safeUnlink(tmp);
  }
}

function safeUnlink(p: string): void {
  try {
    fs().unlinkSync(p);
  } catch {
    // A leftover tmp file is harmless; failing the caller over it is not.
  }
}
