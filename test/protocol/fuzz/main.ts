/**
 * `npm run fuzz [-- --cases N --seed S]`: the decode → validate fuzz at scale (default 10^6
 * cases), on the classifier the receiver runs. Prints one JSON object: cases, accepted by format,
 * rejected by reason, cases per generator family, seconds, and failure (null when none). Exit 1
 * on a failure, after printing the shrunk counterexample on stderr.
 */
import { createClassifier } from '../../../src/receiver/classify.js';
import { TEST_SECRET } from './oracle.js';
import { emptyTally, runFuzz } from './run.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`--${name} must be a non-negative integer`);
  return v;
}

const cases = arg('cases', 1_000_000);
const seed = arg('seed', Date.now() % 2 ** 31);
const chunk = 20_000;
const classify = createClassifier(TEST_SECRET.legacyId.bind(TEST_SECRET));
const tally = emptyTally();
const started = process.hrtime.bigint();
let failure: string | null = null;

function report(interrupted: boolean): void {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(
    `${JSON.stringify(
      {
        cases: tally.cases,
        seed,
        seconds: Math.round(seconds * 10) / 10,
        interrupted,
        accepted: tally.accepted,
        rejected: tally.rejected,
        families: tally.families,
        failure: failure === null ? null : failure.split('\n')[0],
      },
      null,
      2,
    )}\n`,
  );
}
// Stopped early (SIGINT / SIGTERM, between chunks): still print what was covered, marked as such.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    report(true);
    process.exit(130);
  });
}
for (let done = 0, i = 0; done < cases && failure === null; done += chunk, i++) {
  failure = runFuzz(classify, Math.min(chunk, cases - done), seed + i, tally);
  process.stderr.write(`fuzz: ${tally.cases} cases\n`);
  await new Promise((r) => setImmediate(r)); // lets a signal in between chunks
}
if (failure) process.stderr.write(`${failure}\n`);
report(false);
process.exitCode = failure === null ? 0 : 1;
