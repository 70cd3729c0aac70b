// The paced UDP sender shared by the receiver benchmarks (bench/receiver.mjs, bench/postgres.mjs):
// a realistic datagram template, the C sender (bench/udp-sender.c) built once, optional CPU
// pinning, and one paced send.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRunEncoder } from '../../dist/protocol/index.js';

export const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** What the beacon sends for a start (~450 bytes), and the same with a @RUN@ placeholder. */
export function datagramTemplate() {
  const enc = createRunEncoder({
    run: randomUUID(),
    project: 'parsl',
    version: '2025.01.13',
    user: randomBytes(16).toString('hex'),
    host: randomBytes(16).toString('hex'),
    script: randomBytes(16).toString('hex'),
    runtime: 'python/3.11.7',
    os: 'linux',
    arch: 'x64',
    ci: false,
    components: { executors: 2, htex: 1, blocks: 4, provider: 'slurm' },
  });
  const sample = enc.start(Date.now()).toString();
  return { sample, template: sample.replace(/"run":"[^"]+"/, '"run":"@RUN@"') };
}

/** Builds bench/udp-sender.c into `dir` (gcc); a Node sender if gcc is missing. */
export function buildSender(dir) {
  const exe = path.join(dir, 'udp-sender');
  const r = spawnSync('gcc', ['-O2', '-o', exe, path.join(ROOT, 'bench', 'udp-sender.c')], { stdio: 'inherit' });
  return r.status === 0
    ? { kind: 'c', cmd: exe, args: [] }
    : { kind: 'node', cmd: process.execPath, args: [path.join(ROOT, 'bench', 'udp-sender.mjs')] };
}

/** `pin(core, cmd, args)` → [cmd, args] run under taskset when pinning is on and possible. */
export function pinning(wanted) {
  const pinned = wanted && os.cpus().length > 1 && spawnSync('taskset', ['-V']).status === 0;
  const pin = (core, cmd, args) => (pinned ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args]);
  return { pinned, pin };
}

/**
 * Sends `rate` datagrams a second for `seconds`, runs named `<prefix>-…` (unique per step, so the
 * rows stored can be counted by prefix), to one port or round-robin over several. Returns {sent}.
 */
export function sendPaced(sender, pin, { ports, rate, seconds, prefix, template, core = 1 }) {
  const [cmd, args] = pin(core, sender.cmd, [...sender.args, ports.join(','), String(rate), String(seconds), prefix, template]);
  return JSON.parse(execFileSync(cmd, args, { encoding: 'utf8' }));
}
