#!/usr/bin/env node
import { Command } from 'commander';
import { endQuietlyWhenStdoutCloses, runMain } from './main.js';
import { addBeaconCommands, type Runner } from './commands.js';
import { packageVersion } from './version.js';

// Installed as two bins, `beacon` and `usage-beacon` (the one `npx usage-beacon …` finds anywhere);
// messages and --help name the one the user typed.
const prog = /(^|[\\/])usage-beacon(\.[cm]?js)?$/.test(process.argv[1] ?? '') ? 'usage-beacon' : 'beacon';
const runner: Runner = { run: (fn) => runMain(prog, fn) };
const program = new Command(prog)
  .description('usage-beacon: opt-out, anonymized usage telemetry — emitter, collector and reports')
  .version(packageVersion(), '-V, --version')
  .enablePositionalOptions();
addBeaconCommands(program, runner);
endQuietlyWhenStdoutCloses();
await runMain(prog, async () => {
  await program.parseAsync(process.argv);
});
