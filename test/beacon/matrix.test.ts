import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, FIXTURES, cleanEnv, startListener, type Listener } from './helpers.js';
import { NOTICE, WORLDS, inWorld, runTimed, withoutNotice, type TimedOptions, type TimedResult, type World } from './worlds.js';

/**
 * The failure-mode matrix (docs/beacon.md): for each way of using the beacon (library, register
 * mode, `beacon run`) and each situation below, the host program run with the beacon exits with
 * the same status and writes the same stdout and stderr (the first-run notice aside) as the same
 * program run without it in the same world, and ends within 1 s of it. Real child processes in
 * real failing worlds (namespaces; see worlds.ts). Where the collector is reachable, the start and
 * the end must also arrive, so a row cannot pass because the beacon quietly did nothing; where it is
 * not, the notice on stderr shows the beacon was on.
 *
 * Set BEACON_MATRIX_OUT=<file> to write the measured matrix (status kept, time added) as Markdown.
 */

type Mode = 'library' | 'register' | 'run';
const MODES: Mode[] = ['library', 'register', 'run'];
const HOST = join(FIXTURES, 'matrix/host.mjs');
const HOST_LIB = join(FIXTURES, 'matrix/host-lib.mjs');

type Home = 'fresh' | 'read-only' | 'missing' | 'state-corrupt' | 'state-truncated' | 'state-dir';

interface Ctx {
  dir: string;
  listener: Listener;
  deadPort: number;
}

interface Row {
  situation: string;
  /** What the host does (test/fixtures/beacon/matrix/behaviours.mjs). */
  behaviour: string;
  /** The host's own status, without the beacon: checked on the baseline too. */
  status: number;
  world?: (ctx: Ctx) => World;
  /** Default: the row's own listener on 127.0.0.1, and the datagrams must arrive. */
  collector?: (ctx: Ctx) => string;
  home?: Home;
  /** Sent to the process (the wrapper, in `beacon run` mode) once it printed "ready". */
  signal?: NodeJS.Signals;
  /** The reader closes stdout after the first chunk: only stderr and status are compared. */
  closeStdout?: boolean;
  /** The end datagram's `exit`, where it differs from `status` (see the row). */
  endExit?: Partial<Record<Mode, number>>;
}

let dnsServer = '';
let dns: ChildProcess | undefined;

const ROWS: Row[] = [
  {
    situation: 'collector hostname whose DNS never answers',
    behaviour: 'exit3',
    status: 3,
    world: (c) => WORLDS.dnsSilent(c.dir),
    collector: () => 'collector.example.org:50077',
  },
  {
    situation: 'collector name that does not exist (NXDOMAIN)',
    behaviour: 'exit3',
    status: 3,
    world: (c) => WORLDS.dnsServer(c.dir, dnsServer),
    collector: () => 'no-such-host.invalid:50077',
  },
  { situation: 'collector IP nothing listens on', behaviour: 'exit3', status: 3, collector: (c) => `127.0.0.1:${c.deadPort}` },
  {
    situation: 'no network (lo down), IP literal',
    behaviour: 'exit3',
    status: 3,
    world: WORLDS.offline,
    collector: () => '192.0.2.10:50077',
  },
  {
    situation: 'no network (lo down), hostname',
    behaviour: 'exit3',
    status: 3,
    world: WORLDS.offline,
    collector: () => 'collector.example.org:50077',
  },
  {
    situation: 'IPv6 literal on an IPv4-only host',
    behaviour: 'exit3',
    status: 3,
    world: WORLDS.ipv4Only,
    collector: () => '[2001:db8::1]:50077',
  },
  {
    situation: 'home directory read-only',
    behaviour: 'exit3',
    status: 3,
    home: 'read-only',
    world: (c) => WORLDS.readOnly(join(c.dir, 'home')),
  },
  {
    situation: 'home directory missing (and not creatable)',
    behaviour: 'exit3',
    status: 3,
    home: 'missing',
    world: (c) => WORLDS.readOnly(join(c.dir, 'home')),
  },
  { situation: 'state file corrupt', behaviour: 'exit3', status: 3, home: 'state-corrupt' },
  { situation: 'state file truncated', behaviour: 'exit3', status: 3, home: 'state-truncated' },
  { situation: 'state file is a directory', behaviour: 'exit3', status: 3, home: 'state-dir' },
  { situation: '/etc/machine-id missing', behaviour: 'exit3', status: 3, world: WORLDS.noMachineId },
  { situation: 'stdout closed early (EPIPE)', behaviour: 'epipe', status: 1, closeStdout: true },
  { situation: 'host sets process.exitCode', behaviour: 'exitcode', status: 5 },
  {
    situation: 'host calls process.exit() in an exit handler',
    behaviour: 'exit-in-exit-handler',
    status: 9,
    // In-process, the beacon's 'exit' listener ran before the host's and reported the status as it
    // was then; no listener can run after one that calls process.exit(). The wrapper sees the real one.
    endExit: { library: 0, register: 0 },
  },
  { situation: 'host has its own uncaughtException handler', behaviour: 'uncaught-handler', status: 6 },
  { situation: 'host has its own SIGINT handler', behaviour: 'sigint-handler', status: 11, signal: 'SIGINT' },
  { situation: 'host has its own SIGTERM handler', behaviour: 'sigterm-handler', status: 12, signal: 'SIGTERM' },
  { situation: 'beacon in a worker thread', behaviour: 'worker', status: 4 },
];

