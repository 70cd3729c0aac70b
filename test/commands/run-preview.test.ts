import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { loadProtocolSchema } from '../../src/protocol/schema.js';
import { CLI, cleanEnv, runNode, settle, type Listener, type TempHome, perTestListenerAndHome } from '../beacon/helpers.js';

let listener: Listener;
let home: TempHome;
perTestListenerAndHome((l, h) => {
  listener = l;
  home = h;
});

const validate = new Ajv({ strict: false }).compile(loadProtocolSchema());

async function waitUntil(ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function env(extra: Record<string, string> = {}) {
  return cleanEnv({ BEACON_HOME: home.home, ...extra });
}

describe('beacon run', () => {
  it("`beacon run -- sh -c 'exit 7'` exits 7 and reports it", async () => {
    const r = await runNode([CLI, 'run', '--collector', listener.collector, '--', 'sh', '-c', 'echo child out; exit 7'], { env: env() });
    expect(r.code).toBe(7);
    expect(r.stdout).toBe('child out\n');
    await listener.waitFor(4);
    const msgs = listener.messages();
    for (const m of msgs) expect(validate(m)).toBe(true);
    const start = msgs.find((m) => m.kind === 'start')!;
    const end = msgs.find((m) => m.kind === 'end')!;
    expect(end.run).toBe(start.run);
    expect(end.exit).toBe(7);
    expect(start.project).toBe('sh');
    expect(start.runtime).toBe('sh');
  });

  it('--project wins over $BEACON_PROJECT; the script ID is of the first existing file argument', async () => {
    const script = join(home.dir, 'job.sh');
    writeFileSync(script, 'exit 0\n');
    const run = (args: string[]) =>
      runNode([CLI, 'run', '--project', 'mytool', '--collector', listener.collector, '--', ...args], {
        env: env({ BEACON_PROJECT: 'ignored' }),
      });
    expect((await run(['sh', script])).code).toBe(0);
    await listener.waitFor(4);
    expect((await run(['sh', '-e', script])).code).toBe(0);
    await listener.waitFor(8);
    expect((await run(['sh', '-c', 'exit 0'])).code).toBe(0);
    await listener.waitFor(12);
    const starts = listener.messages().filter((m) => m.kind === 'start');
    expect(starts[0]!.project).toBe('mytool');
    expect(starts[0]!.script).toBe(starts[2]!.script); // same file, other flags
    expect(starts[4]!.script).not.toBe(starts[0]!.script);
    expect(listener.datagrams.some((d) => d.toString().includes('job.sh'))).toBe(false);
  });

  it('$BEACON_PROJECT is the default project; a wrapped interpreter unknown to us reports runtime "unknown"', async () => {
    const script = join(home.dir, 'secret-tool');
    writeFileSync(script, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const r = await runNode([CLI, 'run', '--', script], { env: env({ BEACON_PROJECT: 'envtool', BEACON_COLLECTOR: listener.collector }) });
    expect(r.code).toBe(0);
    await listener.waitFor(4);
    const m = listener.messages()[0]!;
    expect(m.project).toBe('envtool');
    expect(m.runtime).toBe('unknown');
  });

  it('a child killed by a signal → 128+n; signals sent to the wrapper reach the child', async () => {
    const r = await runNode([CLI, 'run', '--collector', listener.collector, '--', 'sh', '-c', 'echo ready; exec sleep 30'], {
      env: env(),
      onReady: (pid) => setTimeout(() => process.kill(pid, 'SIGTERM'), 100),
    });
    expect(r.code).toBe(143);
    await listener.waitFor(4);
    expect(listener.messages().find((m) => m.kind === 'end')!.exit).toBe(143);
  });

  it('a command that cannot start: one-line BEACON_ERR_SPAWN, exit 127', async () => {
    const r = await runNode([CLI, 'run', '--collector', listener.collector, '--', 'no-such-command-xyz', 'a'], { env: env() });
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/^beacon: cannot run "no-such-command-xyz": command not found \[BEACON_ERR_SPAWN\]\n$/m);
    expect(
      r.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('beacon:')),
    ).toHaveLength(1);
    // It never ran: no start, no end.
    await settle(300);
    expect(listener.datagrams).toHaveLength(0);
  });

  // A real terminal (a pty from util-linux `script`): Ctrl-C goes to the whole foreground process
  // group, the wrapper and the program alike. The program must see it once, not once from the
  // terminal and again from the wrapper. Without a terminal (a supervisor signalling the wrapper's
  // pid), the wrapper is the only one to get it and must forward it.
  it.runIf(process.platform === 'linux' && existsSync('/usr/bin/script'))(
    'Ctrl-C at a terminal reaches the program once; a SIGINT to a wrapper without a terminal is forwarded',
    async () => {
      for (const target of ['terminal', 'no terminal'] as const) {
        const info = join(home.dir, `info-${target.replace(' ', '-')}`);
        // The program: tells its parent and process group, then counts SIGINTs for 500 ms after the first.
        const program =
          `const fs=require('fs');const s=fs.readFileSync('/proc/self/stat','latin1');const f=s.slice(s.lastIndexOf(')')+2).split(' ');` +
          `let n=0;process.on('SIGINT',()=>{if(n++===0)setTimeout(()=>{fs.writeFileSync(${JSON.stringify(info)}+'.count',String(n));process.exit(0)},500)});` +
          `fs.writeFileSync(${JSON.stringify(info)},JSON.stringify({ppid:+f[1],pgrp:+f[2]}));setInterval(()=>{},1000);`;
        const argv = [CLI, 'run', '--collector', listener.collector, '--', process.execPath, '-e', program];
        const quoted = [process.execPath, ...argv].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
        // `detached`: a session of its own, so no terminal the test itself may run in.
        const proc =
          target === 'terminal'
            ? spawn('script', ['-qec', quoted, '/dev/null'], { env: env(), stdio: ['pipe', 'ignore', 'ignore'] })
            : spawn(process.execPath, argv, { env: env(), stdio: 'ignore', detached: true });
        const exited = new Promise((r) => proc.once('exit', r));
        try {
          await waitUntil(() => existsSync(info));
          const { ppid, pgrp } = JSON.parse(readFileSync(info, 'utf8')) as { ppid: number; pgrp: number };
          if (target === 'terminal')
            process.kill(-pgrp, 'SIGINT'); // what the tty driver does on Ctrl-C
          else process.kill(ppid, 'SIGINT'); // the wrapper's pid only
          await waitUntil(() => existsSync(`${info}.count`));
          expect({ target, sigints: Number(readFileSync(`${info}.count`, 'utf8')) }).toEqual({ target, sigints: 1 });
        } finally {
          proc.kill('SIGKILL');
          await exited;
        }
      }
    },
  );

  it('bad --collector: BEACON_ERR_BAD_COLLECTOR, exit 2, the command is not run', async () => {
    const marker = join(home.dir, 'ran');
    const r = await runNode([CLI, 'run', '--collector', 'nope:99999', '--', 'touch', marker], { env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('[BEACON_ERR_BAD_COLLECTOR]');
    expect(existsSync(marker)).toBe(false);
  });

  it('opted out: runs the command and exits with its status, sends nothing, creates no file', async () => {
    const r = await runNode([CLI, 'run', '--collector', listener.collector, '--', 'sh', '-c', 'exit 9'], {
      env: env({ PARSL_TRACKING: 'off' }),
    });
    expect(r.code).toBe(9);
    await settle(300);
    expect(listener.datagrams).toHaveLength(0);
    expect(existsSync(home.home)).toBe(false);
  });
});

describe('beacon preview', () => {
  it('says tracking is on and why, and prints schema-valid start and end bytes; sends and writes nothing', async () => {
    const r = await runNode([CLI, 'preview', '--project', 'parsl', '--collector', listener.collector], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('tracking:    on — default (no opt-out set)');
    expect(r.stdout).toContain(`collector:   ${listener.collector}`);
    expect(r.stdout).toContain(join(home.home, 'state.json'));
    const lines = r.stdout.split('\n');
    const start = JSON.parse(lines[lines.findIndex((l) => l.startsWith('start (')) + 1]!);
    const endLine = lines.findIndex((l) => l.startsWith('end ('));
    const end = JSON.parse(lines[endLine + 1]!);
    expect(Number(/\((\d+) bytes/.exec(lines[endLine]!)![1])).toBe(Buffer.byteLength(lines[endLine + 1]!));
    expect(validate(start)).toBe(true);
    expect(validate(end)).toBe(true);
    expect(start.project).toBe('parsl');
    expect(end.run).toBe(start.run);
    await settle(300);
    expect(listener.datagrams).toHaveLength(0);
    expect(existsSync(home.home)).toBe(false);
  });

  it('names the deciding setting: the environment, or `beacon disable`; and shows the real IDs once the secret exists', async () => {
    const off = await runNode([CLI, 'preview'], { env: env({ PARSL_TRACKING: 'No' }) });
    expect(off.stdout).toContain('tracking:    off — PARSL_TRACKING=No in the environment');
    const dnt = await runNode([CLI, 'preview', '--opt-out-env', 'MYTOOL_TRACKING'], { env: env({ MYTOOL_TRACKING: 'false' }) });
    expect(dnt.stdout).toContain('tracking:    off — MYTOOL_TRACKING=false in the environment');
    await runNode([CLI, 'disable'], { env: env() });
    const disabled = await runNode([CLI, 'preview'], { env: env() });
    expect(disabled.stdout).toContain('tracking:    off — disabled by `beacon disable`');
    expect(disabled.stdout).toContain('Nothing is sent.');

    // After a real run, preview shows that run's user ID (the secret now exists).
    await runNode([CLI, 'enable'], { env: env() });
    await runNode([CLI, 'run', '--project', 'beacon', '--collector', listener.collector, '--', 'true'], { env: env() });
    await listener.waitFor(4);
    const on = await runNode([CLI, 'preview'], { env: env() });
    expect(on.stdout).toContain('tracking:    on — enabled by `beacon enable`');
    expect(on.stdout).not.toContain('throwaway secret');
    expect(on.stdout).toContain(`"user":"${listener.messages()[0]!.user}"`);
    expect(on.stdout).toContain(`"host":"${listener.messages()[0]!.host}"`);
  });
});

describe('BEACON_DEBUG=1', () => {
  it('prints each datagram to stderr instead of sending it', async () => {
    const r = await runNode([CLI, 'run', '--collector', listener.collector, '--', 'sh', '-c', 'exit 2'], {
      env: env({ BEACON_DEBUG: '1' }),
    });
    expect(r.code).toBe(2);
    const debug = r.stderr.split('\n').filter((l) => l.startsWith('usage-beacon debug: would send'));
    expect(debug).toHaveLength(2);
    const end = JSON.parse(debug[1]!.slice(debug[1]!.indexOf('{')));
    expect(end.kind).toBe('end');
    expect(end.exit).toBe(2);
    await settle(300);
    expect(listener.datagrams).toHaveLength(0);
  });
});

describe('the CLI with its stdout closed early (`beacon preview | head -1`)', () => {
  it('exits 0 without a stack trace when the reader has gone away', async () => {
    // Our end of the child's stdout is closed before the child writes anything, so every write it
    // makes fails with EPIPE, the way `| head -1` makes the writes after the first line fail.
    const child = spawn(process.execPath, [CLI, 'preview'], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});
