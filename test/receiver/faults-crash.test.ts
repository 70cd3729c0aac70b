import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';

describe('SIGKILL at random moments under load (scripts/crash.mjs, small scale)', () => {
  it('after each kill the store passes integrity_check, keeps every run committed before it, and loses only a short window', async () => {
    const child = spawn(
      process.execPath,
      [join(ROOT, 'scripts/crash.mjs'), '--kills', '2', '--rate', '1000', '--min-ms', '400', '--max-ms', '1500'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code, err).toBe(0);
    const r = JSON.parse(out) as Record<string, number | boolean>;
    expect(r).toMatchObject({ kills: 2, ok: true, integrityChecksPassed: 2, committedRunsVanished: 0, finalCleanStopExit: 0 });
    expect(r.sent).toBeGreaterThan(400);
    // A flush window (100 ms) plus the commit under way and the socket's queue: well under 2 s.
    expect(r.worstLossWindowMs).toBeLessThan(2000);
  }, 90_000);
});
