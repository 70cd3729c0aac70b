import type { Script } from 'node:vm';
import { fs } from './builtins.js';

/**
 * Load a script file with V8's code cache, the compile cache Node 20 lacks for ES modules.
 *
 * Why: compiling the beacon is most of what it costs its host. V8 pre-parses all 40 kB of it on
 * import and then parses and compiles each function again on its first call; that was ~55% of the
 * instructions the beacon added to a process (callgrind, bench:beacon's script). With the bytecode of
 * an earlier run, V8 deserializes instead of parsing. The file holds nothing but what V8 compiled
 * from the script's own text (no data of the run), lives in the user's state directory (0700 dir,
 * 0600 file), and is written once per version of the beacon, Node and CPU architecture: at the end of
 * the first tracked run that finds none, when every function the run used has been compiled. V8 checks the
 * cache against its own version, flags and the source's length and rejects it when they differ (the
 * script is then compiled as usual, and the cache rewritten at exit); the name carries a hash of the
 * source, so a same-length change of the script can never run stale bytecode.
 */
export interface CachedScript {
  /** What the script evaluated to. */
  value: unknown;
  /** True when V8 used the cache file (for tests and bench diagnostics). */
  fromCache: boolean;
  /**
   * Writes the cache; set when there is none to use. The caller registers it on process 'exit' once
   * it knows the run is tracked (a disabled run writes nothing), after the run's own exit listener,
   * so that the functions of the whole run, its end included, are compiled by then and in the cache.
   */
  save?: () => void;
}

export const CACHE_SUBDIR = 'compile-cache';
/** Caches kept per user: a few versions of the beacon or of Node in use side by side do not evict each other. */
const KEEP = 4;

export function cacheFileName(sourceId: string): string {
  return `${sourceId}-${process.arch}-v8-${process.versions.v8}.bin`.replace(/[^\w.-]/g, '_');
}

/**
 * Compile and run `file` (one expression), with the cache in `stateDir` when given. Throws when the
 * script itself cannot be read or run; every cache problem just means compiling without it.
 */
export function runCachedScript(file: string, sourceId: string, stateDir: string | undefined): CachedScript {
  const vm = process.getBuiltinModule('node:vm');
  const source = fs().readFileSync(file, 'utf8');
  const dir = stateDir ? `${stateDir}/${CACHE_SUBDIR}` : undefined;
  const cachePath = dir ? `${dir}/${cacheFileName(sourceId)}` : undefined;
  let cachedData: Buffer | undefined;
  if (cachePath) {
    try {
      cachedData = fs().readFileSync(cachePath);
    } catch {
      // No cache yet (the first run), or an unreadable one: compile from source.
    }
  }
  const script = new vm.Script(source, { filename: file, cachedData });
  const fromCache = cachedData !== undefined && !script.cachedDataRejected;
  const value = script.runInThisContext() as unknown;
  const save = dir && cachePath && !fromCache ? () => writeCache(script, dir, cachePath) : undefined;
  return { value, fromCache, save };
}

function writeCache(script: Script, dir: string, cachePath: string): void {
  let tmp: string | undefined;
  try {
    const data = script.createCachedData();
    fs().mkdirSync(dir, { recursive: true, mode: 0o700 });
    tmp = `${cachePath}.${process.pid}.tmp`;
    fs().writeFileSync(tmp, data, { mode: 0o600, flag: 'wx' });
    fs().renameSync(tmp, cachePath); // atomic: a reader sees the old file, the new one, or none
    tmp = undefined;
    pruneOldCaches(dir, cachePath);
  } catch {
    // A read-only or full home only costs the next run its compile: never the host's exit.
    if (tmp) {
      try {
        fs().unlinkSync(tmp);
      } catch {
        // Nothing left to clean.
      }
    }
  }
}

/** Keep the KEEP newest caches: older versions of the beacon or of Node leave theirs behind otherwise. */
function pruneOldCaches(dir: string, keep: string): void {
  const files = fs()
    .readdirSync(dir)
    .filter((name) => name.endsWith('.bin'))
    .map((name) => {
      const p = `${dir}/${name}`;
      return { p, mtime: fs().statSync(p).mtimeMs };
    })
    .sort((a, b) => b.mtime - a.mtime);
  for (const { p } of files.slice(KEEP)) if (p !== keep) fs().unlinkSync(p);
}