/** The two commands of a row: without the beacon, and with it in `mode`. */
function commands(mode: Mode, row: Row): { without: [string, string[]]; withBeacon: [string, string[]]; workerEntry?: string } {
  const node = process.execPath;
  const without: [string, string[]] = [node, [HOST, row.behaviour]];
  if (mode === 'library') {
    // In the worker row the main thread is the plain host and the worker starts the beacon.
    if (row.behaviour === 'worker') return { without, withBeacon: [node, [HOST, 'worker']], workerEntry: HOST_LIB };
    return { without, withBeacon: [node, [HOST_LIB, row.behaviour]] };
  }
  if (mode === 'register') return { without, withBeacon: [node, ['--import', 'usage-beacon/register', HOST, row.behaviour]] };
  return { without, withBeacon: [node, [CLI, 'run', '--project', 'matrix', '--', node, HOST, row.behaviour]] };
}

function prepareHome(ctx: Ctx, home: Home): Record<string, string> {
  const dir = join(ctx.dir, 'home');
  const stateDir = join(ctx.dir, 'state');
  switch (home) {
    case 'fresh':
      return { BEACON_HOME: stateDir };
    case 'read-only':
      mkdirSync(dir);
      return { HOME: dir };
    case 'missing':
      mkdirSync(dir);
      return { HOME: join(dir, 'missing') };
    case 'state-corrupt':
      mkdirSync(stateDir);
      writeFileSync(join(stateDir, 'state.json'), Buffer.from([0x7b, 0x00, 0xff, 0xfe, 0x22, 0x73, 0x65]));
      return { BEACON_HOME: stateDir };
    case 'state-truncated':
      mkdirSync(stateDir);
      writeFileSync(join(stateDir, 'state.json'), '{\n  "v": 1,\n  "secret": "3f9a1c0e6b2d48a7');
      return { BEACON_HOME: stateDir };
    case 'state-dir':
      mkdirSync(join(stateDir, 'state.json'), { recursive: true });
      return { BEACON_HOME: stateDir };
  }
}

async function deadPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function timedOptions(row: Row): TimedOptions {
  let acted = false;
  return {
    onStdout(text, child) {
      if (acted) return;
      if (row.signal && text.includes('ready\n')) {
        acted = true;
        child.kill(row.signal);
      } else if (row.closeStdout) {
        acted = true;
        child.stdout!.destroy();
      }
    },
  };
}

interface Measured {
  kept: boolean;
  status: number | null;
  addedMs: number;
  /** `beacon run` only: how long the wrapper outlived its command. */
  afterCommandMs?: number;
}
const measured = new Map<string, Measured>();

