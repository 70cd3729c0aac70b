#!/usr/bin/env node
import { Command } from 'commander';
import { endQuietlyWhenStdoutCloses, runMain } from './main.js';
import { addMonthlyCommand, addPeriodCommand, addSiteCommand, type Runner } from './commands.js';
import { packageVersion } from './version.js';

// `reports monthly …` is the same command as `beacon reports monthly …`.
const runner: Runner = { run: (fn) => runMain('reports', fn) };
const program = new Command('reports')
  .description('usage-beacon reports for funders and maintainers')
  .version(packageVersion(), '-V, --version');
addMonthlyCommand(program, runner);
addPeriodCommand(program, runner);
addSiteCommand(program, runner);
endQuietlyWhenStdoutCloses();
await runMain('reports', async () => {
  await program.parseAsync(process.argv);
});
