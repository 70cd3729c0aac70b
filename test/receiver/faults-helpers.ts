import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ROOT, waitFor, watchDaemon, type RunningReceiver } from './helpers.js';

/**
 * A small tmpfs of its own, in a private mount namespace (`unshare -m`, needs root): a real
 * filesystem the tests fill and free. A holder process keeps the namespace alive across receiver
 * restarts; everything in it is reached from outside through /proc/<holder>/root.
 */
export interface SmallDisk {
  holder: ChildProcess;
  /** The mount point as seen inside the namespace. */
  dir: string;
  /** The same directory as seen from this process. */
  outside(name?: string): string;
  fill(): void;
  free(): void;
  cleanup(): void;
}

export function canMountTmpfs(): boolean {
  return process.getuid?.() === 0 && spawnSync('unshare', ['-m', '--propagation', 'private', 'true']).status === 0;
}

export async function smallDisk(sizeMB: number): Promise<SmallDisk> {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-disk-'));
  const holder = spawn(
    'unshare',
    ['-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o size=${sizeMB}m beacon-test ${dir} && echo ready && exec sleep 3600`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let ready = false;
  holder.stdout.on('data', (d: Buffer) => (ready ||= d.toString().includes('ready')));
  await waitFor('the tmpfs', () => ready);
  const outside = (name = ''): string => join(`/proc/${holder.pid}/root`, dir, name);
  const filler = outside('filler');
  return {
    holder,
    dir,
    outside,
    fill() {
      const fd = openSync(filler, 'a');
      const chunk = Buffer.alloc(64 * 1024);
      try {
        for (;;) writeSync(fd, chunk);
      } catch {
        // ENOSPC: the filesystem is full (tmpfs has no reserved blocks)
      } finally {
        closeSync(fd);
      }
    },
    free() {
      rmSync(filler, { force: true });
    },
    cleanup() {
      holder.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs SQL on a store inside the disk's namespace (SQLite resolves /proc/<pid>/root to the host's
 * root, so the file must be opened from inside). Read-only.
 */
export function queryIn<T = Record<string, unknown>>(disk: SmallDisk, db: string, sql: string): T[] {
  const script =
    `const D=require(${JSON.stringify(join(ROOT, 'node_modules/better-sqlite3'))});const d=new D(process.argv[1],{readonly:true,fileMustExist:true});` +
    `process.stdout.write(JSON.stringify(d.prepare(process.argv[2]).all()));d.close();`;
  const r = spawnSync('nsenter', ['-t', String(disk.holder.pid), '-m', '--', process.execPath, '-e', script, db, sql], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`query failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T[];
}

/** `beacon receive` inside the disk's namespace (nsenter), like helpers.startReceiver. */
export async function startReceiverIn(
  disk: SmallDisk,
  db: string,
  extra: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<RunningReceiver> {
  const child = spawn(
    'nsenter',
    [
      '-t',
      String(disk.holder.pid),
      '-m',
      '--',
      process.execPath,
      CLI,
      'receive',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--db',
      db,
      '--flush-ms',
      '50',
      '--rate-limit',
      'off',
      ...extra,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, BEACON_SETTLE_SECONDS: '0', ...env },
    },
  );
  const { lines, listening, stderr, exited } = await watchDaemon(child, 'receiver');
  return {
    child,
    port: listening.port as number,
    metricsPort: listening.metricsPort as number | undefined,
    lines,
    stderr,
    exited,
    stop: async (signal = 'SIGTERM') => {
      child.kill(signal);
      return exited;
    },
  };
}
