import { isAscii } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_COMPONENTS } from '../../src/protocol/limits.js';
import { createClassifier } from '../../src/receiver/classify.js';
import { FLAG_NON_ASCII } from '../../src/protocol/decode.js';
import { TEST_SECRET } from './fuzz/oracle.js';
import { anyCase, arbitraryBytes, edgeCase, mutatedDatagram, validCase, type FuzzCase } from './fuzz/arbitraries.js';
import { checkCase, emptyTally, runFuzz } from './fuzz/run.js';

/**
 * Property-based tests of decode → validate for the three wire formats: never throws, never
 * accepts what the reference (Ajv + the schema, the store contract for Parsl) rejects, never
 * rejects a datagram built to the protocol. A modest number of cases here; `npm run fuzz` runs
 * 10^6. A failure prints fast-check's seed and the shrunk datagram.
 */
const classify = createClassifier(TEST_SECRET.legacyId.bind(TEST_SECRET));
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const bytes = (s: string | number[]) => (typeof s === 'string' ? new Uint8Array(Buffer.from(s)) : new Uint8Array(s));
const run = (c: FuzzCase) => checkCase(classify, c);
const verdict = (s: string | number[]) => {
  const b = Buffer.from(bytes(s));
  // Flags as both UDP readers compute them: FLAG_NON_ASCII when a byte >= 0x80 arrived.
  return classify(b, 0, b.length, isAscii(b) ? 0 : FLAG_NON_ASCII, Date.now(), 202612);
};

describe(`decode → validate fuzz (seed ${seed})`, () => {
  it.each([
    ['valid datagrams of all three formats', validCase, 1500],
    ['mutated valid datagrams', mutatedDatagram, 3000],
    ['arbitrary bytes', arbitraryBytes, 1500],
    ['deep nesting, empty and boundary sizes', edgeCase, 500],
  ] as const)(
    '%s',
    (_, arb, runs) => {
      fc.assert(
        fc.property(arb, (c) => {
          expect(run(c)).toEqual([]);
        }),
        { numRuns: runs, seed },
      );
    },
    120_000,
  ); // CPU-bound: generous on a shared, busy machine

  it('the mixed run used by npm run fuzz tallies every case under one outcome', () => {
    const tally = emptyTally();
    expect(runFuzz(classify, 1000, seed, tally)).toBeNull();
    const outcomes = Object.values(tally.accepted)
      .concat(Object.values(tally.rejected))
      .reduce((a, b) => a + b, 0);
    expect(outcomes).toBe(tally.cases);
    expect(tally.cases).toBe(1000);
    // The generators reach every stage: all three formats accepted, every decode-stage reason seen.
    expect(Object.keys(tally.accepted).sort()).toEqual(['native', 'parsl-1', 'parsl-legacy']);
    for (const r of ['not_json', 'schema', 'oversized', 'unknown_protocol']) expect(tally.rejected[r]).toBeGreaterThan(0);
  }, 120_000);

  it('the oracle itself catches a receiver that accepts too much (a check that can fail)', () => {
    const lax = (() => ({
      ...(classify(Buffer.from(VALID_START), 0, VALID_START.length, 0, 0, 202612) as object),
      run: 'not-a-uuid',
    })) as unknown as typeof classify;
    expect(checkCase(lax, { family: 'x', bytes: bytes('{"v":2}'), valid: false }).length).toBeGreaterThan(0);
    const strict = (() => 'schema') as unknown as typeof classify;
    expect(checkCase(strict, { family: 'valid-native', bytes: bytes(VALID_START), valid: true })).toContain(
      'rejected a valid valid-native datagram as schema',
    );
  });
});

const RUN = '0b7f0d3e-2a4c-4b8e-9a4f-2f2b6f0d9c11';
const ID = 'a'.repeat(32);
const VALID_START = JSON.stringify({
  v: 1,
  kind: 'start',
  run: RUN,
  project: 'p',
  version: '1',
  user: ID,
  host: ID,
  script: ID,
  t: 1,
  runtime: 'node/20',
  os: 'linux',
  arch: 'x64',
  ci: false,
});

describe('hostile shapes in each format (fixed cases next to the fuzz)', () => {
  it('odd Unicode: lone surrogates, NUL, overlong and encoded-surrogate UTF-8', () => {
    expect(verdict(VALID_START.replace('"p"', '"\\ud800"'))).toBe('schema'); // not a label
    expect(verdict(VALID_START.replace('"p"', '"p\\u0000"'))).toBe('schema');
    expect(verdict([...Buffer.from(VALID_START.slice(0, -1)), ...Buffer.from(',"x":"'), 0xc0, 0xaf, ...Buffer.from('"}')])).toBe(
      'not_json',
    );
    expect(verdict([...Buffer.from('{"uuid":"'), 0xed, 0xa0, 0x80, ...Buffer.from('"}')])).toBe('not_json');
    // A lone surrogate in a component string is schema-valid: accepted, and made storable.
    const r = verdict(VALID_START.replace(/}$/, ',"components":{"k":"\\ud800\\u0000"}}'));
    expect(typeof r === 'object' && JSON.parse(r.components!)).toEqual({ k: '\ud800\u0000' });
  });

  it('duplicate keys: the last one wins, as for the reference parser', () => {
    expect(verdict(VALID_START.replace(/}$/, ',"kind":"end"}'))).toBe('schema'); // an end needs exit and dur_ms
    expect(verdict(`{"v":2,${VALID_START.slice(1)}`)).toMatchObject({ kind: 'start' });
    expect(verdict(`1{"correlator":5,"correlator":"${RUN}","start":1}`)).toMatchObject({ format: 'parsl-1', run: RUN });
  });

  it('prototype keys are data, never prototypes, in all three formats', () => {
    expect(verdict(`{"__proto__":{"v":1},${VALID_START.slice(1)}`)).toBe('schema');
    expect(verdict(`{"__proto__":{"uuid":"${RUN}"},"start":1}`)).toBe('unknown_protocol');
    expect(verdict(`{"uuid":"${RUN}","start":1,"__proto__":{"uname":"root"},"constructor":{"prototype":{"x":1}}}`)).toMatchObject({
      user_id: null,
    });
    expect(verdict(`1{"correlator":"${RUN}","start":1,"components":[{"c":"a.executors.X","__proto__":{"polluted":1}}]}`)).toMatchObject({
      format: 'parsl-1',
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('regressions found by the fuzz', () => {
  it('Parsl format 1: a DataFlowKernel after many executor classes still fits the component limit', () => {
    // Found by `npm run fuzz` (seed 4): 14 distinct executor classes before the DataFlowKernel
    // produced 18 components, more than the protocol's 16, and stored them.
    const classes = Array.from({ length: 20 }, (_, i) => `parsl.executors.e${i}.Executor${i}`);
    const dfk = { c: 'parsl.dataflow.dflow.DataFlowKernel', app_count: 7, app_fails: 1 };
    const r = verdict(
      '1' + JSON.stringify({ correlator: RUN, end: 1736800600, execution_time: 600, project_name: 'lab', components: [...classes, dfk] }),
    );
    expect(typeof r).toBe('object');
    const c = JSON.parse((r as { components: string }).components) as Record<string, unknown>;
    expect(Object.keys(c).length).toBe(MAX_COMPONENTS);
    // The totals are kept first; per-class counts fill what the limit leaves.
    expect(c).toMatchObject({ apps: 7, app_fails: 1, executors: 20, project_name: 'lab', 'executor.executor0': 1 });
  });
});

// Keeps the import of anyCase used when this file runs alone (the mixed generator is what npm run fuzz uses).
void anyCase;
