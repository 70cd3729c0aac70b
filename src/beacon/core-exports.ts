/**
 * What the core script (dist/beacon/core.js, scripts/bundle-beacon.mjs) gives the entry point: the
 * beacon's API, and the compile cache's writer, which only a first run calls (code-cache-write.ts).
 * Not a public module: usage-beacon and usage-beacon/direct export index.ts's API only.
 */
export { DEFAULT_OPT_OUT_ENV, startBeacon } from './index.js';
export { writeCompileCache } from './code-cache-write.js';
