import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

/**
 * Failing worlds for real child processes, built with namespaces (the tests run as root). A
 * process started in a world runs in fresh namespaces set up by a small shell prelude, then execs
 * the command (same PID, so signals sent to it reach the command). Nothing here sends a packet
 * beyond a namespace it creates, or changes anything outside one.
 */
export interface World {
  /** unshare(1) flags: -n for a network namespace, -m for a private mount namespace. */
  unshare: string[];
  /** Shell commands run inside the namespaces before the exec. */
  setup: string[];
}

const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

export const WORLDS = {
  /** The machine's own network and files. */
  host: (): World => ({ unshare: [], setup: [] }),
  /** No network: a network namespace whose only interface, lo, is down. Every send fails, even to 127.0.0.1. */
  offline: (): World => ({ unshare: ['-n'], setup: [] }),
  /**
   * A DNS server that never answers: lo is up and 10.53.0.0/24 is routed into it, where the packets
   * are dropped without any reply (not local, not forwarded); /etc/resolv.conf is bind-mounted to
   * name 10.53.0.2 as the only server. Like a firewalled compute node's resolver.
   */
  dnsSilent: (dir: string): World => {
    const conf = join(dir, 'resolv-silent.conf');
    writeFileSync(conf, 'nameserver 10.53.0.2\n');
    return {
      unshare: ['-n', '-m'],
      setup: ['ip link set lo up', 'ip route add 10.53.0.0/24 dev lo', `mount --bind ${q(conf)} /etc/resolv.conf`],
    };
  },
  /** /etc/resolv.conf names `server` (a fake DNS server on loopback answering every query NXDOMAIN). */
  dnsServer: (dir: string, server: string): World => {
    const conf = join(dir, 'resolv-fake.conf');
    writeFileSync(conf, `nameserver ${server}\n`);
    return { unshare: ['-m'], setup: [`mount --bind ${q(conf)} /etc/resolv.conf`] };
  },
  /** IPv4 only: a network namespace with lo up and IPv6 disabled on every interface. */
  ipv4Only: (): World => ({
    unshare: ['-n'],
    setup: ['ip link set lo up', ...['all', 'default', 'lo'].map((i) => `echo 1 > /proc/sys/net/ipv6/conf/${i}/disable_ipv6`)],
  }),
  /** `dir` (a home directory) is mounted read-only. Root ignores file modes, so a mount it must be. */
  readOnly: (dir: string): World => ({
    unshare: ['-m'],
    setup: [`mount --bind ${q(dir)} ${q(dir)}`, `mount -o remount,bind,ro ${q(dir)}`],
  }),
  /** No /etc/machine-id, nor its D-Bus copy: empty tmpfs over /etc and /var/lib/dbus. */
  noMachineId: (): World => ({
    unshare: ['-m'],
    setup: ['mount -t tmpfs none /etc', 'mount -t tmpfs none /var/lib/dbus'],
  }),
} as const;

/** `file args…` wrapped so that it runs inside `world`. */
export function inWorld(world: World, file: string, args: string[]): { file: string; args: string[] } {
  if (world.unshare.length === 0) return { file, args };
  const cmd = [file, ...args].map(q).join(' ');
  return { file: 'unshare', args: [...world.unshare, 'sh', '-c', [...world.setup, `exec ${cmd}`].join(' && ')] };
}

export interface TimedResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, ms. */
  ms: number;
  /** Date.now() when the process exited. */
  endedAt: number;
}

export interface TimedOptions {
  cwd?: string;
  timeoutMs?: number;
  /** Called on each chunk of stdout with all of it so far; `child` lets it signal or close the pipe. */
  onStdout?: (text: string, child: ReturnType<typeof spawn>) => void;
}

/** Run to completion, collecting output; stdin closed. Rejects on a hang (the thing under test). */
export function runTimed(file: string, args: string[], env: NodeJS.ProcessEnv, opts: TimedOptions = {}): Promise<TimedResult> {
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
      opts.onStdout?.(stdout, child);
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', () => {
      // The moment the process ended, not when its pipes drained (a grandchild may hold them).
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const endedAt = Date.now();
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr, ms, endedAt });
      });
    });
  });
}

/** The first-run notice (stderr, once per user and project) is the only output the beacon may add. */
export const NOTICE = /\n[^\n]* collects anonymous usage statistics \(usage-beacon\)[\s\S]*?This notice is shown once\.\n\n/g;

export function withoutNotice(stderr: string): string {
  return stderr.replace(NOTICE, '');
}
