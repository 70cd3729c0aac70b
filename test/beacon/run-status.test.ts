import { describe, expect, it } from 'vitest';
import { CLI, cleanEnv, tempHome } from './helpers.js';
import { WORLDS, inWorld, runTimed, withoutNotice, type World } from './worlds.js';

// The bug: on a machine whose DNS never answers, or with no network at all, `beacon run` exited 13
// (Node's "unsettled top-level await") instead of its command's status, because its flush waited
// on a promise that only unref'd work could settle. A scheduler reading that status sees a failure
// that did not happen. Real child processes in real failing worlds, each compared with the command
// run without the wrapper in the same world.

const COMMAND = ['sh', '-c', 'echo ran; echo "to stderr" >&2; exit 3'];

const cases: Array<[string, (dir: string) => World, string]> = [
  ['no network (lo down), IP-literal collector', WORLDS.offline, '127.0.0.1:50077'],
  ['no network (lo down), hostname collector', WORLDS.offline, 'collector.example.org:50077'],
  ['DNS that never answers, hostname collector', WORLDS.dnsSilent, 'collector.example.org:50077'],
  ['DNS that never answers, IP-literal collector nothing answers on', WORLDS.dnsSilent, '10.53.0.9:50077'],
];

describe('beacon run exits with its command status in every network situation', () => {
  for (const [name, world, collector] of cases) {
    it(name, async () => {
      const home = tempHome();
      try {
        const env = cleanEnv({ BEACON_HOME: home.home });
        const bare = inWorld(world(home.dir), COMMAND[0]!, COMMAND.slice(1));
        const wrapped = inWorld(world(home.dir), process.execPath, [
          CLI,
          'run',
          '--project',
          'x',
          '--collector',
          collector,
          '--',
          ...COMMAND,
        ]);
        const without = await runTimed(bare.file, bare.args, env);
        // The same wrapper with telemetry off: its Node start-up is not the beacon's doing.
        const optedOut = await runTimed(wrapped.file, wrapped.args, { ...env, DO_NOT_TRACK: '1' });
        expect(optedOut.code).toBe(3);
        for (const run of [1, 2]) {
          // Run 1 creates the state file and shows the notice; run 2 is the usual run.
          const r = await runTimed(wrapped.file, wrapped.args, env);
          expect(r.code, `run ${run}`).toBe(3);
          expect(r.code).toBe(without.code);
          expect(r.stdout).toBe(without.stdout);
          expect(withoutNotice(r.stderr)).toBe(without.stderr);
          if (run === 2) expect(r.stderr).toBe(without.stderr);
          // Telemetry adds at most its 20 ms flush after the command (plus noise on a busy machine).
          expect(r.ms - optedOut.ms).toBeLessThan(1000);
        }
      } finally {
        home.cleanup();
      }
    });
  }

  it('a command killed by a signal: 128 + n, offline too', async () => {
    const home = tempHome();
    try {
      const env = cleanEnv({ BEACON_HOME: home.home });
      const w = inWorld(WORLDS.offline(), process.execPath, [
        CLI,
        'run',
        '--collector',
        'collector.example.org:50077',
        '--',
        'sh',
        '-c',
        'kill -TERM $$',
      ]);
      const r = await runTimed(w.file, w.args, env);
      expect(r.code).toBe(143);
    } finally {
      home.cleanup();
    }
  });
});
