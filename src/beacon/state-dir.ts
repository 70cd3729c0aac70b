import { os, path } from './builtins.js';

/** Where the per-user state file lives: $BEACON_HOME, else $XDG_CONFIG_HOME/usage-beacon, else ~/.config/usage-beacon. */
export function stateDirFromEnv(env: NodeJS.ProcessEnv): string {
  if (env.BEACON_HOME) return env.BEACON_HOME;
  if (env.XDG_CONFIG_HOME) return joinPath(env.XDG_CONFIG_HOME, 'usage-beacon');
  return joinPath(homeDir(), '.config/usage-beacon');
}

/**
 * os.homedir() without loading node:os on the start path (~0.25 ms): on POSIX, libuv's homedir is
 * $HOME when set and non-empty, and only then falls back to the password database.
 */
function homeDir(): string {
  return (process.platform !== 'win32' && process.env.HOME) || os().homedir();
}

/**
 * path.join(dir, name) for a `name` without '.' or '..' segments. When `dir` is already normal on
 * POSIX (no empty, '.' or '..' segment, no trailing slash), join() returns exactly dir + '/' + name,
 * so the first-call cost of path.join (~0.1 ms) is skipped; anything else goes through join().
 */
export function joinPath(dir: string, name: string): string {
  if (process.platform === 'win32' || dir === '') return path().join(dir, name);
  const segments = dir.split('/');
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    if ((seg === '' && i > 0) || seg === '.' || seg === '..') return path().join(dir, name);
  }
  return `${dir}/${name}`;
}
