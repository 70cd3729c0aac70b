import { Command, InvalidArgumentError, Option } from 'commander';
import type { MonthlyOptions } from '../commands/monthly.js';
import type { PeriodCommandOptions } from '../commands/period.js';
import type { PreviewOptions } from '../commands/preview.js';
import type { PruneCommandOptions } from '../commands/prune.js';
import type { ReceiveCommandOptions } from '../commands/receive.js';
import type { RefreshCommandOptions } from '../commands/refresh.js';
import type { RelayCommandOptions } from '../commands/relay.js';
import type { RunOptions } from '../commands/run.js';
import type { SiteOptions } from '../commands/site.js';
import { DEFAULT_DB } from '../store/location.js';

/**
 * Command declarations only. Each action lazily imports the module that does the work, so
 * `beacon --help` and `beacon run` never load the receiver's or the reports' dependencies (the
 * option types above are type-only imports, erased at build).
 * Actions return an exit status (or nothing for 0); errors propagate to runMain.
 */

function positiveInt(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError(`${name} must be a positive integer.`);
    return Number(v);
  };
}

function portNumber(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) > 65535) throw new InvalidArgumentError('must be a port number 0-65535.');
  return Number(v);
}

/**
 * `--db` and `--store` (with its $BEACON_STORE fallback), declared once for every command that
 * opens a store; src/store/open-store.ts turns them into a store. `refresh` works on SQLite only.
 */
function storeOptions(cmd: Command, postgres = true): Command {
  cmd.option('--db <path>', 'SQLite store', DEFAULT_DB);
  if (postgres) cmd.addOption(new Option('--store <url>', 'PostgreSQL store (postgres://…), instead of --db').env('BEACON_STORE'));
  return cmd;
}

export type ActionResult = Promise<number | void>;
/** Set by the entry point; commands store their result here so runMain can exit with it. */
export interface Runner {
  run(fn: () => ActionResult): Promise<void>;
}

export function addMonthlyCommand(parent: Command, runner: Runner): Command {
  const monthly = parent
    .command('monthly')
    .description('Build the funder-ready monthly usage report')
    .option('--month <YYYY-MM>', 'month to report (default: the last complete UTC month)');
  return storeOptions(monthly)
    .option('--project <name>', 'only runs of this project')
    .option('--format <fmt>', 'md, html, json or csv', 'md')
    .option('--out <path>', 'write to this file (csv: a directory) instead of stdout')
    .option('--min-users <K>', 'suppress cells backed by fewer than K distinct users', positiveInt('--min-users'), 5)
    .option('--raw', 'JSON without small-count suppression (for the maintainers only)')
    .action((opts: MonthlyOptions) => runner.run(async () => (await import('../commands/monthly.js')).monthlyCommand(opts)));
}

export function addPeriodCommand(parent: Command, runner: Runner): Command {
  const period = parent
    .command('period')
    .description('Build a usage report over a span of months (a grant year): distinct users over the whole period')
    .option('--from <YYYY-MM>', 'first month of the period')
    .option('--to <YYYY-MM>', 'last month of the period (inclusive)')
    .option('--year <YYYY>', 'a year instead of --from/--to (January to December unless --year-start)')
    .option('--year-start <MM>', 'with --year: the month the year starts, e.g. 09 for September to August');
  return storeOptions(period)
    .option('--project <name>', 'only runs of this project')
    .option('--format <fmt>', 'md, html, json or csv', 'md')
    .option('--out <path>', 'write to this file (csv: a directory) instead of stdout')
    .option('--min-users <K>', 'suppress cells backed by fewer than K distinct users', positiveInt('--min-users'), 5)
    .option('--raw', 'JSON without small-count suppression (for the maintainers only)')
    .action((opts: PeriodCommandOptions) => runner.run(async () => (await import('../commands/period.js')).periodCommand(opts)));
}

export function addSiteCommand(parent: Command, runner: Runner): Command {
  const site = parent
    .command('site')
    .description('Write a static, self-contained site of every monthly report, the latest period and their JSON')
    .requiredOption('--out <dir>', 'directory to write (created if missing; only changed files are rewritten)');
  return storeOptions(site)
    .option('--project <name>', 'only runs of this project')
    .option('--min-users <K>', 'suppress cells backed by fewer than K distinct users', positiveInt('--min-users'), 5)
    .option('--year-start <MM>', 'periods are years starting in this month (grant years), e.g. 09', '01')
    .action((opts: SiteOptions) => runner.run(async () => (await import('../commands/site.js')).siteCommand(opts)));
}

