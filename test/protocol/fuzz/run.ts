import { isAscii } from 'node:buffer';
import fc from 'fast-check';
import type { Classify } from '../../../src/receiver/classify.js';
import { FLAG_NON_ASCII } from '../../../src/protocol/decode.js';
import { anyCase, type FuzzCase } from './arbitraries.js';
import { parslMappingProblems, recordProblems, referenceNative, referenceParse } from './oracle.js';

/** What one fuzz run saw: the JSON `npm run fuzz` prints. */
export interface FuzzTally {
  cases: number;
  accepted: Record<string, number>;
  rejected: Record<string, number>;
  families: Record<string, number>;
}

const NOW = Date.UTC(2026, 11, 2, 12);
const MONTH = 202612;

/**
 * One case against the three properties: the classifier never throws, never accepts what the
 * reference rejects (or stores a field the reference would not), never rejects what it accepts.
 * The datagram sits at an offset inside a larger buffer with '1{' bytes around it, as in the
 * native reader's shared batch buffer, so reading outside [start, start + length) would show.
 * Returns the problems found (empty: the case passed).
 */
export function checkCase(classify: Classify, c: FuzzCase, tally?: FuzzTally): string[] {
  const protoKeys = Object.getOwnPropertyNames(Object.prototype).length;
  const pad = Buffer.from('1{"v":1,');
  const buf = Buffer.concat([pad, c.bytes, pad]);
  const flags = isAscii(c.bytes) ? 0 : FLAG_NON_ASCII;
  const got = classify(buf, pad.length, c.bytes.length, flags, NOW, MONTH);
  const ref = referenceParse(c.bytes);
  const bad: string[] = [];
  if (tally) {
    tally.cases++;
    tally.families[c.family] = (tally.families[c.family] ?? 0) + 1;
    const key = typeof got === 'string' ? got : got.format;
    const bucket = typeof got === 'string' ? tally.rejected : tally.accepted;
    bucket[key] = (bucket[key] ?? 0) + 1;
  }
  if (typeof got === 'string') {
    if (c.valid) bad.push(`rejected a valid ${c.family} datagram as ${got}`);
    if (ref.kind === 'reject' && got !== ref.reason) bad.push(`reason ${got}, reference says ${ref.reason}`);
    if (ref.kind === 'native') {
      const want = referenceNative(ref.value);
      if (want === true) bad.push(`rejected a schema-valid, plausible native datagram as ${got}`);
      else if (want !== got) bad.push(`reason ${got}, reference says ${want}`);
    }
    if ((ref.kind === 'parsl-legacy' || ref.kind === 'parsl-1') && got !== 'schema' && got !== 'implausible') {
      bad.push(`a parsed Parsl datagram rejected as ${got}`);
    }
  } else {
    bad.push(...recordProblems(got, ref));
    if (c.valid && ref.kind !== 'reject' && ref.kind !== 'native') {
      bad.push(...parslMappingProblems(got, ref.value as Record<string, unknown>, ref.kind === 'parsl-legacy'));
    }
  }
  if (Object.getOwnPropertyNames(Object.prototype).length !== protoKeys || ({} as Record<string, unknown>).polluted !== undefined) {
    bad.push('Object.prototype was modified');
  }
  return bad;
}

export function emptyTally(): FuzzTally {
  return { cases: 0, accepted: {}, rejected: {}, families: {} };
}

/**
 * `runs` cases from fast-check's generator; on the first failure fast-check shrinks it and the
 * returned message names the smallest failing datagram (as hex and as text) and the seed.
 */
export function runFuzz(classify: Classify, runs: number, seed: number, tally: FuzzTally): string | null {
  const out = fc.check(
    fc.property(anyCase, (c) => {
      const bad = checkCase(classify, c, tally);
      if (bad.length > 0) throw new Error(bad.join('; '));
    }),
    { numRuns: runs, seed, endOnFailure: false },
  );
  if (!out.failed) return null;
  const c = out.counterexample?.[0];
  const bytes = c ? Buffer.from(c.bytes) : Buffer.alloc(0);
  return (
    `fuzz failure (seed ${seed}): ${String(out.errorInstance)}\n` +
    `  family: ${c?.family}\n  text: ${JSON.stringify(bytes.toString('latin1').slice(0, 600))}\n  hex: ${bytes.toString('hex').slice(0, 400)}`
  );
}
