import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach } from 'vitest';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
export const FIXTURES = join(ROOT, 'test/fixtures/beacon');
export const APP = join(FIXTURES, 'app.mjs');
export const CLI = join(ROOT, 'dist/cli/beacon.js');

export interface Listener {
  port: number;
  collector: string;
  datagrams: Buffer[];
  messages(): Array<Record<string, unknown>>;
  /** Poll until `n` datagrams arrived, or fail after the deadline. */
  waitFor(n: number, ms?: number): Promise<void>;
  close(): void;
}

export async function startListener(): Promise<Listener> {
  const sock: Socket = createSocket('udp4');
  const datagrams: Buffer[] = [];
  sock.on('message', (m) => datagrams.push(m));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const port = sock.address().port;
  return {
    port,
    collector: `127.0.0.1:${port}`,
    datagrams,
    messages: () => datagrams.map((d) => JSON.parse(d.toString('utf8')) as Record<string, unknown>),
    async waitFor(n, ms = 10_000) {
      const deadline = Date.now() + ms;
      while (datagrams.length < n) {
        if (Date.now() > deadline) throw new Error(`expected ${n} datagrams, got ${datagrams.length}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close: () => sock.close(),
  };
}

/** After a child exited, give datagrams it sent a moment to be read (they are already in the kernel). */
export async function settle(ms = 150): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

export interface TempHome {
  dir: string;
  home: string;
  cleanup(): void;
}

export function tempHome(): TempHome {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-test-'));
  return { dir, home: join(dir, 'beacon-home'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Gives every test of the calling file its own UDP listener on port 0 and its own temporary
 * BEACON_HOME, both torn down after the test; `use` receives the fresh pair before each test.
 */
export function perTestListenerAndHome(use: (listener: Listener, home: TempHome) => void): void {
  let listener: Listener | undefined;
  let home: TempHome | undefined;
  beforeEach(async () => {
    listener = await startListener();
    home = tempHome();
    use(listener, home);
  });
  afterEach(() => {
    listener?.close();
    home?.cleanup();
  });
}

/** A minimal environment: nothing from the developer's shell (DO_NOT_TRACK, CI, …) leaks in. */
export function cleanEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, LANG: 'C' };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOpts {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Called with the child once its stdout contains `readyText`. */
  onReady?: (pid: number) => void;
  readyText?: string;
  timeoutMs?: number;
}

export function runNode(args: string[], opts: RunOpts): Promise<ChildResult> {
  return runProcess(process.execPath, args, opts);
}

export function runProcess(file: string, args: string[], opts: RunOpts): Promise<ChildResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(file, args, { cwd: opts.cwd ?? ROOT, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let readySent = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child timed out: ${args.join(' ')}\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 20_000);
    child.stdout.on('data', (d) => {
      stdout += d;
      if (opts.onReady && !readySent && stdout.includes(opts.readyText ?? 'ready')) {
        readySent = true;
        opts.onReady(child.pid!);
      }
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolveRun({ code, signal, stdout, stderr });
    });
  });
}
