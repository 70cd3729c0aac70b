import type { Script } from 'node:vm';
import { fs } from './builtins.js';

/**
 * Writing the compile cache (code-cache.ts): a first run's work, so it lives in the core, which
 * comes out of the cache itself, not in the entry point, whose every byte V8 scans in every run
 * (~0.1 M instructions for these ~0.7 kB, bench:beacon-instr).
 */
export interface PendingCache {
  script: Script;
  /** The text the script was compiled from, stored ahead of V8's data. */
  source: string;
  dir: string;
  path: string;
}

/** Caches kept per user: a few versions of the beacon or of Node in use side by side do not evict each other. */
const KEEP = 4;

/**
 * Where the V8 data starts: after the text, at a multiple of 8 bytes. V8 copies data that is not
 * aligned to its pointer size before using it (readAll's buffer is).
 */
export const dataOffset = (sourceLength: number): number => (sourceLength + 7) & ~7;

/** The cache file: the text, spaces up to dataOffset, V8's data. Never throws (it runs at exit). */
export function writeCompileCache({ script, source, dir, path: cachePath }: PendingCache): void {
  let tmp: string | undefined;
  try {
    const data = script.createCachedData();
    fs().mkdirSync(dir, { recursive: true, mode: 0o700 });
    tmp = `${cachePath}.${process.pid}.tmp`;
    const at = dataOffset(source.length);
    const bytes = Buffer.alloc(at + data.length, ' '); // the text, spaces up to the data
    bytes.write(source, 0, 'latin1');
    data.copy(bytes, at);
    fs().writeFileSync(tmp, bytes, { mode: 0o600, flag: 'wx' });
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
