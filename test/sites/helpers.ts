import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { CLI, watchDaemon } from '../receiver/helpers.js';

export interface Daemon {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  listening: Record<string, unknown>;
  stderr(): string;
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Starts `beacon <args>` as a real child process and waits for its "listening" log line. */
export async function startDaemon(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Daemon> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const { lines, listening, stderr, exited } = await watchDaemon(child, args[0] ?? 'daemon');
  return { child, lines, listening, stderr, exited, stop: async (signal = 'SIGTERM') => (child.kill(signal), exited) };
}

/** A TCP port that was free a moment ago (for a receiver that must come back on the same port). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A Prometheus sample by name (and label set text, e.g. `{outcome="unauthorized"}`). */
export async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const esc = name.replace(/[{}"=]/g, (c) => `\\${c}`);
  const m = new RegExp(`^${esc} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** `beacon receive` on loopback with HTTP ingest on `httpPort` (0: any), a 50 ms flush and the given tokens. */
export function receiverArgs(db: string, httpPort: number, tokensFile: string, extra: string[] = []): string[] {
  return [
    'receive',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--db',
    db,
    '--flush-ms',
    '50',
    '--http-port',
    String(httpPort),
    '--ingest-token-file',
    tokensFile,
    ...extra,
  ];
}

/** `beacon relay` on loopback forwarding to `forward`, with metrics, 50 ms batches and no rate limit. */
export function relayArgs(forward: string, queueDir: string, tokenFile: string, extra: string[] = []): string[] {
  return [
    'relay',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--forward',
    forward,
    '--queue-dir',
    queueDir,
    '--metrics-port',
    '0',
    '--batch-ms',
    '50',
    '--rate-limit',
    'off',
    '--token-file',
    tokenFile,
    ...extra,
  ];
}
