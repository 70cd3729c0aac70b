import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

/**
 * Failing worlds for real child processes, built with namespaces (the tests run as root):
 *
 * - `offline`: `unshare -n`, a network namespace whose only interface, lo, is down. Every send
 *   fails (no route), even to 127.0.0.1.
 * - `dns-silent`: a network namespace with lo up and a route that sends 10.53.0.0/24 into lo,
 *   where the packets are dropped without any reply (not local, not forwarded); plus a private
 *   mount namespace with /etc/resolv.conf bind-mounted to name 10.53.0.2 as the only name server.
 *   A DNS query there simply never gets an answer, like a firewalled compute node's.
 * - `host`: no namespace; the machine's own network (for collectors on loopback ports).
 *
 * Nothing here sends a packet beyond the namespace it creates.
 */
export type World = 'host' | 'offline' | 'dns-silent';

const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

/** `file args…` wrapped so it runs inside `world`; `dir` holds the bind-mounted resolv.conf. */
export function inWorld(world: World, dir: string, file: string, args: string[]): { file: string; args: string[] } {
  if (world === 'host') return { file, args };
  const cmd = [file, ...args].map(q).join(' ');
  if (world === 'offline') return { file: 'unshare', args: ['-n', 'sh', '-c', `exec ${cmd}`] };
  const conf = join(dir, 'resolv-silent.conf');
  writeFileSync(conf, 'nameserver 10.53.0.2\n');
  const setup = `ip link set lo up && ip route add 10.53.0.0/24 dev lo && mount --bind ${q(conf)} /etc/resolv.conf`;
  return { file: 'unshare', args: ['-n', '-m', 'sh', '-c', `${setup} && exec ${cmd}`] };
}

export interface TimedResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, ms. */
  ms: number;
}

/** Run to completion, collecting output; stdin closed. Rejects on a hang (the thing under test). */
export function runTimed(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  opts: { cwd?: string; timeoutMs?: number; onStdout?: (text: string, pid: number) => void } = {},
): Promise<TimedResult> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(file, args, { cwd: opts.cwd ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child hung: ${file} ${args.join(' ')}\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 20_000);
    child.stdout.on('data', (d) => {
      stdout += d;
      opts.onStdout?.(stdout, child.pid!);
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', () => {
      // The moment the process ended, not when its pipes drained (a grandchild may hold them).
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr, ms });
      });
    });
  });
}

/** The first-run notice (stderr, once per user and project) is the only output the beacon may add. */
export function withoutNotice(stderr: string): string {
  return stderr.replace(/\n[^\n]* collects anonymous usage statistics \(usage-beacon\)[\s\S]*?This notice is shown once\.\n\n/g, '');
}
