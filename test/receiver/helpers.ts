import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { createRunEncoder, type RunEncoder } from '../../src/protocol/index.js';
import type { RunIdentity } from '../../src/protocol/types.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
export const CLI = join(ROOT, 'dist/cli/beacon.js');
export const PARSL_FIXTURES = join(ROOT, 'test/fixtures/parsl');

export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function tempDir(): { dir: string; db: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'receiver-test-'));
  return { dir, db: join(dir, 'usage.db'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface RunningReceiver {
  child: ChildProcess;
  port: number;
  metricsPort?: number;
  /** Parsed JSON log lines so far. */
  lines: Array<Record<string, unknown>>;
  stderr: () => string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** A daemon child's JSON log lines, its stderr and its exit, once it has logged "listening". */
export interface WatchedDaemon {
  lines: Array<Record<string, unknown>>;
  listening: Record<string, unknown>;
  stderr: () => string;
  exited: Promise<number | string>;
}

/**
 * Collects a daemon's (receiver, relay) JSON log lines from its stdout and waits for its
 * "listening" line; a daemon that exits first is an error carrying its stderr.
 */
export async function watchDaemon(child: ChildProcess, name: string): Promise<WatchedDaemon> {
  const lines: Array<Record<string, unknown>> = [];
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    let i: number;
    while ((i = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, i);
      out = out.slice(i + 1);
      if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | string>((r) => child.once('exit', (code, sig) => r(code ?? sig ?? -1)));
  let done = false;
  void exited.then(() => (done = true));
  const listening = await waitFor('the listening line', () => lines.find((l) => l.msg === 'listening') ?? (done ? {} : undefined));
  if (listening.port === undefined) throw new Error(`${name} exited early: ${err}`);
  return { lines, listening, stderr: () => err, exited };
}

/** Starts `beacon receive --port 0` as a real child process and learns its port from the log. */
export async function startReceiver(db: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunningReceiver> {
  const child = spawn(process.execPath, [CLI, 'receive', '--host', '127.0.0.1', '--port', '0', '--db', db, '--flush-ms', '50', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // With --store the secret's default is the working directory: keep tests' secrets in their temp dir.
    env: { ...process.env, ...(extra.includes('--store') ? { BEACON_SECRET_FILE: `${db}.secret` } : {}), ...env },
  });
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

/** Runs the CLI to completion (for the setup-failure cases). */
export function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((r) => child.once('exit', (code) => r({ code, stdout, stderr })));
}

export async function send(port: number, datagrams: Buffer[], host = '127.0.0.1'): Promise<void> {
  const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  try {
    for (const d of datagrams) await new Promise<void>((r, j) => sock.send(d, port, host, (e) => (e ? j(e) : r())));
  } finally {
    sock.close();
  }
}

export function identity(over: Partial<RunIdentity> = {}): RunIdentity {
  return {
    run: randomUUID(),
    project: 'demo',
    version: '1.2.3',
    user: randomBytes(16).toString('hex'),
    host: randomBytes(16).toString('hex'),
    script: randomBytes(16).toString('hex'),
    runtime: 'node/20.20.2',
    os: 'linux',
    arch: 'x64',
    ci: false,
    ...over,
  };
}

export function encoder(over: Partial<RunIdentity> = {}): RunEncoder & { id: RunIdentity } {
  const id = identity(over);
  return Object.assign(createRunEncoder(id), { id });
}

export function openDb(path: string): Database.Database {
  return new Database(path, { readonly: true, fileMustExist: true });
}

export function query<T = Record<string, unknown>>(path: string, sql: string, ...params: unknown[]): T[] {
  const db = openDb(path);
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

export function counters(path: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of query<{ name: string; value: number }>(path, 'SELECT name, sum(value) AS value FROM daily_counters GROUP BY name'))
    out[r.name] = r.value;
  return out;
}
