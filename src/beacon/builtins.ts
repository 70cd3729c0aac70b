/**
 * The node:* modules the beacon uses, fetched with process.getBuiltinModule (Node >= 20.16) on
 * first use instead of ESM imports. Why: a static `import … from 'node:fs'` makes Node build an
 * ES module facade for each builtin, and for fs, os, path and dgram that measured ~2 ms of the
 * beacon's import budget (bench:beacon); getBuiltinModule returns the already-loaded CJS module.
 * Accessors rather than constants, so that nothing runs at import time: on a Node without
 * getBuiltinModule the first call throws inside startBeacon(), which then disables itself instead
 * of breaking the host's import. node:dgram in particular is loaded only where a socket is made,
 * in the deferred work after startBeacon() returns.
 */
type Fs = typeof import('node:fs');
type Os = typeof import('node:os');
type Path = typeof import('node:path');
type Dgram = typeof import('node:dgram');

let fsModule: Fs | undefined;
let osModule: Os | undefined;
let pathModule: Path | undefined;
let dgramModule: Dgram | undefined;

export const fs = (): Fs => (fsModule ??= process.getBuiltinModule('node:fs'));
export const os = (): Os => (osModule ??= process.getBuiltinModule('node:os'));
export const path = (): Path => (pathModule ??= process.getBuiltinModule('node:path'));
export const dgram = (): Dgram => (dgramModule ??= process.getBuiltinModule('node:dgram'));

/** False on Node < 20.16: the beacon then stays disabled rather than half-working. */
export const builtinsAvailable = (): boolean => typeof process.getBuiltinModule === 'function';
