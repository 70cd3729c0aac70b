import { fs } from './builtins.js';
import { decode, readAll } from './bytes.js';
import { dataOffset, type PendingCache } from './code-cache-write.js';

/**
 * Load a script file with V8's code cache, the compile cache Node 20 lacks for ES modules.
 *
 * Why: compiling the beacon is most of what it costs its host. V8 pre-parses all of it on import and
 * then parses and compiles each function again on its first call; that was ~55% of the instructions
 * the beacon added to a process (callgrind, bench:beacon's script). With the bytecode of an earlier
 * run, V8 deserializes instead of parsing. The cache holds nothing but the script's own text and
 * what V8 compiled from it (no data of the run), lives in the user's state directory (0700 dir,
 * 0600 file), and is written once per version of the beacon, Node and CPU architecture: at the end of
 * the first tracked run that finds none, when every function the run used has been compiled. V8 checks
 * the cache against its own version, flags and the source's length and rejects it when they differ
 * (the script is then compiled as usual, and the cache rewritten at exit); the name carries a hash of
 * the source, so a same-length change of the script can never run stale bytecode.
 *
 * The cache file is the script's text followed by V8's data, so that a run with a cache needs
 * neither the shipped script file nor its location: finding it (`import.meta` in the entry point)
 * runs ~0.7 M instructions of Node's module code (bench:beacon-instr), a tenth of what the beacon
 * adds to a process. Only a run without a usable cache file reads the shipped script.
 */
export interface CachedScript {
  /** What the script evaluated to. */
  value: unknown;
  /** True when V8 used the cache file (for tests and bench diagnostics). */
  fromCache: boolean;
  /**
   * Set when there is no cache to use: what writeCompileCache (code-cache-write.ts, in the core: first
   * runs only, so not in the entry point every run compiles) needs. The caller calls it on process
   * 'exit' once it knows the run is tracked (a disabled run writes nothing), after the run's own exit
   * listener, so that the functions of the whole run, its end included, are compiled by then and in
   * the cache.
   */
  pending?: PendingCache;
}

/** The script, as the bundler describes it (scripts/bundle-beacon.mjs). */
export interface ScriptSource {
  /** A hash of its text: names the cache file. */
  id: string;
  /** Its length; it is ASCII, so this is also its size in bytes, where the cache file's V8 data starts. */
  length: number;
  /** Where the shipped file is; asked only when the cache file cannot be used. */
  file: () => string;
}

export const CACHE_SUBDIR = 'compile-cache';

/**
 * One file per script, CPU and V8 version. (`-src`: the text is in the file, unlike the caches of
 * earlier versions, which are never read as such; arch and V8 version are made of [\w.-] only.)
 */
export function cacheFileName(sourceId: string): string {
  return `${sourceId}-${process.arch}-v8-${process.versions.v8}-src.bin`;
}

/**
 * Compile and run the script (one expression), with the cache in `stateDir` when given. Throws when
 * the shipped script cannot be read or run; every cache problem (a text from the cache file that
 * does not compile or run included) just means compiling the shipped script without it.
 *
 * The usual run (a cache file that V8 accepts) is this one function and Node's own functions it
 * calls, little else, written out inline: each JavaScript function a run calls for the first time
 * is compiled then (the entry point has no compile cache), at a cost that measured tens of
 * thousands of instructions even for a small one (bench:beacon-instr); bytes.ts reads the file and
 * its text without Node's readFileSync and toString, for the same reason.
 */
export function runCachedScript(src: ScriptSource, stateDir: string | undefined): CachedScript {
  const vm = process.getBuiltinModule('node:vm');
  const dir = stateDir ? `${stateDir}/${CACHE_SUBDIR}` : undefined;
  const cachePath = dir ? `${dir}/${cacheFileName(src.id)}` : undefined;
  if (cachePath) {
    let bytes: Uint8Array | undefined;
    try {
      bytes = readAll(cachePath, 128 * 1024); // ~80 kB: one read
    } catch {
      // No cache yet (the first run), or an unreadable one: the shipped script.
    }
    const at = dataOffset(src.length);
    if (bytes && bytes.length > at) {
      const source = decode(bytes, src.length, 'latin1');
      try {
        const cachedData = new Uint8Array(bytes.buffer, bytes.byteOffset + at, bytes.length - at);
        const script = new vm.Script(source, { filename: cachePath, cachedData });
        const fromCache = !script.cachedDataRejected;
        const value = script.runInThisContext() as unknown;
        // Rejected (other V8 flags than the run that wrote it): the text was still good, the data is replaced.
        return { value, fromCache, pending: fromCache ? undefined : { script, source, dir: dir!, path: cachePath } };
      } catch {
        // A damaged text that no longer compiles or runs: the shipped script, and a fresh file at exit.
      }
    }
  }
  return runShipped(src, dir, cachePath);
}

function runShipped(src: ScriptSource, dir: string | undefined, cachePath: string | undefined): CachedScript {
  const file = src.file();
  const source = fs().readFileSync(file, 'utf8');
  const vm = process.getBuiltinModule('node:vm');
  const script = new vm.Script(source, { filename: file });
  const value = script.runInThisContext() as unknown;
  const pending = dir && cachePath && source.length === src.length ? { script, source, dir, path: cachePath } : undefined;
  return { value, fromCache: false, pending };
}
