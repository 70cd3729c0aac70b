#!/usr/bin/env node
import { Command } from 'commander';
import { runMain } from './main.js';
import { addBeaconCommands, type Runner } from './commands.js';
import { packageVersion } from './version.js';

const runner: Runner = { run: (fn) => runMain('beacon', fn) };
const program = new Command('beacon')
  .description('usage-beacon: opt-out, anonymized usage telemetry — emitter, collector and reports')
  .version(packageVersion(), '-V, --version')
  .enablePositionalOptions();
addBeaconCommands(program, runner);
await runMain('beacon', async () => {
  await program.parseAsync(process.argv);
});
