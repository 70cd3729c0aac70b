import fs from 'node:fs';
import path from 'node:path';
import { BeaconError } from '../errors.js';

/**
 * Creates `dir` and its missing parents one level at a time, or throws BEACON_ERR_OUTPUT.
 *
 * Why not `fs.mkdirSync(dir, { recursive: true })`: on a pseudo filesystem such as /proc, mkdir of
 * `/proc/x` fails with ENOENT while `/proc` exists, and Node's recursive mkdir answers ENOENT by
 * creating the parent and retrying, forever (`reports site --out /proc/x` hung). Here the walk up
 * is bounded by the path's depth and each mkdir is tried exactly once, so every failure is one
 * clear error, at once.
 */
export function makeOutputDir(dir: string, what: string): void {
  const fail = (why: string, cause?: unknown): never => {
    throw new BeaconError('BEACON_ERR_OUTPUT', `cannot create ${what} ${dir}: ${why}`, { cause });
  };
  const missing: string[] = [];
  // Walk up to the nearest existing ancestor; dirname() reaches the root in at most depth steps.
  for (let cur = path.resolve(dir); ; cur = path.dirname(cur)) {
    let st: fs.Stats;
    try {
      st = fs.statSync(cur);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' || path.dirname(cur) === cur) return fail(message(e), e);
      missing.push(cur);
      continue;
    }
    if (!st.isDirectory()) return fail(`${cur} is not a directory`);
    break;
  }
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d);
    } catch (e) {
      // Another process may have made it meanwhile: that is fine if it is a directory.
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && isDirectory(d)) continue;
      return fail(message(e), e);
    }
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
