import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { APP, FIXTURES, cleanEnv, runNode, runProcess, settle, startListener, tempHome, type Listener, type TempHome } from './helpers.js';

// The collector is down, unresolvable, or its DNS never answers: the host program's output and
// exit status must be exactly what they are without the beacon, and it must not be held open.
// DNS scenarios run in a private mount namespace whose /etc/resolv.conf points at a fake DNS
// server on a loopback address, so no query ever leaves the machine.

const PLAIN = join(FIXTURES, 'plain.mjs');
let listener: Listener;
let home: TempHome;
let dns: ChildProcess | undefined;
beforeEach(async () => {
  listener = await startListener();
  home = tempHome();
});
afterEach(() => {
  dns?.kill('SIGTERM');
  dns = undefined;
  listener.close();
  home.cleanup();
});

async function startFakeDns(mode: 'silent' | 'nxdomain' | 'answer'): Promise<string> {
  const ip = `127.53.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
  dns = spawn(process.execPath, [join(FIXTURES, 'fake-dns.mjs'), ip, '53', mode, '127.0.0.1'], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise<void>((resolve, reject) => {
    dns!.stdout!.on('data', (d) => String(d).includes('listening') && resolve());
    dns!.on('exit', (c) => reject(new Error(`fake dns exited ${c}`)));
  });
  const conf = join(home.dir, 'resolv.conf');
  writeFileSync(conf, `nameserver ${ip}\noptions timeout:1 attempts:1\n`);
  return conf;
}

/** Run node with the fake resolv.conf bind-mounted over the real one, in a private mount namespace. */
function nodeWithDns(conf: string, args: string[], env: NodeJS.ProcessEnv) {
  const quoted = [process.execPath, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return runProcess('unshare', ['-m', 'sh', '-c', `mount --bind '${conf}' /etc/resolv.conf && exec ${quoted}`], { env });
}

async function deadPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function env(collector: string, extra: Record<string, string> = {}) {
  return cleanEnv({ BEACON_HOME: home.home, BEACON_COLLECTOR: collector, BEACON_PROJECT: 'plain', ...extra });
}

async function compareWithBaseline(
  run: (args: string[], env: NodeJS.ProcessEnv) => Promise<{ code: number | null; stdout: string; stderr: string }>,
  collector: string,
) {
  const baseline = await run([PLAIN], env(collector));
  // The first tracked run prints the notice on stderr; after it, stderr must match the baseline too.
  await run(['--import', 'usage-beacon/register', PLAIN], env(collector));
  const t0 = Date.now();
  const tracked = await run(['--import', 'usage-beacon/register', PLAIN], env(collector));
  const elapsed = Date.now() - t0;
  expect(tracked.code).toBe(baseline.code);
  expect(tracked.stdout).toBe(baseline.stdout);
  expect(tracked.stderr).toBe(baseline.stderr);
  // Not a benchmark: a held-open process would take ≥ 2 s (our query timeout) or ~10 s (getaddrinfo).
  expect(elapsed).toBeLessThan(1900);
  const thrower = await run([APP, 'exit3'], env(collector));
  expect(thrower.code).toBe(3);
  expect(thrower.stdout).toBe('fixture ran: exit3 enabled=true\n');
}

describe('collector problems never show in the host program', () => {
  it('nothing listening on the collector port', async () => {
    const port = await deadPort();
    await compareWithBaseline((args, e) => runNode(args, { env: e }), `127.0.0.1:${port}`);
  });

  it('a DNS server that never answers', async () => {
    const conf = await startFakeDns('silent');
    await compareWithBaseline((args, e) => nodeWithDns(conf, args, e), `collector.example.org:${listener.port}`);
    await settle(200);
    expect(listener.datagrams).toHaveLength(0);
  });

  it('an unresolvable collector hostname (NXDOMAIN)', async () => {
    const conf = await startFakeDns('nxdomain');
    await compareWithBaseline((args, e) => nodeWithDns(conf, args, e), `no-such-host.invalid:${listener.port}`);
    await settle(200);
    expect(listener.datagrams).toHaveLength(0);
  });

  it('a resolvable collector hostname: start and end arrive once the name resolves', async () => {
    const conf = await startFakeDns('answer');
    const r = await nodeWithDns(conf, [APP, 'linger'], env(`collector.example.org:${listener.port}`, { FIXTURE_LINGER_MS: '1500' }));
    expect(r.code).toBe(0);
    await listener.waitFor(4);
    expect(
      listener
        .messages()
        .map((m) => m.kind)
        .sort(),
    ).toEqual(['end', 'end', 'start', 'start']);
    const state = JSON.parse(readFileSync(join(home.home, 'state.json'), 'utf8'));
    expect(state.collectors['collector.example.org']).toMatchObject({ address: '127.0.0.1', family: 4 });

    // A program too short for DNS to answer still gets its datagrams out, via the cached address.
    dns?.kill('SIGTERM');
    const silent = await startFakeDns('silent');
    const short = await nodeWithDns(silent, [APP, 'exit3'], env(`collector.example.org:${listener.port}`));
    expect(short.code).toBe(3);
    await listener.waitFor(8);
    expect(
      listener
        .messages()
        .slice(4)
        .find((m) => m.kind === 'end')!.exit,
    ).toBe(3);
  });
});