export function addBeaconCommands(program: Command, runner: Runner): void {
  program
    .command('run')
    .description('Run a command in any language under the beacon; exits with its exit code')
    .option('--project <name>', 'tool name reported (default: $BEACON_PROJECT or the command name)')
    .option('--tool-version <v>', 'tool version reported (default: $BEACON_VERSION or "unknown")')
    .option('--collector <host:port>', 'collector address (default: $BEACON_COLLECTOR or 127.0.0.1:50077)')
    .argument('<command...>', 'the command and its arguments (put them after --)')
    .passThroughOptions()
    .action((command: string[], opts: RunOptions) =>
      runner.run(async () => (await import('../commands/run.js')).runCommand(command, opts)),
    );

  program
    .command('preview')
    .description('Show whether tracking is on, why, and the exact datagrams that would be sent; sends nothing')
    .option('--project <name>', 'tool name (default: $BEACON_PROJECT or "beacon")')
    .option('--collector <host:port>', 'collector address')
    .option('--opt-out-env <NAME>', 'opt-out variable of the embedding tool', 'PARSL_TRACKING')
    .action((opts: PreviewOptions) => runner.run(async () => (await import('../commands/preview.js')).previewCommand(opts)));

  for (const enabled of [true, false]) {
    program
      .command(enabled ? 'enable' : 'disable')
      .description(enabled ? 'Turn usage tracking back on for this user' : 'Turn usage tracking off for this user (persisted)')
      .action(() => runner.run(async () => (await import('../commands/consent.js')).consentCommand(enabled)));
  }

  const receive = program
    .command('receive')
    .description('Run the collector daemon: validate, dedupe and store datagrams')
    .option('--host <addr>', 'address to listen on', '0.0.0.0')
    .option('--port <n>', 'UDP port', portNumber, 50077);
  storeOptions(receive)
    .option('--flush-ms <ms>', 'commit accepted datagrams at least this often', positiveInt('--flush-ms'), 100)
    .option('--metrics-port <n>', 'serve Prometheus metrics on this TCP port', portNumber)
    .option('--metrics-host <addr>', 'address for the metrics server', '127.0.0.1')
    .option('--rate-limit <n|off>', 'datagrams per second per source network', '200')
    .option('--log-level <level>', 'trace, debug, info, warn, error', 'info')
    .option('--workers <n>', 'receiver processes sharing the UDP port (see docs/deploy.md)', positiveInt('--workers'), 1)
    .option('--http-port <n>', 'also accept POST /v1/datagrams from relays on this TCP port (behind a TLS proxy)', portNumber)
    .option('--http-host <addr>', 'address for HTTP ingest', '127.0.0.1')
    .option(
      '--http-max-body <bytes>',
      'largest HTTP ingest body; larger ones are refused (413) unread',
      positiveInt('--http-max-body'),
      1048576,
    )
    .option('--ingest-token-file <path>', 'bearer tokens accepted on HTTP ingest, one per line (one per relay)')
    .option(
      '--spill-dir <dir>',
      'where a backlog the store cannot take at exit is written (default: the --db directory; $BEACON_SPILL_DIR)',
    )
    .addOption(
      new Option(
        '--secret-file <path>',
        'collector secret, created 0600 if absent (default: <db>.secret; with --store: ./usage-beacon.secret)',
      ).env('BEACON_SECRET_FILE'),
    )
    .action((opts: ReceiveCommandOptions) => runner.run(async () => (await import('../commands/receive.js')).receiveCommand(opts)));

  program
    .command('relay')
    .description('Forward datagrams from a cluster to a collector over HTTPS (or UDP), queueing on disk while it is unreachable')
    .requiredOption('--forward <url>', 'https://host/v1/datagrams, http://host:port/v1/datagrams or udp://host:port')
    .option('--proxy <url|none>', 'outbound HTTP proxy for --forward (default: $https_proxy / $http_proxy, minus $no_proxy)')
    .option('--host <addr>', 'address to listen on for UDP', '0.0.0.0')
    .option('--port <n>', 'UDP port', portNumber, 50077)
    .option('--queue-dir <path>', 'on-disk queue while upstream is unreachable', './relay-queue')
    .option(
      '--queue-max-mb <n>',
      'queue bound in MiB (beyond it, new datagrams are dropped and counted)',
      positiveInt('--queue-max-mb'),
      256,
    )
    .option('--queue-max-datagrams <n>', 'queue bound in datagrams', positiveInt('--queue-max-datagrams'), 1_000_000)
    .option('--token-file <path>', 'file holding the bearer token sent upstream (first non-comment line)')
    .option('--batch-ms <ms>', 'forward a batch at least this often', positiveInt('--batch-ms'), 200)
    .option('--rate-limit <n|off>', 'datagrams per second per source network', '200')
    .option('--metrics-port <n>', 'serve Prometheus metrics on this TCP port', portNumber)
    .option('--metrics-host <addr>', 'address for the metrics server', '127.0.0.1')
    .option('--log-level <level>', 'trace, debug, info, warn, error', 'info')
    .action((opts: RelayCommandOptions) => runner.run(async () => (await import('../commands/relay.js')).relayCommand(opts)));

  const reports = program.command('reports').description('Usage reports for funders and maintainers');
  addMonthlyCommand(reports, runner);
  addPeriodCommand(reports, runner);
  addSiteCommand(reports, runner);

  const prune = program
    .command('prune')
    .description('Roll raw runs older than a cutoff into monthly aggregates kept forever, then delete them')
    .requiredOption('--older-than <age>', 'e.g. 60d');
  storeOptions(prune)
    .option('--json', 'print what was pruned as JSON')
    .action((opts: PruneCommandOptions) => runner.run(async () => (await import('../commands/prune.js')).pruneCommand(opts)));

  const refresh = program
    .command('refresh')
    .description('After run_facts of a SQLite store was edited or imported by hand: bring the report bookkeeping back in line');
  storeOptions(refresh, false).action((opts: RefreshCommandOptions) =>
    runner.run(async () => (await import('../commands/refresh.js')).refreshCommand(opts)),
  );
}