beforeAll(async () => {
  // One fake DNS server for the NXDOMAIN row, on a loopback address of its own (127.54.x.y).
  dnsServer = `127.54.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
  dns = spawn(process.execPath, [join(FIXTURES, 'fake-dns.mjs'), dnsServer, '53', 'nxdomain'], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise<void>((resolve, reject) => {
    dns!.stdout!.on('data', (d) => String(d).includes('listening') && resolve());
    dns!.on('exit', (c) => reject(new Error(`fake DNS exited ${c}`)));
  });
});

afterAll(() => {
  dns?.kill('SIGTERM');
  const out = process.env.BEACON_MATRIX_OUT;
  if (!out || measured.size === 0) return;
  const lines = ['| situation | library | register | `beacon run` |', '|---|---|---|---|'];
  for (const row of ROWS) {
    const cells = MODES.map((m) => {
      const r = measured.get(`${m}\0${row.situation}`);
      if (!r) return 'not run';
      const added = `${r.addedMs >= 0 ? '+' : '−'}${Math.abs(Math.round(r.addedMs))} ms`;
      const after = r.afterCommandMs === undefined ? '' : ` (${Math.round(r.afterCommandMs)} ms after the command)`;
      return `${r.kept ? 'kept' : 'CHANGED'} (${r.status}), ${added}${after}`;
    });
    lines.push(`| ${row.situation} | ${cells.join(' | ')} |`);
  }
  writeFileSync(out, `${lines.join('\n')}\n`);
});

/**
 * An unhandled EPIPE's stack depends on where in Node's write path the closed pipe was noticed,
 * which varies from run to run with or without the beacon: its frames are left out of the comparison.
 */
const stackless = (stderr: string) => stderr.replace(/^(\s+at .*|Emitted 'error' event .*)\n/gm, '');

// Rows run a few at a time: enough to keep the matrix short, few enough that the machine's load
// does not swamp the 1 s comparison on a 2-core runner.
let slots = 3;
const queue: Array<() => void> = [];
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  if (slots === 0) await new Promise<void>((r) => queue.push(r));
  else slots--;
  try {
    return await fn();
  } finally {
    const next = queue.shift();
    if (next) next();
    else slots++;
  }
}

async function runRow(mode: Mode, row: Row): Promise<void> {
  const ctx: Ctx = { dir: mkdtempSync(join(tmpdir(), 'beacon-matrix-')), listener: await startListener(), deadPort: await deadPort() };
  try {
    const collector = row.collector?.(ctx) ?? ctx.listener.collector;
    const stamp = join(ctx.dir, 'exit-stamp');
    const env = cleanEnv({
      MATRIX_EXIT_STAMP: stamp,
      BEACON_COLLECTOR: collector,
      BEACON_PROJECT: 'matrix',
      BEACON_VERSION: '1.0.0',
      ...prepareHome(ctx, row.home ?? 'fresh'),
    });
    const world = row.world?.(ctx) ?? WORLDS.host();
    const cmd = commands(mode, row);
    const run = (c: [string, string[]], extra: Record<string, string>): Promise<TimedResult> => {
      const w = inWorld(world, c[0], c[1]);
      return runTimed(w.file, w.args, { ...env, ...extra }, timedOptions(row));
    };
    const without = await run(cmd.without, {});
    const withBeacon = await run(cmd.withBeacon, cmd.workerEntry ? { MATRIX_WORKER_ENTRY: cmd.workerEntry } : {});

    const added = withBeacon.ms - without.ms;
    const afterCommand = mode === 'run' ? withBeacon.endedAt - Number(readFileSync(stamp, 'utf8')) : undefined;
    measured.set(`${mode}\0${row.situation}`, {
      kept: withBeacon.code === without.code,
      status: withBeacon.code,
      addedMs: added,
      afterCommandMs: afterCommand,
    });

    expect(without.code, `baseline: ${without.stderr}`).toBe(row.status);
    expect(withBeacon.code, withBeacon.stderr).toBe(without.code);
    expect(withBeacon.signal).toBe(without.signal);
    if (row.closeStdout) {
      expect(withBeacon.stdout).toMatch(/^x+\n/);
    } else {
      expect(withBeacon.stdout).toBe(without.stdout);
    }
    if (row.closeStdout) {
      expect(stackless(withoutNotice(withBeacon.stderr))).toBe(stackless(without.stderr));
    } else {
      expect(withoutNotice(withBeacon.stderr)).toBe(without.stderr);
    }
    if (afterCommand === undefined) {
      // One pair of whole-process timings on a loaded 2-core runner can differ by more than a
      // second from start-up noise alone. A beacon that really held the host (a DNS wait, a ref'd
      // socket) adds its delay to every pair, so up to two more pairs are timed and the least
      // difference is what is checked.
      let least = added;
      for (let again = 0; again < 2 && least >= 1000; again++) {
        const w0 = await run(cmd.without, {});
        const w1 = await run(cmd.withBeacon, cmd.workerEntry ? { MATRIX_WORKER_ENTRY: cmd.workerEntry } : {});
        least = Math.min(least, w1.ms - w0.ms);
      }
      expect(least).toBeLessThan(1000);
    } else {
      // `beacon run`: what it adds to the command's wall time is what it does after the command
      // ended (a flush of at most 20 ms, then its exit). Its own Node start-up, before the command
      // starts, is the wrapper's cost with or without telemetry; the table reports it in `added`.
      expect(afterCommand).toBeLessThan(1000);
    }

    if (!row.collector) {
      // Reachable collector: the beacon really ran, and its end says what the host did.
      await ctx.listener.waitFor(4);
      await new Promise((r) => setTimeout(r, 50));
      const msgs = ctx.listener.messages();
      const ends = msgs.filter((m) => m.kind === 'end');
      expect(msgs.filter((m) => m.kind === 'start')).toHaveLength(2);
      expect(ends).toHaveLength(2);
      expect(ends[0]!.exit).toBe(row.endExit?.[mode] ?? row.status);
    } else {
      // Nothing can arrive; the first-run notice shows the beacon was on all the same.
      expect(withBeacon.stderr).toMatch(NOTICE);
    }
  } finally {
    ctx.listener.close();
    rmSync(ctx.dir, { recursive: true, force: true });
  }
}

describe.concurrent('failure-mode matrix: the host never sees the beacon', () => {
  for (const row of ROWS) {
    for (const mode of MODES) {
      it(`${mode} × ${row.situation}`, () => limited(() => runRow(mode, row)));
    }
  }
});
