#!/usr/bin/env node
// Run by `npm install` (the package's install script): builds the receiver's optional native batch
// UDP reader, native/udp-batch (C, Node-API, Linux). It is optional on purpose: if it cannot be
// built (no compiler, not Linux), the install still succeeds and `beacon receive` reads through
// node:dgram, logging a warning; the beacon never needs it. Set BEACON_SKIP_NATIVE=1 to skip.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'native', 'udp-batch');
const say = (msg) => process.stderr.write(`usage-beacon: ${msg}\n`);

if (process.platform !== 'linux') {
  say('the native batch UDP reader is Linux only; the receiver will use node:dgram');
  process.exit(0);
}
if (process.env.BEACON_SKIP_NATIVE) process.exit(0);
if (!existsSync(path.join(dir, 'binding.gyp'))) process.exit(0);

// npm hands its bundled node-gyp to install scripts; outside npm, one on PATH.
const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const r = spawnSync(cmd, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  const why = r.error
    ? r.error.message
    : (r.stderr ?? '')
        .trim()
        .split('\n')
        .filter((l) => /error/i.test(l))
        .slice(0, 3)
        .join('; ');
  say(`could not build the native batch UDP reader (${why || `exit ${r.status}`}); the receiver will use node:dgram`);
}
process.exit(0);
